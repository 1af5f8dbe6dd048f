"""Terraform, deploy.sh and the local stack give each function the same environment and sizing.

All three derive them from infra/functions.json: Terraform with jsondecode in infra/locals.tf
(evaluated here by terraform itself), deploy.sh and the local stack through
devstack/deployment.py. Endpoints and paths may differ locally (the emulators, the sandbox, the
secrets' folder); nothing else may.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from devstack import deployment
from devstack.function_env import LOCAL_ONLY
from devstack.stack import FUNCTIONS, LocalStack
from tests.infra.infra_model import ROOT
from tests.infra.terraform_eval import (
    ALLOWED_RETURN_TO,
    OAUTH_CLIENT_ID,
    PROJECT,
    REGION,
    evaluate_locals,
)

DEFINITION = deployment.load()
ENTRY_POINTS = sorted(deployment.entry_points())
PLATFORM = ("FUNCTION_TARGET", "FUNCTION_SIGNATURE_TYPE", "K_SERVICE", "K_REVISION")
ENDPOINTS = ("OAUTH_REDIRECT_URI", "AUTHORIZE_URL", "OAUTH_CLIENT_ID")
"""What names this deployment's own endpoints and client (the sandbox's, locally)."""
_TOPIC = re.compile(r"^projects/[^/]+/topics/(.+)$")


def normalised(env: dict[str, str], topics: dict[str, str], project: str) -> dict[str, str]:
    """``env`` with what may differ between deployments made comparable: the project, topic IDs
    (replaced by their keys in infra/functions.json), endpoints, and secret files (kept as the
    mount path, whatever folder stands for the root)."""
    keys = {topic_id: key for key, topic_id in topics.items()}
    mounts = {secret.variable: secret.path for secret in DEFINITION.secrets.values()}
    result = {}
    for name, value in env.items():
        if name in ENDPOINTS:
            value = "<endpoint>"
        elif name in mounts:
            assert value.endswith(mounts[name]), f"{name}={value} is not the mounted file"
            value = mounts[name]
        elif name == "GOOGLE_CLOUD_PROJECT":
            assert value == project
            value = "<project>"
        elif match := _TOPIC.match(value):
            value = f"topic:{keys[match.group(1)]}"
        result[name] = value
    return result


def variable_topics(evaluated: dict[str, Any]) -> dict[str, str]:
    """What Terraform's topic variables hold, by topic key: templates for the pipeline kinds."""
    return {
        key: path.split("/topics/", 1)[1] for key, path in evaluated["topic_env_values"].items()
    }


def test_every_entry_point_is_defined_once() -> None:
    assert set(ENTRY_POINTS) == set(DEFINITION.functions)
    assert {key for key, _ in FUNCTIONS} == set(DEFINITION.functions)


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_terraform_gives_what_the_definition_says(
    evaluated: dict[str, Any], entry_point: str
) -> None:
    settings = deployment.Settings(
        project=PROJECT,
        region=REGION,
        allowed_return_to=[ALLOWED_RETURN_TO],
        oauth_client_id=OAUTH_CLIENT_ID,
    )
    function = DEFINITION.functions[entry_point]
    assert evaluated["function_env"][entry_point] == deployment.environment(
        function, DEFINITION, settings
    )
    deployed = evaluated["deployed_functions"][entry_point]
    assert deployed["sizing"] == vars(function.sizing)
    assert deployed["name"] == function.name


