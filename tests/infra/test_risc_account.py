"""The account the operator registers the Cross-Account Protection receiver as: RISC Configuration
Admin and nothing else, no key, usable only by the named operators (Terraform and deploy.sh)."""

from __future__ import annotations

from pathlib import Path

from tests.infra.infra_model import load_infra, unquote
from tests.infra.test_deploy_script import dry_run, flags, gcloud_commands

RISC_SA = "risc-admin@p-1.iam.gserviceaccount.com"


def test_terraform_gives_the_risc_account_only_riscconfigs_admin() -> None:
    infra = load_infra()
    account = infra.resource("google_service_account", "risc_admin")
    assert account is not None
    # Every project-level role of the account: RISC Configuration Admin only.
    granted = [
        unquote(body["role"])
        for (kind, _), body in infra.resources.items()
        if kind == "google_project_iam_member" and "risc_admin" in str(body.get("member"))
    ]
    assert granted == ["roles/riscconfigs.admin"]
    operator = infra.resource("google_service_account_iam_member", "risc_operator")
    assert operator is not None
    assert unquote(operator["role"]) == "roles/iam.serviceAccountTokenCreator"
    assert not [kind for kind, _ in infra.resources if kind == "google_service_account_key"]


def test_deploy_sh_creates_it_and_lets_the_operators_act_as_it(tmp_path: Path) -> None:
    result, _ = dry_run(tmp_path, env={"RISC_OPERATORS": " user:ops@example.com , "})
    assert result.returncode == 0, result.stderr
    commands = gcloud_commands(result.stdout)

    created = [c for c in commands if c[1:4] == ["iam", "service-accounts", "create"]]
    assert [c[4] for c in created if c[4] == "risc-admin"] == ["risc-admin"]
    project_roles = [
        flags(c)["role"]
        for c in commands
        if c[1:3] == ["projects", "add-iam-policy-binding"]
        and flags(c)["member"] == f"serviceAccount:{RISC_SA}"
    ]
    assert project_roles == ["roles/riscconfigs.admin"]
    [impersonation] = [
        c
        for c in commands
        if c[1:4] == ["iam", "service-accounts", "add-iam-policy-binding"] and c[4] == RISC_SA
    ]
    assert flags(impersonation)["member"] == "user:ops@example.com"
    assert flags(impersonation)["role"] == "roles/iam.serviceAccountTokenCreator"
    assert not [c for c in commands if c[1:4] == ["iam", "service-accounts", "keys"]]


def test_deploy_sh_refuses_a_risc_operator_that_is_no_principal(tmp_path: Path) -> None:
    result, _ = dry_run(tmp_path, env={"RISC_OPERATORS": "allUsers"})
    assert result.returncode != 0
    assert "RISC_OPERATORS" in result.stderr
