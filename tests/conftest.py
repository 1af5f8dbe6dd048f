"""Suite-wide fixtures: the emulators come from devstack's plugin, started once per session."""

from __future__ import annotations

pytest_plugins = ["devstack.pytest_plugin"]
