"""infra/locals.tf evaluated by terraform itself, offline.

Terraform's providers cannot be downloaded here, but infra/locals.tf uses no resources, so a copy
of it with infra/variables.tf is a provider-free module that `terraform apply` evaluates; with it
goes infra/checks.tf, whose preconditions use only Terraform's built-in ``terraform_data``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.infra.infra_model import INFRA, ROOT

PROJECT = "p-1"
REGION = "europe-west1"
ALLOWED_RETURN_TO = "https://app.example.com/"
OAUTH_CLIENT_ID = "123456789012-abc.apps.googleusercontent.com"
"""The client ID every evaluation and deploy.sh run of the tests is given (it is required)."""

_EVALUATED = (
    "entry_points",
    "deployed_functions",
    "function_env",
    "secret_volumes",
    "topic_paths",
    "topics",
    "topic_env_values",
    "push_subscriptions",
    "function_publish_grants",
    "pipeline_publish_grants",
    "pipeline_consume_grants",
    "pipeline_subscriptions",
    "authorize_url",
    "callback_url",
    "gcloudignore_is_allowlist",
    "source_excludes",
    "scheduler_region",
    "import_rules_release",
    "public_access_commands",
    "ttl_fields",
)


def terraform_env(tmp: Path) -> dict[str, str]:
    """Terraform offline and quiet: no update check, no CLI config file warning."""
    config = tmp / "terraformrc"
    config.write_text("")
    return {
        **os.environ,
        "CHECKPOINT_DISABLE": "1",
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "TF_CLI_CONFIG_FILE": str(config),
    }


def evaluate_locals(
    terraform: str, workdir: Path, variables: Mapping[str, Any], infra: Path = INFRA
) -> dict[str, Any]:
    """Evaluate infra/locals.tf with ``variables``; returns the locals named in _EVALUATED.

    ``infra``: a (modified) copy of infra/ to evaluate instead.
    """
    module = workdir / "infra"
    module.mkdir(parents=True)
    for name in ("main.py", ".gcloudignore"):
        shutil.copy(ROOT / name, workdir / name)
    for name in ("variables.tf", "locals.tf", "checks.tf", "functions.json"):
        shutil.copy(infra / name if (infra / name).exists() else INFRA / name, module / name)
    (module / "evaluate.tf").write_text(
        "".join(f'output "{name}" {{\n  value = local.{name}\n}}\n' for name in _EVALUATED)
    )
    given = {"oauth_client_id": OAUTH_CLIENT_ID, **variables}
    (module / "terraform.tfvars.json").write_text(json.dumps(given))
    env = terraform_env(workdir)
    for command in (["init", "-backend=false"], ["apply", "-auto-approve"]):
        subprocess.run(
            [terraform, f"-chdir={module}", *command], env=env, check=True, capture_output=True
        )
    shown = subprocess.run(
        [terraform, f"-chdir={module}", "output", "-json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return {name: value["value"] for name, value in json.loads(shown.stdout).items()}