@pytest.fixture(scope="module")
def defaults(terraform: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """infra/ evaluated with every setting at its default, as the local stack runs."""
    return evaluate_locals(
        terraform, tmp_path_factory.mktemp("tf"), {"project_id": PROJECT, "region": REGION}
    )


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_the_local_stack_gives_what_terraform_gives(
    defaults: dict[str, Any], tmp_path: Path, entry_point: str
) -> None:
    evaluated = defaults
    # GIVEN the local stack's configuration and Terraform's, for the same function
    stack = LocalStack(state_dir=tmp_path)
    local = dict(stack.function_envs[entry_point])
    deployed = evaluated["function_env"][entry_point]
    function = DEFINITION.functions[entry_point]

    # THEN the local function also gets what the platform sets in a deployed instance
    assert local.pop("FUNCTION_TARGET") == entry_point
    assert local.pop("FUNCTION_SIGNATURE_TYPE") == function.signature_type
    assert local.pop("K_SERVICE") == evaluated["deployed_functions"][entry_point]["name"]
    assert local.pop("K_REVISION").startswith(f"{function.name}-")
    # AND, endpoints and paths aside, exactly what Terraform gives it
    extra = {name for name in local if name in LOCAL_ONLY}
    for name in extra:
        local.pop(name)
    assert normalised(local, stack.topology.topics, stack.project) == normalised(
        deployed, variable_topics(evaluated), PROJECT
    )
    # AND each secret is read from a file laid out as it is mounted in production
    for key in function.secrets:
        secret = DEFINITION.secrets[key]
        assert stack.function_envs[entry_point][secret.variable] == str(
            tmp_path / "secrets" / secret.path.lstrip("/")
        )


def test_a_difference_would_be_caught(defaults: dict[str, Any], tmp_path: Path) -> None:
    evaluated = defaults
    # GIVEN a local environment that gained a variable the deployment does not set
    stack = LocalStack(state_dir=tmp_path)
    local = {k: v for k, v in stack.function_envs["authorize"].items() if k not in LOCAL_ONLY}
    for name in PLATFORM:
        local.pop(name)
    local["RESULTS_TOPIC"] = f"projects/{stack.project}/topics/{stack.topology.results_topic}"
    # THEN the comparison fails
    assert normalised(local, stack.topology.topics, stack.project) != normalised(
        evaluated["function_env"]["authorize"], variable_topics(evaluated), PROJECT
    )


def test_sizing_overrides_agree(terraform: str, tmp_path: Path) -> None:
    # GIVEN the same override given to Terraform and to deploy.sh
    override = {"list_messages": {"memory": "1Gi", "max_instances": 50}}
    terraform_view = evaluate_locals(
        terraform,
        tmp_path / "tf",
        {"project_id": PROJECT, "region": REGION, "function_sizing": override},
    )
    script_view = subprocess.run(
        [
            "python3",
            "-m",
            "devstack.deployment",
            f"--project={PROJECT}",
            f"--region={REGION}",
            "--sizing=list_messages.memory=1Gi",
            "--sizing=list_messages.max_instances=50",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = {
        assignments["KEY"]: assignments
        for assignments in (
            dict(word.split("=", 1) for word in shlex.split(line))
            for line in script_view.splitlines()
        )
    }
    # THEN both deploy the same sizing, and only list_messages changed
    for key in ENTRY_POINTS:
        sizing = terraform_view["deployed_functions"][key]["sizing"]
        given = lines[key]
        assert (given["MEMORY"], given["CPU"], given["TIMEOUT"]) == (
            sizing["memory"],
            sizing["cpu"],
            str(sizing["timeout_seconds"]),
        )
        assert (given["MIN_INSTANCES"], given["MAX_INSTANCES"], given["CONCURRENCY"]) == (
            str(sizing["min_instances"]),
            str(sizing["max_instances"]),
            str(sizing["concurrency"]),
        )
        changed = sizing != vars(DEFINITION.functions[key].sizing)
        assert changed == (key == "list_messages")
    assert terraform_view["deployed_functions"]["list_messages"]["sizing"]["memory"] == "1Gi"


def test_an_unknown_sizing_override_is_refused(terraform: str, tmp_path: Path) -> None:
    refused = subprocess.run(
        [
            "python3",
            "-m",
            "devstack.deployment",
            "--project=p",
            "--region=r",
            "--sizing=list_mesages.memory=1Gi",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2
    assert "list_mesages" in refused.stderr
    with pytest.raises(subprocess.CalledProcessError) as error:
        evaluate_locals(
            terraform,
            tmp_path / "tf",
            {"project_id": "p", "region": "r", "function_sizing": {"list_mesages": {}}},
        )
    assert "function_sizing" in (error.value.stderr or b"").decode()


def test_the_definition_is_valid_json_with_every_field() -> None:
    raw = json.loads((ROOT / "infra" / "functions.json").read_text())
    fields = set(deployment.SIZING_FIELDS)
    for key, function in raw["functions"].items():
        assert set(function["sizing"]) == fields, key
        assert function["access"] in ("public", "internal", "pubsub", "scheduler"), key


def test_the_pages_settings_reach_only_the_functions_that_show_pages(
    terraform: str, tmp_path: Path
) -> None:
    # GIVEN a service name and footer links, given to Terraform and to deploy.sh
    pages = {
        "service_name": "Acme Mail Reader",
        "support_url": "https://acme.example/support",
        "privacy_policy_url": "https://acme.example/privacy",
    }
    evaluated = evaluate_locals(
        terraform, tmp_path / "tf", {"project_id": PROJECT, "region": REGION, **pages}
    )
    by_key = deploy_sh_env(
        f"--page-setting=SERVICE_NAME={pages['service_name']}",
        f"--page-setting=SUPPORT_URL={pages['support_url']}",
        f"--page-setting=PRIVACY_POLICY_URL={pages['privacy_policy_url']}",
    )
    wanted = {
        "SERVICE_NAME": "Acme Mail Reader",
        "SUPPORT_URL": "https://acme.example/support",
        "PRIVACY_POLICY_URL": "https://acme.example/privacy",
    }
    # THEN authorize and oauth2callback get them, every other function none, in both
    for key in ENTRY_POINTS:
        env = evaluated["function_env"][key]
        shown = {name: env[name] for name in wanted if name in env}
        assert shown == (wanted if DEFINITION.functions[key].pages else {}), key
        assert by_key[key] == env, key


def test_the_gmail_quota_profile_reaches_every_function_alike(
    terraform: str, tmp_path: Path
) -> None:
    # GIVEN a project created since May 2026, told to Terraform and to deploy.sh
    evaluated = evaluate_locals(
        terraform,
        tmp_path / "tf",
        {"project_id": PROJECT, "region": REGION, "gmail_quota_profile": "2026"},
    )
    by_key = deploy_sh_env("--gmail-quota-profile=2026")
    # THEN every function paces itself to it (the readers use it; the rest carry it alike),
    # and both paths give the same environment
    for key in ENTRY_POINTS:
        env = evaluated["function_env"][key]
        assert env["GMAIL_QUOTA_PROFILE"] == "2026", key
        assert by_key[key] == env, key


def test_terraform_refuses_an_unknown_gmail_quota_profile(terraform: str, tmp_path: Path) -> None:
    with pytest.raises(subprocess.CalledProcessError) as refused:
        evaluate_locals(
            terraform,
            tmp_path / "tf",
            {"project_id": PROJECT, "region": REGION, "gmail_quota_profile": "2027"},
        )
    assert "gmail_quota_profile" in (refused.value.stderr or b"").decode()


def deploy_sh_env(*flags: str) -> dict[str, dict[str, str]]:
    """Each function's environment as deploy.sh sets it (devstack.deployment's assignments)."""
    script = subprocess.run(
        [
            "python3",
            "-m",
            "devstack.deployment",
            f"--project={PROJECT}",
            f"--region={REGION}",
            f"--oauth-client-id={OAUTH_CLIENT_ID}",
            *flags,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {
        assignments["KEY"]: dict(
            pair.split("=", 1) for pair in assignments["ENV_VARS"][3:].split("|")
        )
        for assignments in (
            dict(word.split("=", 1) for word in shlex.split(line)) for line in script.splitlines()
        )
    }


def test_terraform_and_deploy_sh_expire_the_same_documents(
    defaults: dict[str, Any], tmp_path: Path
) -> None:
    from tests.infra.test_deploy_script import dry_run, gcloud_commands

    # GIVEN deploy.sh's dry run with the default settings, and Terraform's
    result, _ = dry_run(tmp_path)
    assert result.returncode == 0, result.stderr
    ttl_groups = {
        word.removeprefix("--collection-group=")
        for command in gcloud_commands(result.stdout)
        if command[1:5] == ["firestore", "fields", "ttls", "update"]
        for word in command
        if word.startswith("--collection-group=")
    }

    # THEN both put a TTL policy on expires_at of the same collection groups, the Gmail slots
    # and the refresh leases among them
    assert set(defaults["ttl_fields"].values()) == {"expires_at"}
    assert ttl_groups == set(defaults["ttl_fields"]) >= {"gmail_slots", "leases"}
