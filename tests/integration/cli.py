"""Running the operator CLI (``python -m functions.cli``) as an operator would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_cli(env: dict[str, str], *args: str, stderr: bool = False, status: int = 0) -> str:
    """Run one CLI command in a child process; return its output (with ``stderr``, what it
    wrote there after it), failing the test unless it exits with ``status``."""
    completed = subprocess.run(
        [sys.executable, "-m", "functions.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == status, completed.stderr
    return completed.stdout + (completed.stderr if stderr else "")
