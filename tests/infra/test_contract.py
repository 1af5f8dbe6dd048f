"""infra/ (parsed with python-hcl2) held against main.py and functions/config.py.

Every entry point main.py declares must have a Cloud Function with that entry point and the
matching trigger, and every variable the configuration requires must be set for it. The checks
are also shown to fail when a function or a required variable goes missing.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.infra.infra_model import (
    INFRA,
    MAIN_PY,
    Infra,
    contract_problems,
    declared_entry_points,
    load_infra,
    required_at_startup,
    unquote,
)

MAIN_SOURCE = MAIN_PY.read_text()
ENTRY_POINTS = declared_entry_points(MAIN_SOURCE)
REQUIRED = required_at_startup()


@pytest.fixture
def infra() -> Infra:
    return load_infra()


def problems_of(infra: Infra, entry_points: dict[str, str] | None = None) -> list[str]:
    return contract_problems(
        ENTRY_POINTS if entry_points is None else entry_points, infra, REQUIRED, MAIN_SOURCE
    )


def test_main_py_declares_the_contract_entry_points() -> None:
    # The derivation itself: the entry points of docs/design.md §3 are found, with their kinds.
    assert ENTRY_POINTS["authorize"] == "http"
    assert ENTRY_POINTS["oauth2callback"] == "http"
    assert ENTRY_POINTS["list_messages"] == "cloud_event"


def test_required_variables_come_from_config() -> None:
    assert "OAUTH_REDIRECT_URI" in REQUIRED
    assert "OAUTH_CLIENT_SECRETS" not in REQUIRED  # authorize starts with OAUTH_CLIENT_ID alone
    assert "GMAIL_API_ROOT" not in REQUIRED  # has a default


def test_infra_deploys_every_entry_point_as_the_contract_says(infra: Infra) -> None:
    assert problems_of(infra) == []


@pytest.mark.parametrize("entry_point", sorted(ENTRY_POINTS))
def test_a_removed_function_is_caught(infra: Infra, entry_point: str) -> None:
    # GIVEN infra/ without the function of one entry point
    del infra.locals["functions"][entry_point]
    # THEN the contract names it
    assert any(entry_point in problem for problem in problems_of(infra))


@pytest.mark.parametrize("variable", sorted(REQUIRED))
def test_a_removed_required_variable_is_caught(infra: Infra, variable: str) -> None:
    behind = [
        k for k, spec in infra.locals["secrets"].items() if unquote(spec["variable"]) == variable
    ]
    if behind:
        # GIVEN a function that no longer mounts the secret whose file the variable names
        spec = infra.locals["functions"]["list_messages"]
        spec["secrets"] = [secret for secret in spec["secrets"] if unquote(secret) not in behind]
    else:
        assert variable in infra.locals["common_env"], f"{variable} is expected in local.common_env"
        del infra.locals["common_env"][variable]
    assert any(variable in problem for problem in problems_of(infra))


def _secret_volumes(infra: Infra) -> dict[str, Any]:
    function = infra.resource("google_cloudfunctions2_function", "function")
    assert function is not None
    [dynamic] = function["service_config"][0]["dynamic"]
    body: dict[str, Any] = dynamic['"secret_volumes"']
    return body


def test_functions_that_do_not_mount_their_secrets_are_caught(infra: Infra) -> None:
    # GIVEN a function resource without the secret volumes its environment points into
    function = infra.resource("google_cloudfunctions2_function", "function")
    assert function is not None
    del function["service_config"][0]["dynamic"]
    # THEN the contract says so
    assert any("secret_volumes" in problem for problem in problems_of(infra))


@pytest.mark.parametrize(
    ("where", "attribute"),
    [
        ("content", "mount_path"),
        ("content", "secret"),
        ("versions", "path"),
        ("versions", "version"),
    ],
)
def test_a_secret_mounted_elsewhere_than_the_environment_says_is_caught(
    infra: Infra, where: str, attribute: str
) -> None:
    # GIVEN a secret volume whose directory, secret, file or version is not the one
    # local.secret_volumes gives (so the function's variable would name a missing file)
    content = _secret_volumes(infra)["content"][0]
    target = content if where == "content" else content["versions"][0]
    target[attribute] = '"/etc/secrets"'
    # THEN the contract names it
    assert any(attribute in problem for problem in problems_of(infra))


def test_a_secret_volume_without_versions_is_caught(infra: Infra) -> None:
    # Without versions, Cloud Run names the file after the secret, not as the variable says.
    del _secret_volumes(infra)["content"][0]["versions"]
    assert any("versions.path" in problem for problem in problems_of(infra))


def test_results_topic_is_required_for_list_messages(infra: Infra) -> None:
    if "list_messages" not in ENTRY_POINTS:
        pytest.skip("main.py has no list_messages")
    infra.locals["functions"]["list_messages"]["publishes"] = ['"reauth"']
    problems = problems_of(infra)
    assert any("list_messages" in p and "RESULTS_TOPIC" in p for p in problems)


def test_a_new_entry_point_without_a_function_is_caught(infra: Infra) -> None:
    entry_points = {**ENTRY_POINTS, "archive_mailbox": "cloud_event"}
    source = MAIN_SOURCE + "\n@functions_framework.cloud_event\ndef archive_mailbox(event):\n"
    problems = contract_problems(entry_points, infra, REQUIRED, source)
    assert any("archive_mailbox has no function" in problem for problem in problems)


def test_a_trigger_that_does_not_match_the_decorator_is_caught(infra: Infra) -> None:
    infra.locals["functions"]["authorize"]["trigger"] = '"pubsub"'
    problems = problems_of(infra)
    assert any("authorize.trigger" in problem for problem in problems)


def test_an_internal_function_made_public_is_caught(infra: Infra) -> None:
    infra.locals["functions"]["list_messages"]["public"] = True
    problems = problems_of(infra)
    assert any("list_messages.public" in problem for problem in problems)


def test_a_function_deleted_from_the_definition_fails_the_contract(tmp_path: Path) -> None:
    # GIVEN a copy of infra/ whose functions.json lost the list_messages entry
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy, ignore=shutil.ignore_patterns(".terraform", ".build"))
    definition_path = copy / "functions.json"
    definition = json.loads(definition_path.read_text())
    del definition["functions"]["list_messages"]
    definition_path.write_text(json.dumps(definition))
    # THEN the contract fails, naming it
    problems = problems_of(load_infra(copy))
    assert any("list_messages has no function" in problem for problem in problems)


def test_a_variable_deleted_from_locals_tf_fails_the_contract(tmp_path: Path) -> None:
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy, ignore=shutil.ignore_patterns(".terraform", ".build"))
    locals_tf = copy / "locals.tf"
    text, removed = re.subn(r"\n\s*OAUTH_REDIRECT_URI\s*=.*\n", "\n", locals_tf.read_text())
    assert removed == 1
    locals_tf.write_text(text)
    problems = problems_of(load_infra(copy))
    assert any("OAUTH_REDIRECT_URI" in problem for problem in problems)


def test_checkov_skips_are_inline_and_give_a_reason(infra: Infra) -> None:
    skips = [
        (name, match)
        for name, text in infra.text.items()
        for match in re.finditer(r"checkov:skip=([^\n]*)", text)
    ]
    assert skips, "the browser-facing functions are public, so some skip must exist"
    for name, match in skips:
        check, _, reason = match.group(1).partition(":")
        assert re.fullmatch(r"CKV2?_GCP_\d+", check), f"{name}: {match.group(0)}"
        assert len(reason.split()) >= 8, f"{name}: {check} needs a reason, got {reason!r}"
