"""One module per report section; each has ``TITLE``, ``LEAD``, ``ANCHORS`` and ``render``."""
