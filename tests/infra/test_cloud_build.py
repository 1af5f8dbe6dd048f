"""cloudbuild.yaml deploys from the same state, with the same settings, as the documented first
apply by hand, and gets the repository it needs uploaded (checked on the files, offline)."""

from __future__ import annotations

import re

import hcl2
import yaml  # type: ignore[import-untyped]

from tests.infra.infra_model import INFRA, ROOT, gcloudignore_patterns, ignored, unquote

CLOUDBUILD = ROOT / "cloudbuild.yaml"
GUIDE = ROOT / "docs" / "deploying.md"


def _backend_prefix() -> str:
    with (INFRA / "backend.tf").open() as handle:
        [terraform] = hcl2.load(handle)["terraform"]
    [backend] = terraform["backend"]
    return str(unquote(backend['"gcs"']["prefix"]))


def _steps() -> dict[str, str]:
    build = yaml.safe_load(CLOUDBUILD.read_text())
    return {step["id"]: "\n".join(step.get("args", [])) for step in build["steps"]}


def test_one_state_location_for_people_and_cloud_build() -> None:
    prefix = _backend_prefix()
    build = yaml.safe_load(CLOUDBUILD.read_text())
    # No second prefix anywhere: the build reads infra/backend.tf's, and the guide names it.
    assert "_TF_STATE_PREFIX" not in build["substitutions"]
    assert "prefix=" not in _steps()["deploy-terraform"]
    guide = GUIDE.read_text()
    assert re.findall(r"prefix=(\S+)", guide) == []
    assert f"PROJECT-tfstate/{prefix}/terraform.tfvars" in guide


def test_cloud_build_applies_the_settings_kept_beside_the_state() -> None:
    steps = _steps()
    assert "terraform.tfvars" in steps["terraform-settings"]
    assert "infra/backend.tf" in steps["terraform-settings"]
    # Nothing on the command line overrides or replaces them.
    assert "-var" not in steps["deploy-terraform"]
    build = yaml.safe_load(CLOUDBUILD.read_text())
    [deploy] = [step for step in build["steps"] if step["id"] == "deploy-terraform"]
    assert deploy["waitFor"] == ["terraform-settings"]


def test_every_build_submission_uploads_the_repository() -> None:
    # Without --ignore-file, `gcloud builds submit` reads .gcloudignore, the functions'
    # allowlist, and the first step finds no Makefile.
    assert ignored("Makefile", gcloudignore_patterns())
    for path in (CLOUDBUILD, GUIDE):
        commands = re.findall(r"gcloud builds submit[^\n]*(?:\\\n[^\n]*)*", path.read_text())
        assert commands, path
        for command in commands:
            assert "--ignore-file=.gcloudignore-build" in command, f"{path.name}: {command}"
