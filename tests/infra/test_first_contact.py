"""What a first apply on a fresh project meets before any code runs: credentials without a quota
project, APIs a new project lacks, grants and enablements that take a while to spread, a rules
release that already exists, organisation policies and regions. Held on the parsed HCL and on
Terraform's own offline evaluation of infra/locals.tf (no call to Google)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest

from tests.infra.infra_model import INFRA, expression, load_infra, unquote
from tests.infra.terraform_eval import PROJECT, REGION, evaluate_locals


def _blocks(kind: str) -> list[dict[str, Any]]:
    found = []
    for path in sorted(INFRA.glob("*.tf")):
        with path.open() as handle:
            found += hcl2.load(handle).get(kind, [])
    return found


def _depends_on(body: dict[str, Any]) -> str:
    return " ".join(expression(item) for item in body.get("depends_on") or [])


def test_the_provider_bills_quota_to_the_project() -> None:
    # `gcloud auth application-default login` credentials carry no quota project; the Firebase
    # Rules API refuses them unless the provider names one.
    [google] = [block['"google"'] for block in _blocks("provider") if '"google"' in block]
    assert google["user_project_override"] is True
    assert expression(google["billing_project"]) == "var.project_id"


def test_cloud_resource_manager_is_enabled_and_waited_for() -> None:
    infra = load_infra()
    services = [unquote(service) for service in infra.locals["services"]]
    assert "cloudresourcemanager.googleapis.com" in services
    sleep = infra.resource("time_sleep", "apis_enabled")
    assert sleep is not None
    assert "google_project_service.enabled" in _depends_on(sleep)
    # data.google_project reads through Cloud Resource Manager: after enablement, not at plan.
    [project] = [
        block['"google_project"']['"this"']
        for block in _blocks("data")
        if '"google_project"' in block
    ]
    assert "time_sleep.apis_enabled" in _depends_on(project)


def test_nothing_calls_an_api_before_the_wait() -> None:
    # Everything that depended on the enablement now depends on the wait after it, and every
    # project-level grant (Cloud Resource Manager) does too.
    infra = load_infra()
    early = [
        f"{kind}.{name}"
        for (kind, name), body in infra.resources.items()
        if "google_project_service.enabled" in _depends_on(body) and kind != "time_sleep"
    ]
    assert early == []
    for (kind, name), body in infra.resources.items():
        if kind == "google_project_iam_member":
            assert "time_sleep.apis_enabled" in _depends_on(body), name
    assert "time" in {
        source
        for block in _blocks("terraform")
        for providers in block.get("required_providers", [])
        for source in providers
    }


def test_functions_wait_for_their_grants_to_spread() -> None:
    infra = load_infra()
    function = infra.resource("google_cloudfunctions2_function", "function")
    assert function is not None
    assert _depends_on(function) == "time_sleep.iam_propagated"
    sleep = infra.resource("time_sleep", "iam_propagated")
    assert sleep is not None
    grants = expression(sleep["triggers"]["grants"])
    for grant in (
        "google_secret_manager_secret_iam_member.accessor",
        "google_project_iam_member.function_firestore",
        "google_pubsub_topic_iam_member.publisher",
        "google_project_iam_member.build_logs",
        "google_project_iam_member.build_source_reader",
        "google_artifact_registry_repository_iam_member.build_writer",
    ):
        assert grant in grants


def test_the_secrets_survive_destroy() -> None:
    # destroy keeps Firestore and so every sealed token; without the token keys none is readable.
    infra = load_infra()
    secret = infra.resource("google_secret_manager_secret", "secret")
    assert secret is not None
    assert expression(secret["deletion_protection"]) == "var.protect_secrets"
    assert infra.default("protect_secrets") is True


def _imports() -> list[dict[str, Any]]:
    return _blocks("import")


def test_the_rules_release_is_adopted_when_it_exists() -> None:
    [adopt] = [
        body
        for body in _imports()
        if "google_firebaserules_release.firestore" in expression(body["to"])
    ]
    assert expression(adopt["for_each"]).startswith("local.import_rules_release ?")
    assert "releases/cloud.firestore" in str(adopt["id"])


@pytest.mark.parametrize(
    ("variables", "adopt"),
    [
        ({}, False),
        ({"create_firestore_database": False}, True),
        ({"import_firestore_rules_release": True}, True),
        ({"create_firestore_database": False, "import_firestore_rules_release": False}, False),
    ],
)
def test_when_the_release_is_adopted(
    terraform: str, tmp_path: Path, variables: dict[str, Any], adopt: bool
) -> None:
    evaluated = evaluate_locals(
        terraform, tmp_path, {"project_id": PROJECT, "region": REGION, **variables}
    )
    assert evaluated["import_rules_release"] is adopt


def test_scheduler_region_defaults_to_the_region(
    terraform: str, tmp_path: Path, evaluated: dict[str, Any]
) -> None:
    assert evaluated["scheduler_region"] == REGION
    other = evaluate_locals(
        terraform,
        tmp_path,
        {"project_id": PROJECT, "region": "europe-north2", "scheduler_region": "europe-west1"},
    )
    assert other["scheduler_region"] == "europe-west1"
    job = load_infra().resource("google_cloud_scheduler_job", "scheduled")
    assert job is not None
    assert expression(job["region"]) == "local.scheduler_region"


def test_public_access_without_all_users(
    terraform: str, tmp_path: Path, evaluated: dict[str, Any]
) -> None:
    # Domain Restricted Sharing refuses allUsers: the invoker IAM check is disabled instead.
    assert evaluated["public_access_commands"] == []
    disabled = evaluate_locals(
        terraform,
        tmp_path,
        {"project_id": PROJECT, "region": REGION, "public_access": "invoker_iam_disabled"},
    )
    assert sorted(disabled["public_access_commands"]) == [
        f"gcloud run services update {name} --project={PROJECT} --region={REGION} "
        "--no-invoker-iam-check"
        for name in ("authorize", "oauth2callback", "security-events")
    ]
    public = load_infra().resource("google_cloud_run_service_iam_member", "public")
    assert public is not None
    assert (
        expression(public["for_each"])
        == 'var.public_access == "allUsers" ? local.public_functions : {}'
    )


def test_public_access_takes_only_the_two_ways(terraform: str, tmp_path: Path) -> None:
    with pytest.raises(subprocess.CalledProcessError) as refused:
        evaluate_locals(
            terraform, tmp_path, {"project_id": PROJECT, "region": REGION, "public_access": "open"}
        )
    assert b"public_access must be allUsers or invoker_iam_disabled" in refused.value.stderr
