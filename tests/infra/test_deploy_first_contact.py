"""deploy.sh meets Google for the first time: what it does before, and instead of, a change.

Real runs (not dry runs) against a stand-in gcloud and curl first on PATH, which record every call
and answer as a scenario says: resources missing (NOT_FOUND), present, or hidden by a permission
error; secrets with or without a version; the Firestore rules released, outdated or unreachable.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra.infra_model import ROOT
from tests.infra.terraform_eval import OAUTH_CLIENT_ID, PROJECT, REGION
from tests.infra.test_deploy_script import ENTRY_POINTS, deploys, dry_run, flags, gcloud_commands

TOKEN = "ya29.a-token-that-must-never-reach-a-command-line"
RULES = (ROOT / "infra" / "firestore.rules").read_text()
INVOKER = "serviceAccount:pipeline@p-1.iam.gserviceaccount.com"

FAKE_GCLOUD = r"""#!/usr/bin/env bash
printf '%q ' gcloud "$@" >> "$FAKE_DIR/gcloud.log"; echo >> "$FAKE_DIR/gcloud.log"
case "$*" in
  *" describe "*|*" describe") ;;
  "secrets versions list "*)
    [[ -z "${FAKE_VERSIONS:-}" ]] || echo "projects/1/secrets/$4/versions/1"; exit 0 ;;
  "auth print-access-token"*) echo "$FAKE_TOKEN"; exit 0 ;;
  *" get-iam-policy "*)
    # The policy the test presents as FAKE_DIR/policies/GROUP_NAME.json, else one without bindings.
    key="$*"; key="${key%% --*}"; key="${key/ get-iam-policy / }"; key="${key// /_}"
    cat "$FAKE_DIR/policies/$key.json" 2>/dev/null || echo '{"etag": "BwX"}'; exit 0 ;;
  *) exit 0 ;;
esac
case "$1 $2" in
  "projects describe") echo 123456; exit 0 ;;
  "functions describe") echo "https://$3-abc.a.run.app"; exit 0 ;;
esac
case "${FAKE_DESCRIBE:-missing}" in
  exists) exit 0 ;;
  missing) echo "ERROR: (gcloud.$1.describe) NOT_FOUND: Resource not found." >&2; exit 1 ;;
  denied)
    echo "ERROR: (gcloud.$1.describe) PERMISSION_DENIED: Permission denied on $3" \
      "(or it may not exist)." >&2
    exit 1 ;;
esac
"""

FAKE_CURL = r"""#!/usr/bin/env python3
import json, os, sys
args, i, seen = sys.argv[1:], 0, {}
while i < len(args):
    if args[i] in ("--config", "-X", "-o", "-w", "--data-binary"):
        seen[args[i]] = args[i + 1]; i += 2
    elif args[i].startswith("-"):
        i += 1
    else:
        seen["url"] = args[i]; i += 1
body = ""
if "--data-binary" in seen:
    body = open(seen["--data-binary"][1:]).read()
with open(os.environ["FAKE_DIR"] + "/curl.log", "a") as log:
    config = open(seen["--config"]).read() if "--config" in seen else ""
    log.write(json.dumps({"argv": sys.argv, "config": config, "method": seen.get("-X", "GET"),
                          "url": seen.get("url", ""), "body": body}) + "\n")
scenario, url, method = os.environ["FAKE_RULES"], seen.get("url", ""), seen.get("-X", "GET")
if scenario == "unreachable":
    print("curl: (6) Could not resolve host: firebaserules.googleapis.com", file=sys.stderr)
    sys.stdout.write("000"); sys.exit(6)
if scenario == "denied":
    status, answer = 403, {"error": {"code": 403, "status": "PERMISSION_DENIED",
                                     "message": "The caller does not have permission"}}
elif method == "GET" and url.endswith("/releases/cloud.firestore"):
    if scenario == "missing":
        status, answer = 404, {"error": {"code": 404, "status": "NOT_FOUND"}}
    else:
        status, answer = 200, {"rulesetName": "projects/p-1/rulesets/old"}
