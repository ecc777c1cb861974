"""Errors a user can fix: the CLI prints them as one line (no traceback) and exits 2."""


class UserError(Exception):
    """Bad input or a missing file the user can supply; the message says what to do."""
