"""Errors the local stack raises: each carries one sentence a developer can act on."""

from __future__ import annotations


class DevStackError(Exception):
    """Base of every local-stack error; ``python -m devstack`` prints its message, not a trace."""


class MissingToolError(DevStackError):
    """A program the stack needs (``gcloud``, ``java``) is not installed or not on ``PATH``."""


class PortInUseError(DevStackError):
    """A fixed port is already taken, most likely by an earlier ``make dev`` still running."""


class StartupError(DevStackError):
    """A component did not come up; the message ends with the tail of its log."""
