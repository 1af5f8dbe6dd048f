"""Where the stack finds the product and keeps its state."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The repository root, where ``main.py`` and the ``sandbox`` package live."""

DEFAULT_STATE_DIR = REPO_ROOT / ".dev"
"""Logs, the sandbox's client JSON and the env file of ``make dev`` (git-ignored)."""
