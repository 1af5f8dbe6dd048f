"""The gcloud path (scripts/deploy.sh) deploys what infra/ deploys.

Its dry run prints the gcloud commands instead of running them (a stand-in gcloud that fails is
first on PATH, so nothing is called). The functions it deploys, their triggers, access, ingress,
sizes and environment must match infra/locals.tf, as hcl2 reads it and as terraform evaluates it.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from devstack import deployment
from tests.infra.infra_model import (
    MAIN_PY,
    ROOT,
    declared_entry_points,
    load_infra,
    unquote,
)
from tests.infra.terraform_eval import ALLOWED_RETURN_TO, OAUTH_CLIENT_ID, PROJECT, REGION

ENTRY_POINTS = declared_entry_points(MAIN_PY.read_text())
SPECS = load_infra().locals["functions"]
INGRESS = {"ALLOW_ALL": "all", "ALLOW_INTERNAL_ONLY": "internal-only"}


def test_scripts_are_valid_bash() -> None:
    for script in ("deploy.sh", "checkov.sh", "audit.sh"):
        subprocess.run(["bash", "-n", str(ROOT / "scripts" / script)], check=True)


def dry_run(
    bin_dir: Path, *extra: str, env: Mapping[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """deploy.sh --dry-run for p-1 in europe-west1, with a stand-in gcloud that records any call.

    Args:
        env: settings that replace or add to the defaults given here.

    Returns:
        The finished run, and the file the stand-in gcloud writes its arguments to if called.
    """
    called = bin_dir / "called"
    fake = bin_dir / "gcloud"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {called}\nexit 99\n')
    fake.chmod(0o755)
    environment = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(bin_dir),
        "ALLOWED_RETURN_TO": ALLOWED_RETURN_TO,
        "OAUTH_CLIENT_ID": OAUTH_CLIENT_ID,
        "INTERNAL_INVOKERS": "serviceAccount:pipeline@p-1.iam.gserviceaccount.com",
        **(env or {}),
    }
    script = str(ROOT / "scripts" / "deploy.sh")
    arguments = ["--project", PROJECT, "--region", REGION, "--dry-run", *extra]
    result = subprocess.run(
        ["bash", script, *arguments], env=environment, capture_output=True, text=True, check=False
    )
    return result, called


def gcloud_commands(stdout: str) -> list[list[str]]:
    """The gcloud commands a dry run printed, each split into its words."""
    return [shlex.split(line) for line in stdout.splitlines() if line.startswith("gcloud ")]


@pytest.fixture(scope="module")
def commands(tmp_path_factory: pytest.TempPathFactory) -> list[list[str]]:
    """The gcloud commands of a dry run with the default settings."""
    result, called = dry_run(tmp_path_factory.mktemp("bin"))
    assert result.returncode == 0, result.stderr
    assert not called.exists(), f"the dry run called gcloud: {called.read_text()}"
    return gcloud_commands(result.stdout)


def flags(command: list[str]) -> dict[str, str]:
    return dict(word[2:].partition("=")[::2] for word in command if word.startswith("--"))


def deploys(commands: list[list[str]]) -> Iterator[list[str]]:
    return (c for c in commands if c[1:3] == ["functions", "deploy"])


def test_it_deploys_exactly_the_entry_points_of_main_py(commands: list[list[str]]) -> None:
    entry_points = sorted(flags(command)["entry-point"] for command in deploys(commands))
    assert entry_points == sorted(ENTRY_POINTS)


@pytest.mark.parametrize("entry_point", sorted(ENTRY_POINTS))
def test_each_function_is_deployed_as_terraform_deploys_it(
    commands: list[list[str]], evaluated: dict[str, Any], entry_point: str
) -> None:
    spec: dict[str, Any] = SPECS[entry_point]
    (command,) = [c for c in deploys(commands) if flags(c)["entry-point"] == entry_point]
    given = flags(command)
    assert command[3] == unquote(spec["name"])
    assert given["runtime"] == load_infra().default("runtime")
    assert given["trigger-http"] == ""  # events arrive through the push subscription
    sizing = evaluated["deployed_functions"][entry_point]["sizing"]
    assert given["memory"] == sizing["memory"]
    assert given["cpu"] == sizing["cpu"]
    assert given["concurrency"] == str(sizing["concurrency"])
    assert given["min-instances"] == str(sizing["min_instances"])
    assert given["max-instances"] == str(sizing["max_instances"])
    assert given["timeout"] == f"{sizing['timeout_seconds']}s"
    assert given["service-account"].startswith(f"fn-{unquote(spec['name'])}@")
    if spec["public"]:
        assert "allow-unauthenticated" in given
        assert given["ingress-settings"] == "all"
    else:
        assert "no-allow-unauthenticated" in given
        assert given["ingress-settings"] == "internal-only"


@pytest.mark.parametrize("entry_point", sorted(ENTRY_POINTS))
def test_each_function_gets_the_environment_terraform_gives_it(
    commands: list[list[str]], evaluated: dict[str, Any], entry_point: str
) -> None:
    (command,) = [c for c in deploys(commands) if flags(c)["entry-point"] == entry_point]
    delimited = flags(command)["set-env-vars"]
    assert delimited.startswith("^|^")
    env = dict(pair.partition("=")[::2] for pair in delimited[3:].split("|"))
    assert env == evaluated["function_env"][entry_point]


@pytest.mark.parametrize("entry_point", sorted(ENTRY_POINTS))
def test_each_function_mounts_the_secrets_terraform_mounts(
    commands: list[list[str]], evaluated: dict[str, Any], entry_point: str
) -> None:
    (command,) = [c for c in deploys(commands) if flags(c)["entry-point"] == entry_point]
    given = flags(command).get("set-secrets")
    mounts = dict(pair.partition("=")[::2] for pair in given.split(",")) if given else {}
    assert ("--clear-secrets" in command) == (given is None)
    assert mounts == {
        f"{volume['mount_path']}/{volume['file']}": f"{volume['secret']}:{volume['version']}"
        for volume in evaluated["secret_volumes"][entry_point]
    }


def test_runtime_flag_sets_the_runtime_of_every_function(tmp_path: Path) -> None:
    result, _ = dry_run(tmp_path, "--runtime", "python399")
    assert result.returncode == 0, result.stderr
    runtimes = {flags(command)["runtime"] for command in deploys(gcloud_commands(result.stdout))}
    assert runtimes == {"python399"}


@pytest.mark.parametrize("runtime", ["nodejs22", "python", "python3.13", "python313; rm -rf /"])
def test_a_runtime_that_is_no_python_runtime_id_is_refused(tmp_path: Path, runtime: str) -> None:
    # var.runtime's validation in infra/variables.tf accepts the same: ^python3[0-9]+$
    result, called = dry_run(tmp_path, f"--runtime={runtime}")
    assert result.returncode == 2
    assert "--runtime must be a Cloud Functions Python runtime ID" in result.stderr
    assert not called.exists()
    assert "gcloud " not in result.stdout


def test_event_functions_get_a_push_subscription_with_dead_lettering(
    commands: list[list[str]],
) -> None:
    for entry_point, kind in ENTRY_POINTS.items():
        name = unquote(SPECS[entry_point]["name"])
        # one per pipeline on a pipeline's topic (list_messages), as Terraform names them
        per_pipeline = unquote(SPECS[entry_point].get("topic")) == "requests"
        subscription = f"{name}-default-push" if per_pipeline else f"{name}-push"
        subscriptions = [
            flags(c)
            for c in commands
            if c[1:4] == ["pubsub", "subscriptions", "create"] and c[4] == subscription
        ]
        if kind == "http":
            assert subscriptions == []
            continue
        (given,) = subscriptions
        assert given["dead-letter-topic"] == "mailbox-dead-letter"
        assert int(given["max-delivery-attempts"]) >= 5
        assert given["push-auth-service-account"].startswith("pubsub-push-invoker@")
        assert given["min-retry-delay"]
        assert given["max-retry-delay"]


def test_only_the_browser_facing_functions_and_the_receiver_are_public(
    commands: list[list[str]],
) -> None:
    public = sorted(
        flags(c)["entry-point"] for c in deploys(commands) if "--allow-unauthenticated" in c
    )
    assert public == sorted({"authorize", "oauth2callback", "security_events"} & set(ENTRY_POINTS))
    members = [flags(c).get("member", "") for c in commands]
    assert "allUsers" not in members
    assert "allAuthenticatedUsers" not in members


def test_secrets_get_no_values(commands: list[list[str]]) -> None:
    assert not [c for c in commands if c[1:4] == ["secrets", "versions", "add"]]


def test_dry_run_needs_a_project_and_region() -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "deploy.sh"), "--dry-run"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "--region" in result.stderr


@pytest.mark.parametrize("entry_point", sorted(ENTRY_POINTS))
def test_each_service_account_gets_the_grants_terraform_gives_it(
    commands: list[list[str]], entry_point: str
) -> None:
    spec: dict[str, Any] = SPECS[entry_point]
    member = f"serviceAccount:fn-{unquote(spec['name'])}@{PROJECT}.iam.gserviceaccount.com"
    mine = [c for c in commands if flags(c).get("member") == member]
    secret_ids = {key: secret.default_id for key, secret in deployment.load().secrets.items()}
    topic_ids = {
        "requests": "mailbox-requests-default",
        "results": "mailbox-results-default",
        "reauth": "reauth-required-default",
        "upkeep": "daily-upkeep",
    }

    read = sorted(c[3] for c in mine if c[1:3] == ["secrets", "add-iam-policy-binding"])
    assert read == sorted(secret_ids[unquote(secret)] for secret in spec["secrets"])
    written = sorted(c[4] for c in mine if c[1:4] == ["pubsub", "topics", "add-iam-policy-binding"])
    assert written == sorted(topic_ids[unquote(topic)] for topic in spec["publishes"])
    project_grants = [flags(c) for c in mine if c[1:3] == ["projects", "add-iam-policy-binding"]]
    if not spec["firestore"]:
        assert project_grants == []  # authorize writes nothing, so it may not touch the database
        return
    (project_grant,) = project_grants
    assert project_grant["role"] == "roles/datastore.user"
    assert f'"projects/{PROJECT}/databases/(default)"' in project_grant["condition"]


def test_the_build_account_reads_only_the_function_source_bucket(
    commands: list[list[str]],
) -> None:
    member = f"serviceAccount:functions-build@{PROJECT}.iam.gserviceaccount.com"
    grants = {
        flags(c)["role"]: flags(c)
        for c in commands
        if c[1:3] == ["projects", "add-iam-policy-binding"] and flags(c).get("member") == member
    }
    assert set(grants) == {"roles/logging.logWriter", "roles/storage.objectViewer"}
    condition = grants["roles/storage.objectViewer"]["condition"]
    assert f'"projects/_/buckets/gcf-v2-sources-PROJECT_NUMBER-{REGION}"' in condition
    assert f'startsWith("projects/_/buckets/gcf-v2-sources-PROJECT_NUMBER-{REGION}/")' in condition
