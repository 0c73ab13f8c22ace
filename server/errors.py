"""Domain errors: what behaviour raises when it refuses. The message says what was wrong and what to do.

Only the MCP tool edge turns these into `ToolError`; services and behaviour never import MCP.
"""

from __future__ import annotations


class UserError(Exception):
    """A refusal the person (or agent) can act on: bad input, a missing prerequisite, a cap reached."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(UserError):
    """An id or name that does not exist; the message lists what does."""


class InvalidInput(UserError):
    """An argument that is wrong in type, range or form; the message names the argument and the allowed values."""


class BudgetExceeded(UserError):
    """A paid call refused by a cost cap before anything was sent to fal."""


class DiskFull(UserError, OSError):
    """A write the file system refused for lack of room; the message names the folder and the space left.

    Also an OSError, so code that already handles failed writes keeps handling it.
    """
