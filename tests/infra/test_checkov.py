"""checkov on infra/, static and offline, from its own virtualenv (scripts/checkov.sh): zero
failed checks. Skips are inline, with a reason (test_contract.py checks the reasons)."""

from __future__ import annotations

import re
import subprocess

from tests.infra.infra_model import ROOT


def test_checkov_reports_no_failed_check() -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "checkov.sh")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    summary = re.search(
        r"Passed checks: (\d+), Failed checks: (\d+), Skipped checks: (\d+)", result.stdout
    )
    assert summary, f"checkov did not run:\n{result.stdout}\n{result.stderr}"
    passed, failed, _ = map(int, summary.groups())
    assert failed == 0, result.stdout
    assert result.returncode == 0, result.stdout
    assert passed > 0
