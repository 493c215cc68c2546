"""``python -m brittle`` runs the command line."""

from brittle.cli.main import main

raise SystemExit(main())
