"""Fixtures for the infra checks: the terraform binary, and infra/locals.tf evaluated by it."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from tests.infra.terraform_eval import ALLOWED_RETURN_TO, PROJECT, REGION, evaluate_locals


@pytest.fixture(scope="session")
def terraform() -> str:
    """The terraform binary; the checks that need it are skipped where it is not installed."""
    path = shutil.which("terraform")
    if path is None:
        pytest.skip("terraform is not installed (Cloud Build runs `terraform fmt` in its own step)")
    return path


@pytest.fixture(scope="session")
def evaluated(terraform: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """infra/locals.tf as Terraform evaluates it for project p-1 in europe-west1."""
    variables = {"project_id": PROJECT, "region": REGION, "allowed_return_to": [ALLOWED_RETURN_TO]}
    return evaluate_locals(terraform, tmp_path_factory.mktemp("tf-locals"), variables)
