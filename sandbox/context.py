"""Where request handlers find the SandboxState: `app.config[STATE_KEY]`."""

from __future__ import annotations

from typing import cast

import flask

from sandbox.state import SandboxState

STATE_KEY = "SANDBOX_STATE"


def current_state() -> SandboxState:
    """The state of the app handling the current request."""
    return cast(SandboxState, flask.current_app.config[STATE_KEY])
