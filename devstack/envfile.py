"""Shell forms of the variables that point tools at the local stack (``source .dev/env``)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path


def env_prefix(env: Mapping[str, str]) -> str:
    """``A=1 B=2``, ready to put before a command."""
    return " ".join(f"{name}={shlex.quote(value)}" for name, value in env.items())


def write_env_file(path: Path, env: Mapping[str, str]) -> Path:
    """Write ``export NAME=value`` lines, replacing an earlier file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by `make dev` (python -m devstack): source it to reach the local stack."]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in env.items()]
    path.write_text("\n".join(lines) + "\n")
    return path
