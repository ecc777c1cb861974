"""CLI subcommands, one module each (see zoo/cli.py)."""