elif method == "GET":
    content = os.environ["FAKE_RULES_SOURCE"] if scenario == "same" else "rules_version = '1';"
    status, answer = 200, {"source": {"files": [{"name": "firestore.rules", "content": content}]}}
elif method == "POST" and url.endswith("/rulesets"):
    status, answer = 200, {"name": "projects/p-1/rulesets/new"}
else:
    status, answer = 200, {}
open(seen["-o"], "w").write(json.dumps(answer))
sys.stdout.write(str(status))
"""


@dataclass
class Run:
    """A finished run of deploy.sh and what it asked of gcloud and the Firebase Rules API."""

    result: subprocess.CompletedProcess[str]
    gcloud: list[list[str]]
    curl: list[dict[str, str]]

    def called(self, *words: str) -> list[list[str]]:
        """The gcloud calls whose command starts with ``words``."""
        return [call for call in self.gcloud if call[1 : len(words) + 1] == list(words)]


def deploy(
    tmp_path: Path,
    *arguments: str,
    env: Mapping[str, str] = {},
    describe: str = "missing",
    versions: bool = False,
    rules: str = "same",
    policies: Mapping[str, Mapping[str, list[str]]] = {},
) -> Run:
    """scripts/deploy.sh for p-1 in europe-west1 (not a dry run) against the stand-ins.

    Args:
        policies: the IAM policies gcloud answers ``get-iam-policy`` with, by what the command
            names (``"secrets token-keys"``, ``"pubsub topics NAME"``, ``"projects p-1"``): role
            -> members, each an unconditional binding; a role ending in ``?condition`` stands
            for a conditional binding. Anything else has no bindings.
    """
    (tmp_path / "tmp").mkdir()
    (tmp_path / "policies").mkdir()
    for named, bindings in policies.items():
        listed = [
            {"role": role.removesuffix("?condition"), "members": members}
            | ({"condition": {"title": "t", "expression": "true"}} if "?" in role else {})
            for role, members in bindings.items()
        ]
        policy = {"bindings": listed, "etag": "BwX"}
        (tmp_path / "policies" / f"{named.replace(' ', '_')}.json").write_text(json.dumps(policy))
    for name, text in (("gcloud", FAKE_GCLOUD), ("curl", FAKE_CURL)):
        (tmp_path / name).write_text(text)
        (tmp_path / name).chmod(0o755)
    environment = {
        "PATH": f"{tmp_path}:{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path / "tmp"),
        "INTERNAL_INVOKERS": INVOKER,
        "OAUTH_CLIENT_ID": OAUTH_CLIENT_ID,
        "FAKE_DIR": str(tmp_path),
        "FAKE_DESCRIBE": describe,
        "FAKE_VERSIONS": "1" if versions else "",
        "FAKE_TOKEN": TOKEN,
        "FAKE_RULES": rules,
        "FAKE_RULES_SOURCE": RULES,
        "IAM_PROPAGATION_SECONDS": "0",  # the tests that wait say so
        **env,
    }
    result = subprocess.run(
        [
            "bash",
            str(ROOT / "scripts" / "deploy.sh"),
            "--project",
            PROJECT,
            "--region",
            REGION,
            *arguments,
        ],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    gcloud_log, curl_log = tmp_path / "gcloud.log", tmp_path / "curl.log"
    return Run(
        result,
        [shlex.split(line) for line in gcloud_log.read_text().splitlines()]
        if gcloud_log.exists()
        else [],
        [json.loads(line) for line in curl_log.read_text().splitlines()]
        if curl_log.exists()
        else [],
    )


def changes(run: Run) -> list[list[str]]:
    """The gcloud calls that would change something (everything but reads)."""
    reads = ("describe", "list", "print-access-token", "get-value", "get-iam-policy")
    return [call for call in run.gcloud if not set(reads) & set(call)]


# -- a. The first run creates every secret, then names each that has no version. ------------


def test_the_first_run_creates_every_secret_then_lists_those_without_a_version(
    tmp_path: Path,
) -> None:
    # GIVEN a project with nothing in it
    run = deploy(tmp_path, describe="missing", versions=False)
    # THEN every secret is created, and the run stops before anything else
    assert run.result.returncode == 1
    created = [call[3] for call in run.called("secrets", "create")]
    assert created == ["cookie-keys", "oauth-client", "token-public-keys", "token-keys"]
    assert not run.called("firestore")
    assert not run.called("functions")
    # AND it names them all at once, each with the command that adds its version
    assert "cookie-keys oauth-client token-public-keys token-keys" in run.result.stderr
    assert "gcloud secrets versions add oauth-client --data-file=" in run.result.stderr
    assert "| gcloud secrets versions add token-keys --data-file=-" in run.result.stderr
    assert "token-keys public | gcloud secrets versions add token-public-keys" in run.result.stderr
    assert "| gcloud secrets versions add cookie-keys --data-file=-" in run.result.stderr


def test_the_second_run_deploys(tmp_path: Path) -> None:
    run = deploy(tmp_path, describe="exists", versions=True)
    assert run.result.returncode == 0, run.result.stderr
    assert not run.called("secrets", "create")
    assert len(list(deploys(run.gcloud))) == len(ENTRY_POINTS)


# -- b. NOT_FOUND means missing; any other describe failure stops with gcloud's words. --------


def test_a_describe_that_fails_for_another_reason_stops_with_gclouds_message(
    tmp_path: Path,
) -> None:
    run = deploy(tmp_path, describe="denied")
    assert run.result.returncode == 1
    assert "PERMISSION_DENIED: Permission denied on cookie-keys" in run.result.stderr
    assert "could not tell whether" in run.result.stderr
    assert not run.called("secrets", "create")


def test_existing_resources_are_updated_not_created(tmp_path: Path) -> None:
    run = deploy(tmp_path, describe="exists", versions=True)
    creates = [call for call in run.gcloud if "create" in call[:5]]
    assert creates == []
    assert run.called("pubsub", "subscriptions", "update")


# -- c, d. Every setting is checked before the first change. ---------------------------------


@pytest.mark.parametrize(
    ("terraform", "gcloud"),
    [
        ("ALLOW_ALL", "all"),
        ("ALLOW_INTERNAL_ONLY", "internal-only"),
        ("ALLOW_INTERNAL_AND_GCLB", "internal-and-gclb"),
        ("internal-and-gclb", "internal-and-gclb"),
    ],
)
def test_internal_ingress_takes_terraforms_spelling_too(
    tmp_path: Path, terraform: str, gcloud: str
) -> None:
    run = deploy(
        tmp_path, env={"INTERNAL_HTTP_INGRESS": terraform}, describe="exists", versions=True
    )
    assert run.result.returncode == 0, run.result.stderr
    ingress = {
        call[3]: flags(call)["ingress-settings"] for call in run.called("functions", "deploy")
    }
    assert ingress["disconnect"] == gcloud
    assert ingress["authorize"] == "all"


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("INTERNAL_HTTP_INGRESS", "ALLOW_EVERYONE"),
        ("REQUESTS_TOPIC", "goog-requests"),
        ("RESULTS_TOPIC", "1results"),
        ("DEAD_LETTER_TOPIC", "a b"),
        ("OAUTH_CLIENT_SECRET_ID", "oauth/client"),
        ("TOKEN_KEYS_SECRET_ID", "token keys"),
        ("MAX_DELIVERY_ATTEMPTS", "4"),
        ("MAX_DELIVERY_ATTEMPTS", "101"),
        ("MAX_DELIVERY_ATTEMPTS", "five"),
        ("RENEW_WATCHES_SCHEDULE", " "),
        ("SCHEDULER_TIME_ZONE", "Etc/ UTC"),
        ("FIRESTORE_LOCATION", "Europe West"),
        ("INTERNAL_INVOKERS", "allUsers"),
        ("INTERNAL_INVOKERS", "serviceAccount:a@p.iam.gserviceaccount.com,allAuthenticatedUsers"),
        ("INTERNAL_INVOKERS", "pipeline@p-1.iam.gserviceaccount.com"),
        ("INTERNAL_INVOKERS", "user:bob"),
        ("GMAIL_QUOTA_PROFILE", "2027"),
    ],
)
def test_a_bad_setting_is_refused_before_any_change(
    tmp_path: Path, setting: str, value: str
) -> None:
    run = deploy(tmp_path, env={setting: value}, describe="missing", versions=True)
    assert run.result.returncode == 2
    assert f"deploy.sh: {setting} must" in run.result.stderr
    assert "nothing was changed" in run.result.stderr
    assert changes(run) == []


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["--project", "P_1"], "--project must"),
        (["--project", "p-1-"], "--project must"),
        (["--region", "Europe"], "--region must"),
        (["--runtime", "nodejs22"], "--runtime must"),
        (["--sizing", "list_messages.memory=lots"], "--sizing list_messages.memory must"),
        (["--sizing", "list_messages.max_instances=-1"], "--sizing list_messages.max_instances"),
        (["--sizing", "list_messages.cpu=two"], "--sizing list_messages.cpu must"),
        (["--sizing", "list_messages.timeout_seconds=0"], "--sizing list_messages.timeout"),
    ],
)
def test_a_bad_flag_is_refused_before_any_change(
    tmp_path: Path, arguments: list[str], named: str
) -> None:
    run = deploy(tmp_path, *arguments, describe="missing", versions=True)
    assert run.result.returncode == 2
    assert named in run.result.stderr
    assert changes(run) == []


def test_all_bad_settings_are_named_at_once(tmp_path: Path) -> None:
    env = {"MAX_DELIVERY_ATTEMPTS": "1", "INTERNAL_HTTP_INGRESS": "everyone"}
    run = deploy(tmp_path, "--sizing", "list_messages.memory=lots", env=env)
    assert run.result.returncode == 2
    for named in ("MAX_DELIVERY_ATTEMPTS", "INTERNAL_HTTP_INGRESS", "list_messages.memory"):
        assert named in run.result.stderr


def test_internal_invokers_are_trimmed_and_empty_members_dropped(tmp_path: Path) -> None:
    invokers = " group:ops@example.com , ,serviceAccount:pipeline@p-1.iam.gserviceaccount.com,"
    result, _ = dry_run(tmp_path, env={"INTERNAL_INVOKERS": invokers})
    assert result.returncode == 0, result.stderr
    members = sorted(
        flags(call)["member"]
        for call in gcloud_commands(result.stdout)
        if call[1:3] == ["functions", "add-invoker-policy-binding"] and call[3] == "disconnect"
    )
    assert members == ["group:ops@example.com", INVOKER]


# -- e. The Firestore rules: the token never on a command line; uploaded only when changed. ---


def test_rules_already_released_are_not_uploaded_again(tmp_path: Path) -> None:
    run = deploy(tmp_path, describe="exists", versions=True, rules="same")
    assert run.result.returncode == 0, run.result.stderr
    assert [call["method"] for call in run.curl] == ["GET", "GET"]
    assert run.curl[1]["url"].endswith("/v1/projects/p-1/rulesets/old")


def test_changed_rules_are_uploaded_and_released(tmp_path: Path) -> None:
    run = deploy(tmp_path, describe="exists", versions=True, rules="different")
    assert run.result.returncode == 0, run.result.stderr
    assert [call["method"] for call in run.curl] == ["GET", "GET", "POST", "PATCH"]
    uploaded = json.loads(run.curl[2]["body"])
    assert uploaded["source"]["files"] == [{"name": "firestore.rules", "content": RULES}]
    assert json.loads(run.curl[3]["body"])["release"]["rulesetName"] == "projects/p-1/rulesets/new"


def test_rules_are_released_in_a_project_that_has_none(tmp_path: Path) -> None:
    run = deploy(tmp_path, describe="exists", versions=True, rules="missing")
    assert run.result.returncode == 0, run.result.stderr
    assert [call["method"] for call in run.curl] == ["GET", "POST", "POST"]
    assert run.curl[2]["url"].endswith("/v1/projects/p-1/releases")


@pytest.mark.parametrize("rules", ["same", "different", "missing"])
def test_the_access_token_never_reaches_a_command_line(tmp_path: Path, rules: str) -> None:
    run = deploy(tmp_path, describe="exists", versions=True, rules=rules)
    assert run.curl
    for call in run.curl:
        assert TOKEN not in " ".join(call["argv"])
        assert f"Authorization: Bearer {TOKEN}" in call["config"]
    assert all(TOKEN not in " ".join(call) for call in run.gcloud)
    assert list((tmp_path / "tmp").iterdir()) == []  # the config file is gone with the run


@pytest.mark.parametrize(
    ("rules", "said"),
    [
        ("denied", "The caller does not have permission"),
        ("unreachable", "Could not resolve host: firebaserules.googleapis.com"),
    ],
)
def test_a_failed_rules_call_shows_the_apis_words_and_the_scripts(
    tmp_path: Path, rules: str, said: str
) -> None:
    run = deploy(tmp_path, describe="exists", versions=True, rules=rules)
    assert run.result.returncode == 1
    assert "deploy.sh: reading the release cloud.firestore" in run.result.stderr
    assert said in run.result.stderr


# -- f. A function that mounts no secret is deployed without any. ------------------------------


def test_a_function_without_secrets_is_deployed_with_none(tmp_path: Path) -> None:
    # GIVEN a definition in which disconnect mounts no secret
    definition = json.loads((ROOT / "infra" / "functions.json").read_text())
    definition["functions"]["disconnect"]["secrets"] = []
    path = tmp_path / "functions.json"
    path.write_text(json.dumps(definition))
    # WHEN deploy.sh deploys it
    result, _ = dry_run(tmp_path, env={"FUNCTIONS_DEFINITION": str(path)})
    assert result.returncode == 0, result.stderr
    commands = gcloud_commands(result.stdout)
    # THEN disconnect's secrets are cleared, and it may read none
    by_name = {call[3]: call for call in deploys(commands)}
    assert "--clear-secrets" in by_name["disconnect"]
    assert "set-secrets" not in flags(by_name["disconnect"])
    member = f"serviceAccount:fn-disconnect@{PROJECT}.iam.gserviceaccount.com"
    secret_grants = [c for c in commands if c[1:3] == ["secrets", "add-iam-policy-binding"]]
    assert secret_grants
    assert [c for c in secret_grants if flags(c)["member"] == member] == []
    # AND the others still mount theirs
    assert "set-secrets" in flags(by_name["authorize"])
    assert "--clear-secrets" not in by_name["authorize"]


# -- g. make deploy passes flags through. ----------------------------------------------------


def test_make_deploy_passes_deploy_flags_through() -> None:
    result = subprocess.run(
        [
            "make",
            "-n",
            "deploy",
            "PROJECT=p-1",
            "REGION=europe-west1",
            "DEPLOY_FLAGS=--dry-run --sizing list_messages.memory=1Gi",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    (line,) = [line for line in result.stdout.splitlines() if "scripts/deploy.sh" in line]
    assert shlex.split(line)[-3:] == ["--dry-run", "--sizing", "list_messages.memory=1Gi"]


# -- What infra/ learnt at first contact, mirrored by the gcloud path. --------------------------


def test_the_first_run_enables_cloud_resource_manager(tmp_path: Path) -> None:
    # Project-level IAM grants and `projects describe` need it, and it is off in a new project.
    run = deploy(tmp_path, describe="missing", versions=True)
    [enable] = run.called("services", "enable")
    assert "cloudresourcemanager.googleapis.com" in enable


def test_new_accounts_wait_for_their_grants_before_the_first_deploy(tmp_path: Path) -> None:
    # GIVEN a project where the service accounts do not exist yet
    run = deploy(tmp_path, describe="missing", versions=True, env={"IAM_PROPAGATION_SECONDS": "1"})
    # THEN the script waits for their grants to spread before it deploys
    assert "Waiting 1 s for the new accounts' grants to spread" in run.result.stderr


def test_a_second_run_does_not_wait(tmp_path: Path) -> None:
    run = deploy(tmp_path, describe="exists", versions=True, env={"IAM_PROPAGATION_SECONDS": "1"})
    assert "Waiting" not in run.result.stderr


def test_public_access_without_all_users_turns_the_invoker_check_off(tmp_path: Path) -> None:
    # GIVEN an organisation whose policy forbids allUsers
    run = deploy(
        tmp_path,
        describe="missing",
        versions=True,
        env={"PUBLIC_ACCESS": "invoker_iam_disabled", "IAM_PROPAGATION_SECONDS": "0"},
    )
    # THEN no function is deployed open to allUsers, and the public ones skip the check
    deploys = run.called("functions", "deploy")
    assert deploys
    assert not [call for call in deploys if "--allow-unauthenticated" in call]
    updated = sorted(call[4] for call in run.called("run", "services", "update"))
    assert updated == ["authorize", "oauth2callback", "security-events"]
    assert all("--no-invoker-iam-check" in call for call in run.called("run", "services", "update"))


def test_the_scheduler_job_lives_in_the_scheduler_region(tmp_path: Path) -> None:
    run = deploy(
        tmp_path,
        describe="missing",
        versions=True,
        env={"SCHEDULER_REGION": "europe-west3"},
    )
    [job] = run.called("scheduler", "jobs", "create")
    assert "--location=europe-west3" in job


def test_a_bad_public_access_or_scheduler_region_changes_nothing(tmp_path: Path) -> None:
    run = deploy(
        tmp_path,
        describe="missing",
        versions=True,
        env={"PUBLIC_ACCESS": "everyone", "SCHEDULER_REGION": "Europe"},
    )
    assert run.result.returncode == 2
    assert "PUBLIC_ACCESS must be allUsers or invoker_iam_disabled" in run.result.stderr
    assert "SCHEDULER_REGION must be a Cloud Scheduler region" in run.result.stderr
    assert changes(run) == []


# -- h. An upgrade removes the grants an earlier version made, and only those. ----------------

ACCESSOR, VIEWER = "roles/secretmanager.secretAccessor", "roles/storage.objectViewer"
PUBLISHER, SUBSCRIBER = "roles/pubsub.publisher", "roles/pubsub.subscriber"
OPERATOR = "user:ops@example.com"
CONSUMER = "group:crm-readers@example.com"
OLD_CONSUMER = "group:old-readers@example.com"
PUBLISHER_MEMBER = "serviceAccount:crm@p-1.iam.gserviceaccount.com"
OLD_PUBLISHER = "serviceAccount:old-crm@p-1.iam.gserviceaccount.com"
BUILD = f"serviceAccount:functions-build@{PROJECT}.iam.gserviceaccount.com"


def fn(name: str) -> str:
    return f"serviceAccount:fn-{name}@{PROJECT}.iam.gserviceaccount.com"


def test_an_upgrade_removes_exactly_the_stale_grants(tmp_path: Path) -> None:
    # GIVEN a deployment an earlier version made: the public functions could read the token
    # keys, the security events receiver the client secret, the callback publish re-auth events,
    # the build account read every bucket, and other pipeline members were given than now
    policies = {
        "secrets token-keys": {
            ACCESSOR: [
                fn("authorize"),
                fn("oauth2callback"),
                fn("security-events"),
                fn("list-messages"),
                OPERATOR,
                "serviceAccount:backup@p-1.iam.gserviceaccount.com",
            ],
            "roles/secretmanager.admin": [fn("authorize")],
        },
        "secrets oauth-client": {ACCESSOR: [fn("security-events"), fn("oauth2callback")]},
        "projects p-1": {
            VIEWER: [BUILD, OPERATOR],
            f"{VIEWER}?condition": [BUILD],
            "roles/owner": [OPERATOR],
        },
        "pubsub topics mailbox-requests-default": {
            PUBLISHER: [PUBLISHER_MEMBER, OLD_PUBLISHER],
            "roles/pubsub.viewer": [OLD_PUBLISHER],
        },
        "pubsub topics reauth-required-default": {
            PUBLISHER: [fn("oauth2callback"), fn("watch"), fn("security-events")],
            SUBSCRIBER: [CONSUMER, OLD_CONSUMER],
        },
        "pubsub subscriptions reauth-required-default-pull": {SUBSCRIBER: [CONSUMER, OLD_CONSUMER]},
        "pubsub topics mailbox-results-default": {PUBLISHER: [fn("list-messages")]},
    }
    # WHEN deploy.sh runs again with this version's definition and members
    run = deploy(
        tmp_path,
        f"--pipeline-publisher=default={PUBLISHER_MEMBER}",
        f"--pipeline-consumer=default={CONSUMER}",
        describe="exists",
        versions=True,
        policies=policies,
    )
    assert run.result.returncode == 0, run.result.stderr
    removed = {
        (
            " ".join(call[1 : call.index("remove-iam-policy-binding") + 2]),
            flags(call)["member"],
            flags(call)["role"],
        )
        for call in run.gcloud
        if "remove-iam-policy-binding" in call
    }
    # THEN exactly the stale grants are removed: not the operator's, not another account's on a
    # secret, not roles this script does not manage, not the conditional build grant
    assert removed == {
        ("secrets remove-iam-policy-binding token-keys", fn("authorize"), ACCESSOR),
        ("secrets remove-iam-policy-binding token-keys", fn("oauth2callback"), ACCESSOR),
        ("secrets remove-iam-policy-binding token-keys", fn("security-events"), ACCESSOR),
        ("secrets remove-iam-policy-binding oauth-client", fn("security-events"), ACCESSOR),
        ("projects remove-iam-policy-binding p-1", BUILD, VIEWER),
        (
            "pubsub topics remove-iam-policy-binding mailbox-requests-default",
            OLD_PUBLISHER,
            PUBLISHER,
        ),
        (
            "pubsub topics remove-iam-policy-binding reauth-required-default",
            fn("oauth2callback"),
            PUBLISHER,
        ),
        (
            "pubsub topics remove-iam-policy-binding reauth-required-default",
            OLD_CONSUMER,
            SUBSCRIBER,
        ),
        (
            "pubsub subscriptions remove-iam-policy-binding reauth-required-default-pull",
            OLD_CONSUMER,
            SUBSCRIBER,
        ),
    }
    # AND the project-wide grant goes by its unconditional binding only
    [project] = [
        call for call in run.gcloud if call[1:3] == ["projects", "remove-iam-policy-binding"]
    ]
    assert "--condition=None" in project
    # AND it is done after the functions are deployed without what they lose
    last_deploy = max(
        i for i, call in enumerate(run.gcloud) if call[1:3] == ["functions", "deploy"]
    )
    first_removal = min(
        i for i, call in enumerate(run.gcloud) if "remove-iam-policy-binding" in call
    )
    assert last_deploy < first_removal


def test_a_first_run_or_a_dry_run_removes_nothing(tmp_path: Path) -> None:
    (tmp_path / "first").mkdir()
    (tmp_path / "dry").mkdir()
    run = deploy(tmp_path / "first", describe="missing", versions=True)
    assert run.result.returncode == 0, run.result.stderr
    assert not [call for call in run.gcloud if "remove-iam-policy-binding" in call]
    result, _ = dry_run(tmp_path / "dry")
    assert result.returncode == 0, result.stderr
    assert "remove-iam-policy-binding" not in result.stdout
    assert "# gcloud secrets get-iam-policy token-keys: remove" in result.stdout
