"""Subcommands of the ``nnpdistill`` CLI: each module here defines ``register(subparsers)``."""
