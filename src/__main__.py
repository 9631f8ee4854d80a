"""``python -m portico``: the ``portico`` command line."""

from .app.entrypoints.cli import main


raise SystemExit(main())
