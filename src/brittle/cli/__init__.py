"""The ``brittle`` command line."""
