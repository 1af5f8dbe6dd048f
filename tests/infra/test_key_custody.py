"""No public function holds a key that opens a stored token (issue 15, part 2), and
``authorize`` holds no client secret either: it has ``OAUTH_CLIENT_ID``.

The private token keys (the ``token_keys`` secret, ``TOKEN_ENCRYPTION_KEYS``) reach the internal
functions only. Checked where each deployment path decides it: Terraform's evaluation of
infra/locals.tf (secret volumes, their variables, the accessor grants' source), scripts/deploy.sh
(its ``--set-secrets`` and ``secretAccessor`` grants) and the local stack (the files each function
is pointed at). The check is also shown to catch a public function given the key.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from devstack import deployment
from devstack.stack import LocalStack
from tests.infra.infra_model import INFRA
from tests.infra.terraform_eval import OAUTH_CLIENT_ID, PROJECT, REGION, evaluate_locals
from tests.infra.test_deploy_script import deploys, dry_run, flags, gcloud_commands

DEFINITION = deployment.load()
OPENS_TOKENS = "token_keys"
"""The one secret whose keys open stored tokens."""
PUBLIC = sorted(key for key, fn in DEFINITION.functions.items() if fn.access == "public")
OPENER = DEFINITION.secrets[OPENS_TOKENS]


def holders(mounts: Mapping[str, set[str]]) -> list[str]:
    """The public functions among those whose mounts hold the token-opening secret."""
    return sorted(key for key in PUBLIC if OPENER.default_id in mounts.get(key, set()))


def test_the_public_functions_are_the_ones_the_issue_names() -> None:
    assert PUBLIC == ["authorize", "oauth2callback", "security_events"]
    internal = [key for key in DEFINITION.functions if key not in PUBLIC]
    assert all(OPENS_TOKENS in DEFINITION.functions[key].secrets for key in internal)


def test_terraform_mounts_the_token_keys_in_no_public_function(evaluated: dict[str, Any]) -> None:
    mounts = {
        key: {volume["secret"] for volume in volumes}
        for key, volumes in evaluated["secret_volumes"].items()
    }
    assert holders(mounts) == []
    for key in PUBLIC:
        assert OPENER.variable not in evaluated["function_env"][key]
    # ... and the check sees a mount where there is one
    assert holders({**mounts, "authorize": {OPENER.default_id}}) == ["authorize"]


def test_terraform_would_catch_a_public_function_given_the_token_keys(
    terraform: str, tmp_path: Path
) -> None:
    # GIVEN a definition in which authorize mounts the token keys again, as it once did
    copy = tmp_path / "infra"
    copy.mkdir()
    definition = json.loads((INFRA / "functions.json").read_text())
    definition["functions"]["authorize"]["secrets"].append(OPENS_TOKENS)
    (copy / "functions.json").write_text(json.dumps(definition))
    for name in ("variables.tf", "locals.tf"):
        shutil.copy(INFRA / name, copy / name)
    variables = {"project_id": PROJECT, "region": REGION}
    evaluated = evaluate_locals(terraform, tmp_path / "tf", variables, infra=copy)
    mounts = {
        key: {volume["secret"] for volume in volumes}
        for key, volumes in evaluated["secret_volumes"].items()
    }
    # THEN the custody check names it
    assert holders(mounts) == ["authorize"]


def test_deploy_sh_mounts_and_grants_the_token_keys_to_no_public_function(tmp_path: Path) -> None:
    result, _ = dry_run(tmp_path)
    assert result.returncode == 0, result.stderr
    commands = gcloud_commands(result.stdout)
    mounts: dict[str, set[str]] = {}
    for command in deploys(commands):
        given = flags(command)
        secrets = given.get("set-secrets", "")
        mounts[given["entry-point"]] = {
            value.partition(":")[0] for value in (p.partition("=")[2] for p in secrets.split(","))
        }
    assert holders(mounts) == []
    granted = {
        flags(c)["member"]
        for c in commands
        if c[1:3] == ["secrets", "add-iam-policy-binding"] and c[3] == OPENER.default_id
    }
    for key in PUBLIC:
        name = DEFINITION.functions[key].name
        assert f"serviceAccount:fn-{name}@{PROJECT}.iam.gserviceaccount.com" not in granted
    assert granted  # the internal functions do get it


@pytest.mark.parametrize("entry_point", PUBLIC)
def test_the_local_stack_points_no_public_function_at_the_token_keys(
    tmp_path: Path, entry_point: str
) -> None:
    env = LocalStack(state_dir=tmp_path).function_envs[entry_point]
    assert OPENER.variable not in env
    assert not [value for value in env.values() if value.endswith(OPENER.path)]


def test_authorize_gets_the_client_id_and_no_client_secret(
    evaluated: dict[str, Any], tmp_path: Path
) -> None:
    client = DEFINITION.secrets["oauth_client"]
    assert "oauth_client" not in DEFINITION.functions["authorize"].secrets
    # Terraform
    env = evaluated["function_env"]["authorize"]
    assert env["OAUTH_CLIENT_ID"] == OAUTH_CLIENT_ID
    assert client.variable not in env
    assert not [
        v for v in evaluated["secret_volumes"]["authorize"] if v["secret"] == client.default_id
    ]
    # deploy.sh
    result, _ = dry_run(tmp_path)
    [command] = [
        c for c in deploys(gcloud_commands(result.stdout)) if flags(c)["entry-point"] == "authorize"
    ]
    assert f"OAUTH_CLIENT_ID={OAUTH_CLIENT_ID}" in flags(command)["set-env-vars"]
    assert client.default_id not in flags(command).get("set-secrets", "")
    # the local stack
    local = LocalStack(state_dir=tmp_path / "stack").function_envs["authorize"]
    assert local["OAUTH_CLIENT_ID"]
    assert client.variable not in local


def test_deploy_sh_refuses_to_deploy_without_a_client_id(tmp_path: Path) -> None:
    result, _ = dry_run(tmp_path, env={"OAUTH_CLIENT_ID": ""})
    assert result.returncode != 0
    assert "OAUTH_CLIENT_ID" in result.stderr


CLIENT = DEFINITION.secrets["oauth_client"]


def test_only_the_consent_callback_among_the_public_functions_mounts_the_client_secret(
    evaluated: dict[str, Any], tmp_path: Path
) -> None:
    # The callback exchanges codes, which takes the client secret; authorize and the security
    # events receiver only need to know which client they are (OAUTH_CLIENT_ID).
    assert [key for key in PUBLIC if "oauth_client" in DEFINITION.functions[key].secrets] == [
        "oauth2callback"
    ]
    result, _ = dry_run(tmp_path)
    assert result.returncode == 0, result.stderr
    commands = gcloud_commands(result.stdout)
    by_key = {flags(c)["entry-point"]: flags(c) for c in deploys(commands)}
    client_readers = {
        flags(c)["member"]
        for c in commands
        if c[1:3] == ["secrets", "add-iam-policy-binding"] and c[3] == CLIENT.default_id
    }
    for key in ("authorize", "security_events"):
        # Terraform
        env = evaluated["function_env"][key]
        assert env["OAUTH_CLIENT_ID"] == OAUTH_CLIENT_ID, key
        assert CLIENT.variable not in env, key
        assert not [v for v in evaluated["secret_volumes"][key] if v["secret"] == CLIENT.default_id]
        # deploy.sh
        assert f"OAUTH_CLIENT_ID={OAUTH_CLIENT_ID}" in by_key[key]["set-env-vars"], key
        assert CLIENT.default_id not in by_key[key].get("set-secrets", ""), key
        name = DEFINITION.functions[key].name
        assert f"serviceAccount:fn-{name}@{PROJECT}.iam.gserviceaccount.com" not in client_readers
        # the local stack
        local = LocalStack(state_dir=tmp_path / "stack").function_envs[key]
        assert local["OAUTH_CLIENT_ID"], key
        assert CLIENT.variable not in local, key
