"""A local stand-in for Google: OAuth 2.0 / OIDC provider, a Gmail API subset, Secret Manager.

The product's real client libraries run against it unchanged, so it mimics Google where that
matters (see docs/design.md §4). Entry points: `create_app` (Flask app), `SandboxState` (the world
it serves, with test hooks) and `serve_in_thread` (a real HTTP server for library tests).
"""

from __future__ import annotations

from sandbox.app import STATE_KEY, create_app
from sandbox.server import RunningServer, serve_in_thread
from sandbox.state import SandboxState

__all__ = ["STATE_KEY", "RunningServer", "SandboxState", "create_app", "serve_in_thread"]
