"""One error type that the CLI turns into a single line and an exit code."""
from __future__ import annotations


class MambaenvError(Exception):
    """A problem the user can fix: ``message`` names it, ``fix`` says what to do."""

    exit_code = 2

    def __init__(self, message: str, fix: str | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix
        if exit_code is not None:
            self.exit_code = exit_code

    def one_line(self) -> str:
        return f"{self.message}; {self.fix}" if self.fix else self.message


class BadInput(MambaenvError):
    exit_code = 2
