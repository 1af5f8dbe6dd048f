"""scripts/audit.sh (make test's vulnerability audit) decides as it says: a finding fails unless
pip-audit-ignore.txt lists it with a reason, and an audit that could not reach its service fails
rather than passing. A stand-in pip-audit answers as the real one does in each case (its summary
line and exit status, pip_audit/_cli.py) and records the arguments it was given.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.infra.infra_model import ROOT

SCRIPT = ROOT / "scripts" / "audit.sh"

FOUND = (
    "Found 1 known vulnerability in 1 package\nName Version ID Fix Versions\nidna 3.0 PYSEC-1 3.7"
)
UNREACHABLE = (
    "ERROR:pip_audit._cli:anyio: Dependency not found on PyPI and could not be audited: anyio"
)
CLEAN = "No known vulnerabilities found"


def audit(
    tmp_path: Path, answer: str, status: int, ignores: str = "", **env: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run audit.sh against a stand-in pip-audit that prints ``answer`` and exits ``status``.

    Returns:
        The finished run, and the arguments audit.sh gave pip-audit.
    """
    called = tmp_path / "arguments"
    fake = tmp_path / "pip-audit"
    fake.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$@" > {called}\n'
        f'cat >&2 <<"EOF"\n{answer}\nEOF\nexit {status}\n'
    )
    fake.chmod(0o755)
    ignore_file = tmp_path / "ignore.txt"
    ignore_file.write_text(ignores)
    result = subprocess.run(
        ["bash", str(SCRIPT)],
        env={
            "PATH": os.environ["PATH"],
            "PIP_AUDIT": str(fake),
            "AUDIT_IGNORES": str(ignore_file),
            **env,
        },
        capture_output=True,
        text=True,
        check=False,
    )
    arguments = called.read_text().splitlines() if called.exists() else []
    return result, arguments


def test_it_audits_the_locked_runtime_set_with_its_hashes(tmp_path: Path) -> None:
    result, arguments = audit(tmp_path, CLEAN, 0)
    assert result.returncode == 0, result.stderr
    command = shlex.join(arguments)
    assert f"--requirement {ROOT / 'requirements.txt'}" in command
    for flag in ("--require-hashes", "--disable-pip", "--strict"):
        assert flag in arguments
    assert "--vulnerability-service pypi" in command


def test_a_finding_fails_and_says_what_to_do(tmp_path: Path) -> None:
    result, _ = audit(tmp_path, FOUND, 1)
    assert result.returncode == 1
    assert "PYSEC-1" in result.stderr
    assert "pip-audit-ignore.txt with the reason" in result.stderr


@pytest.mark.parametrize("setting", [{}, {"AUDIT_UNREACHABLE": "warn"}])
def test_a_finding_fails_even_when_unreachable_services_are_tolerated(
    tmp_path: Path, setting: dict[str, str]
) -> None:
    result, _ = audit(tmp_path, FOUND, 1, **setting)
    assert result.returncode == 1


def test_an_audit_that_could_not_look_fails(tmp_path: Path) -> None:
    result, _ = audit(tmp_path, UNREACHABLE, 1)
    assert result.returncode == 3
    assert "requirements.txt was NOT audited" in result.stderr
    assert "could not be audited: anyio" in result.stderr


def test_unreachable_can_be_made_a_warning_explicitly(tmp_path: Path) -> None:
    result, _ = audit(tmp_path, UNREACHABLE, 1, AUDIT_UNREACHABLE="warn")
    assert result.returncode == 0
    assert "NOT audited" in result.stderr
    assert "WARNING: carrying on without an audit" in result.stderr


def test_ignored_vulnerabilities_are_passed_on_with_their_reasons_required(
    tmp_path: Path,
) -> None:
    ignores = "# comment\n\nGHSA-aaaa-bbbb-cccc  only the CLI is affected; we import the library\n"
    result, arguments = audit(tmp_path, CLEAN, 0, ignores)
    assert result.returncode == 0, result.stderr
    assert "--ignore-vuln GHSA-aaaa-bbbb-cccc" in shlex.join(arguments)


def test_an_ignored_vulnerability_without_a_reason_fails(tmp_path: Path) -> None:
    result, arguments = audit(tmp_path, CLEAN, 0, "PYSEC-2024-1   \n")
    assert result.returncode == 2
    assert "ignores PYSEC-2024-1 without a reason" in result.stderr
    assert arguments == []  # pip-audit never ran


def test_the_ignore_list_in_the_repository_is_well_formed(tmp_path: Path) -> None:
    result, _ = audit(tmp_path, CLEAN, 0, (ROOT / "pip-audit-ignore.txt").read_text())
    assert result.returncode == 0, result.stderr
