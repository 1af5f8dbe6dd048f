"""Terraform's own view of infra/: formatting, and the environment it gives each function,
evaluated by terraform itself and started through functions/config.py."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from devstack import deployment
from functions.config import load_settings
from functions.secrets import is_secret_version
from tests.infra.infra_model import INFRA, MAIN_PY, REQUIRED_BY_ENTRY_POINT, declared_entry_points
from tests.infra.terraform_eval import (
    ALLOWED_RETURN_TO,
    PROJECT,
    REGION,
    evaluate_locals,
    terraform_env,
)

ENTRY_POINTS = declared_entry_points(MAIN_PY.read_text())


def test_terraform_fmt_check(terraform: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(INFRA)],
        env=terraform_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"run `terraform fmt -recursive infra`:\n{result.stdout}"


def test_terraform_finds_the_entry_points_of_main_py(evaluated: dict[str, Any]) -> None:
    assert evaluated["entry_points"] == ENTRY_POINTS
    assert sorted(evaluated["deployed_functions"]) == sorted(ENTRY_POINTS)


@pytest.mark.parametrize("entry_point", sorted(ENTRY_POINTS))
def test_each_function_starts_with_the_environment_terraform_gives_it(
    evaluated: dict[str, Any], entry_point: str
) -> None:
    env: dict[str, str] = evaluated["function_env"][entry_point]
    # WHEN the function's configuration is read as it would be at start-up
    settings = load_settings(env)  # raises ConfigError naming the variable if one is missing
    # THEN it is complete and points at this deployment
    assert settings.project == PROJECT
    assert settings.redirect_uri == evaluated["callback_url"]
    assert settings.secure_cookies
    assert settings.allowed_return_to == (ALLOWED_RETURN_TO,)
    for variable in REQUIRED_BY_ENTRY_POINT.get(entry_point, frozenset()):
        assert env.get(variable), f"{entry_point} needs {variable}"
    for pipeline in settings.pipelines:
        if "RESULTS_TOPIC" in env:
            assert (
                settings.results_topic_path(pipeline)
                == evaluated["topic_paths"][f"results/{pipeline}"]
            )
        if "REAUTH_TOPIC" in env:
            assert (
                settings.reauth_topic_path(pipeline)
                == evaluated["topic_paths"][f"reauth/{pipeline}"]
            )
        if "REQUESTS_TOPIC" in env:
            requests = evaluated["topic_paths"][f"requests/{pipeline}"]
            assert settings.pipeline_of_topic(requests) == pipeline


def test_authorize_and_callback_share_one_host(evaluated: dict[str, Any]) -> None:
    # The flow cookie is a host cookie: both must be served from the same host.
    authorize, callback = urlsplit(evaluated["authorize_url"]), urlsplit(evaluated["callback_url"])
    assert authorize.scheme == callback.scheme == "https"
    assert authorize.netloc == callback.netloc == f"europe-west1-{PROJECT}.cloudfunctions.net"
    assert (authorize.path, callback.path) == ("/authorize", "/oauth2callback")
    for env in evaluated["function_env"].values():
        assert env["AUTHORIZE_URL"] == evaluated["authorize_url"]


# Where Cloud Run may not mount a volume, and where the function's own source lives.
_RESERVED_PATHS = ("/cloudsql", "/dev", "/pod", "/proc", "/sys", "/var/log", "/workspace")


@pytest.mark.parametrize("entry_point", sorted(ENTRY_POINTS))
def test_each_function_reads_its_secrets_from_files_it_mounts(
    evaluated: dict[str, Any], entry_point: str
) -> None:
    env: dict[str, str] = evaluated["function_env"][entry_point]
    volumes: list[dict[str, str]] = evaluated["secret_volumes"][entry_point]
    mounted = {f"{volume['mount_path']}/{volume['file']}": volume for volume in volumes}
    # Each secret the code needs is a file of one of the function's own secret volumes, so no
    # Secret Manager client is imported on cold start ...
    secrets = {secret.variable: secret.default_id for secret in deployment.load().secrets.values()}
    for variable, secret in secrets.items():
        if variable not in env:
            continue  # the function does not mount it (tests/infra/test_key_custody.py)
        assert not is_secret_version(env[variable])
        assert mounted[env[variable]]["secret"] == secret
        assert mounted[env[variable]]["version"] == "latest"  # a mount follows rotation
    # ... each volume in a directory of its own (a mount shadows its whole directory), none nested
    # in another or in a path Cloud Run reserves.
    directories = [volume["mount_path"] for volume in volumes]
    assert len(set(directories)) == len(directories)
    for directory in directories:
        assert directory.startswith("/")
        assert not directory.startswith(_RESERVED_PATHS)
        assert not [other for other in directories if other.startswith(directory + "/")]


@pytest.mark.parametrize(("runtime", "accepted"), [("python399", True), ("nodejs22", False)])
def test_terraform_takes_the_runtimes_deploy_sh_takes(
    terraform: str, tmp_path: Path, runtime: str, accepted: bool
) -> None:
    # scripts/deploy.sh --runtime refuses what does not match ^python3[0-9]+$; so must var.runtime.
    variables = {"project_id": PROJECT, "region": REGION, "runtime": runtime}
    if accepted:
        evaluate_locals(terraform, tmp_path, variables)
        return
    with pytest.raises(subprocess.CalledProcessError) as refused:
        evaluate_locals(terraform, tmp_path, variables)
    assert b"runtime must be a Cloud Functions Python runtime ID" in refused.value.stderr
