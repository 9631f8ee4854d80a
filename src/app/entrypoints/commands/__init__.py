"""Subcommands of the ``portico`` CLI, one module each."""
