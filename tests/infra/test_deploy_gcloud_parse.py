"""Every gcloud command deploy.sh runs is accepted by the installed gcloud's own argument parser.

gcloud parses a command's arguments before it looks for credentials. Run without any (an empty
``CLOUDSDK_CONFIG``, prompts off, no GCE metadata probe), a command whose arguments parse fails
with "You do not currently have an active account selected" and exit status 1, before any
request; one whose arguments do not (an unknown flag, an invalid choice, a bad value) fails with
exit status 2 and "ERROR: (gcloud.GROUP.COMMAND) ...". Anything else fails the test too, so an
unexpected outcome is never counted as parsed. Nothing reaches Google.

The commands are those of a dry run (everything created), of a run where everything exists
(``update`` instead of ``create``, recorded by the stand-in gcloud of
test_deploy_first_contact.py), and of a dry run of a function that mounts no secret
(``--clear-secrets``). gcloud starts in about a second each, so they run in parallel, and of the
commands that differ only in what gcloud's parser takes as free text (a resource's ID, an IAM
member of the same kind, a display name) one stands for all.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.infra.infra_model import ROOT
from tests.infra.test_deploy_first_contact import deploy
from tests.infra.test_deploy_script import dry_run, gcloud_commands

GCLOUD = shutil.which("gcloud")
NOT_LOGGED_IN = "You do not currently have an active account selected"
WORKERS = max(4, 2 * (os.cpu_count() or 1))

pytestmark = [
    pytest.mark.skipif(GCLOUD is None, reason="the Google Cloud CLI is not installed"),
    pytest.mark.timeout(180),
]


def parse_error(command: list[str], config: Path) -> str | None:
    """gcloud's complaint about ``command``'s arguments, or None when it parsed them.

    Raises:
        AssertionError: when gcloud neither parsed the command nor refused its arguments.
    """
    config.mkdir(parents=True)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(config),
        "CLOUDSDK_CONFIG": str(config),
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "CLOUDSDK_CORE_CHECK_GCE_METADATA": "false",
        "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
        "CLOUDSDK_SURVEY_DISABLE_PROMPTS": "true",
    }
    result = subprocess.run(
        [str(GCLOUD), *command[1:]],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    if result.returncode == 1 and NOT_LOGGED_IN in result.stderr:
        return None
    if result.returncode == 2 and result.stderr.startswith("ERROR: (gcloud"):
        return result.stderr.strip()
    raise AssertionError(
        f"gcloud neither parsed nor refused {shlex.join(command)} "
        f"(exit {result.returncode}): {result.stderr.strip()}"
    )


def parse_errors(commands: list[list[str]], tmp_path: Path) -> dict[str, str]:
    """Each command gcloud refuses, with its complaint, all checked in parallel."""
    with ThreadPoolExecutor(WORKERS) as pool:
        outcomes = pool.map(
            lambda numbered: parse_error(numbered[1], tmp_path / f"config-{numbered[0]}"),
            enumerate(commands),
        )
        return {
            shlex.join(command): error
            for command, error in zip(commands, outcomes, strict=True)
            if error is not None
        }


FREE_TEXT = ("--display-name", "--description")


def shape(command: list[str]) -> tuple[str, ...]:
    """What gcloud's parser sees of ``command``: its ID (the last word before the flags, when
    there is one after the command group) and free text left out, an IAM member as its kind."""
    words = list(command)
    first_flag = next((i for i, word in enumerate(words) if word.startswith("-")), len(words))
    if first_flag >= 4:
        words[first_flag - 1] = "<id>"
    for i, word in enumerate(words):
        name, _, value = word.partition("=")
        if name == "--member":
            words[i] = f"--member={value.split(':')[0]}:<member>"
        elif name in FREE_TEXT:
            words[i] = f"{name}=<text>"
    return tuple(words)


@pytest.fixture(scope="module")
def commands(tmp_path_factory: pytest.TempPathFactory) -> list[list[str]]:
    """Every distinct gcloud command deploy.sh runs, on its create and on its update path."""
    result, _ = dry_run(tmp_path_factory.mktemp("dry"))
    assert result.returncode == 0, result.stderr
    created = gcloud_commands(result.stdout)

    definition = json.loads((ROOT / "infra" / "functions.json").read_text())
    definition["functions"]["disconnect"]["secrets"] = []
    path = tmp_path_factory.mktemp("definition") / "functions.json"
    path.write_text(json.dumps(definition))
    result, _ = dry_run(tmp_path_factory.mktemp("dry"), env={"FUNCTIONS_DEFINITION": str(path)})
    assert result.returncode == 0, result.stderr
    no_secrets = gcloud_commands(result.stdout)

    run = deploy(tmp_path_factory.mktemp("real"), describe="exists", versions=True)
    assert run.result.returncode == 0, run.result.stderr
    updated = run.gcloud

    # Settings that change which commands run: public access without allUsers.
    result, _ = dry_run(
        tmp_path_factory.mktemp("dry"), env={"PUBLIC_ACCESS": "invoker_iam_disabled"}
    )
    assert result.returncode == 0, result.stderr
    invoker_check_off = gcloud_commands(result.stdout)

    distinct: dict[tuple[str, ...], list[str]] = {}
    for command in [*created, *no_secrets, *updated, *invoker_check_off]:
        distinct.setdefault(shape(command), command)
    assert any("--clear-secrets" in command for command in distinct.values())
    assert any(
        command[1:4] == ["pubsub", "subscriptions", "update"] for command in distinct.values()
    )
    assert any(command[1:4] == ["run", "services", "update"] for command in distinct.values())
    return list(distinct.values())


def test_gcloud_parses_every_command_deploy_sh_runs(
    commands: list[list[str]], tmp_path: Path
) -> None:
    assert parse_errors(commands, tmp_path) == {}


@pytest.mark.parametrize(
    ("wrong", "right"),
    [
        ("--replication-policy=automatic", "--replication-polcy=automatic"),  # a misspelt flag
        ("--ingress-settings=all", "--ingress-settings=ALLOW_ALL"),  # not one of its choices
        ("--max-delivery-attempts=5", "--max-delivery-attempts=five"),  # not a number
    ],
)
def test_a_command_gcloud_would_refuse_is_caught(
    commands: list[list[str]], tmp_path: Path, wrong: str, right: str
) -> None:
    # GIVEN one of deploy.sh's commands with an argument spoilt
    (command,) = [command for command in commands if wrong in command][:1]
    spoilt = [right if word == wrong else word for word in command]
    # THEN gcloud's parser refuses it, naming the argument
    errors = parse_errors([spoilt], tmp_path)
    assert list(errors) == [shlex.join(spoilt)]
    assert right.split("=")[0] in errors[shlex.join(spoilt)]
