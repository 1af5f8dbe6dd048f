"""The README lists every value an answer or a result can carry, so callers can rely on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.consent.revoke import Revocation

README = Path(__file__).parents[2] / "README.md"


def _row(entry_point: str) -> str:
    [row] = [
        line for line in README.read_text().splitlines() if line.startswith(f"| `{entry_point}` |")
    ]
    return row


@pytest.mark.parametrize("revocation", list(Revocation))
def test_the_disconnect_row_lists_every_revocation_value(revocation):
    assert f'"{revocation.value}"' in _row("disconnect")


@pytest.mark.parametrize(
    "code", ["invalid_request", "not_authorized", "reauth_required", "gmail_rejected"]
)
def test_the_pipeline_section_lists_every_error_completion(code):
    section = README.read_text().split("## Reading a mailbox from a pipeline")[1].split("\n## ")[0]
    assert f"| `{code}` |" in section
