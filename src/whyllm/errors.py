"""Typed, user-facing errors.

Every error a user can cause derives from :class:`WhyllmError`; the CLI prints its message and exits
with status 2, without a traceback. Validation never uses ``assert`` (stripped under ``python -O``).
"""

from __future__ import annotations


class WhyllmError(Exception):
    """Base class of every error caused by the user's input or environment."""


class InputError(WhyllmError, ValueError):
    """The prompt, template, target or a file is unusable (empty, wrong encoding, malformed)."""


class ContextLengthError(InputError):
    """The prompt plus the continuation does not fit the model's context window."""


class UnknownNameError(WhyllmError, ValueError):
    """A method, feature kind, backend or target name that no registry knows."""


class BudgetError(WhyllmError, ValueError):
    """The budget of model evaluations is below what the method needs."""


class ModelError(WhyllmError, RuntimeError):
    """The model cannot be loaded or stopped answering."""


class MalformedReplyError(ModelError):
    """A language model's reply stayed malformed (not the JSON or format asked for) after retries."""
