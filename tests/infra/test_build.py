"""The build trigger, its deployer account (infra/build.tf) and cloudbuild.yaml's order, offline:
the deployer holds exactly the roles docs/deploying.md lists and justifies, never Owner or Editor,
grants no role beyond those infra/ grants, and the pipeline tests before it deploys and
smoke-checks after."""

from __future__ import annotations

import re
from typing import Any

import yaml  # type: ignore[import-untyped]

from tests.infra.infra_model import ROOT, load_infra, unquote

CLOUDBUILD = ROOT / "cloudbuild.yaml"
GUIDE = ROOT / "docs" / "deploying.md"
BROAD = {
    "roles/owner",
    "roles/editor",
    "roles/iam.securityAdmin",
    "roles/resourcemanager.organizationAdmin",
}


def deployer_roles() -> set[str]:
    return set(re.findall(r'"(roles/[A-Za-z.]+)"', _local_block("deployer_roles")))


def _local_block(name: str) -> str:
    text = load_infra().text["build.tf"]
    match = re.search(
        rf"^  {name} = (?:toset\()?\[\n(.*?)^  \]", text, flags=re.MULTILINE | re.DOTALL
    )
    assert match, name
    return match.group(1)


def grantable_roles() -> set[str]:
    return set(re.findall(r'"(roles/[A-Za-z.]+)"', _local_block("deployer_grantable_roles")))


def guide_table_roles() -> set[str]:
    section = GUIDE.read_text().split("### Deploying on every push", 1)[1]
    return set(re.findall(r"^\| `(roles/[A-Za-z.]+)` \|", section, flags=re.MULTILINE))


def test_the_deployer_has_exactly_the_documented_roles_and_no_owner_or_editor() -> None:
    roles = deployer_roles()
    assert len(roles) >= 10
    assert roles & BROAD == set()
    assert roles == guide_table_roles()


def test_the_deployer_may_grant_only_the_roles_infra_grants_at_project_level() -> None:
    infra = load_infra()
    granted = {
        unquote(body["role"])
        for (kind, name), body in infra.resources.items()
        if kind == "google_project_iam_member" and name != "deployer"
    }
    assert granted == grantable_roles()
    assert grantable_roles() & BROAD == set()
    deployer = infra.resource("google_project_iam_member", "deployer")
    assert deployer is not None
    text = infra.text["build.tf"]
    assert "iam.googleapis.com/modifiedGrantsByRole" in text
    assert 'each.value == "roles/resourcemanager.projectIamAdmin"' in text
    assert "roles/resourcemanager.projectIamAdmin" in deployer_roles()


def test_the_trigger_and_its_account_exist_only_when_a_repository_is_given() -> None:
    infra = load_infra()
    assert infra.default("build_trigger_repository") == ""
    assert 'build_trigger_enabled = var.build_trigger_repository != ""' in infra.text["build.tf"]
    for kind, name in (
        ("google_service_account", "deployer"),
        ("google_cloudbuild_trigger", "deploy"),
    ):
        body = infra.resource(kind, name)
        assert body is not None
        assert unquote(body["count"]) == "${local.build_trigger_enabled ? 1 : 0}"
    deployer = infra.resource("google_project_iam_member", "deployer")
    assert deployer is not None
    assert unquote(deployer["for_each"]).startswith("${local.build_trigger_enabled ?")


def test_the_trigger_runs_the_pipeline_as_the_deployer_and_deploys_with_terraform() -> None:
    trigger: dict[str, Any] | None = load_infra().resource("google_cloudbuild_trigger", "deploy")
    assert trigger is not None
    assert unquote(trigger["filename"]) == "cloudbuild.yaml"
    assert unquote(trigger["service_account"]) == "${google_service_account.deployer[0].id}"
    [event] = trigger["repository_event_config"]
    assert unquote(event["repository"]) == "${var.build_trigger_repository}"
    substitutions = {key: unquote(value) for key, value in trigger["substitutions"].items()}
    assert substitutions == {"_DEPLOY_WITH": "terraform", "_REGION": "${var.region}"}


# --- cloudbuild.yaml ----------------------------------------------------------------------------


def steps() -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in yaml.safe_load(CLOUDBUILD.read_text())["steps"]}


def after(step: str) -> set[str]:
    """Every step ``step`` waits for, directly or not (Cloud Build: no waitFor = all before)."""
    order = list(steps())
    waited = steps()[step].get("waitFor")
    direct = set(order[: order.index(step)]) if waited is None else set(waited) - {"-"}
    return direct.union(*(after(other) for other in direct)) if direct else set()


def script(step: str) -> str:
    return "\n".join(steps()[step].get("args", []))


def test_the_pipeline_tests_then_deploys_then_smoke_checks() -> None:
    assert {"install", "test"} <= after("deploy-terraform")
    assert {"install", "test"} <= after("deploy-gcloud")
    assert {"deploy-terraform", "deploy-gcloud", "test"} <= after("smoke")
    assert "smoke" not in after("deploy-terraform") | after("deploy-gcloud")
    assert list(steps())[-1] == "smoke"


def test_make_test_runs_on_the_deploy_runtimes_python() -> None:
    assert "uv python install 3.13" in script("install")
    assert re.search(r"make test PYTHON=.*--managed-python 3\.13", script("test"))
    assert "install" in after("test")


def test_make_smoke_checks_what_was_deployed() -> None:
    smoke = script("smoke")
    assert re.search(r'make smoke PROJECT="\$\{_PROJECT\}" REGION="\$\$region"', smoke)
    assert '"${_DEPLOY_WITH}" == none' in smoke  # nothing deployed, nothing to check
    assert "infra/terraform.tfvars" in smoke  # the region of a Terraform deployment


# --- the account the function images are built as (service_accounts.tf) ------------------------


def test_the_build_account_reads_the_function_source_and_no_other_bucket() -> None:
    infra = load_infra()
    grants = {
        unquote(body["role"]): body
        for (kind, _), body in infra.resources.items()
        if kind == "google_project_iam_member"
        and unquote(body["member"]) == "${google_service_account.build.member}"
    }
    # project-wide only what a build does anywhere: write its logs
    assert set(grants) == {"roles/logging.logWriter", "roles/storage.objectViewer"}
    assert "condition" not in grants["roles/logging.logWriter"]
    # storage only in the source buckets: the one Cloud Functions copies the source to, and ours
    [condition] = grants["roles/storage.objectViewer"]["condition"]
    assert "local.build_source_buckets" in unquote(condition["expression"])
    assert 'resource.name.startsWith(\\"projects/_/buckets/${bucket}/\\")' in unquote(
        condition["expression"]
    )
    assert infra.locals["build_source_buckets"] == [
        '"gcf-v2-sources-${data.google_project.this.number}-${var.region}"',
        "${google_storage_bucket.source.name}",
    ]
    # images: writer on the one repository, not project-wide
    writer = infra.resource("google_artifact_registry_repository_iam_member", "build_writer")
    assert writer is not None
    assert unquote(writer["role"]) == "roles/artifactregistry.writer"
