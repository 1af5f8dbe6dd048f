"""Shell forms of the variables that point tools at the local stack (``source .dev/env``)."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping
from pathlib import Path


def env_prefix(env: Mapping[str, str]) -> str:
    """``A=1 B=2``, ready to put before a command."""
    return " ".join(f"{name}={shlex.quote(value)}" for name, value in env.items())


def current_venv() -> Path | None:
    """The virtual environment this interpreter runs in (``.venv`` under ``make``), if any."""
    return Path(sys.prefix) if sys.prefix != sys.base_prefix else None


def write_env_file(path: Path, env: Mapping[str, str], venv: Path | None = None) -> Path:
    """Write ``export NAME=value`` lines (POSIX sh), replacing an earlier file.

    Args:
        path: the file to write.
        env: the variables.
        venv: a virtual environment to put first on ``PATH`` (and name in ``VIRTUAL_ENV``), so a
            plain ``python`` after sourcing the file is the one with the project's packages.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by `make dev` (python -m devstack): source it to reach the local stack."]
    if venv is not None:
        # `NAME=...; export NAME`: readers of the `export NAME=value` lines (functions/smoke.py)
        # see only the stack's own variables.
        bin_dir = shlex.quote(str(venv.resolve() / "bin"))
        lines += [
            f"VIRTUAL_ENV={shlex.quote(str(venv.resolve()))}; export VIRTUAL_ENV",
            f'PATH={bin_dir}:"$PATH"; export PATH',
        ]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in env.items()]
    path.write_text("\n".join(lines) + "\n")
    return path
