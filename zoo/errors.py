"""Errors a user can fix: the CLI prints them as one line (no traceback) and exits 2."""


class UserError(Exception):
    """Bad input or a missing file the user can supply; the message says what to do."""


class UnknownModelError(UserError, KeyError):
    """A model name the registry does not know; the message suggests the closest names.

    A ``UserError`` (so the CLI prints it as one line, and no caller converts it) and a ``KeyError``
    (so ``except KeyError`` around a registry lookup keeps working).
    """

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
