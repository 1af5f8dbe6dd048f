"""What tests/infra/ reads: main.py's entry points, functions/config.py's required variables, and
infra/*.tf parsed with python-hcl2, plus the checks that hold one against the others.

The checks return a list of problems (one sentence each) rather than asserting, so a test can show
that they catch a removed function or a removed variable as well as that the real tree passes.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import shutil
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN_PY = ROOT / "main.py"

HTTP = "http"
CLOUD_EVENT = "cloud_event"

# The contract's browser-facing functions (docs/design.md §3) and the receiver Google posts
# security event tokens to (it authenticates by their signature): public, everything else via IAM.
BROWSER_FACING = frozenset({"authorize", "oauth2callback"})
PUBLIC = BROWSER_FACING | {"security_events"}

# Variables one entry point needs beyond what every function needs at start-up (docs/design.md §3:
# "RESULTS_TOPIC: required for list_messages"). Applied only to entry points main.py has.
_USES_TOKENS = frozenset({"TOKEN_ENCRYPTION_KEYS", "OAUTH_CLIENT_SECRETS"})
REQUIRED_BY_ENTRY_POINT: Mapping[str, frozenset[str]] = {
    "authorize": frozenset({"COOKIE_KEYS"}),  # and OAUTH_CLIENT_ID: test_key_custody.py
    "oauth2callback": frozenset({"COOKIE_KEYS", "TOKEN_PUBLIC_KEYS", "OAUTH_CLIENT_SECRETS"}),
    "security_events": frozenset(),  # OAUTH_CLIENT_ID, no client secret: test_key_custody.py
    "list_messages": frozenset({"RESULTS_TOPIC"}) | _USES_TOKENS,
    "gmail_push": frozenset({"RESULTS_TOPIC"}) | _USES_TOKENS,
    "disconnect": _USES_TOKENS,
    "watch": _USES_TOKENS,
    "renew_watches": frozenset({"UPKEEP_TOPIC"}) | _USES_TOKENS,
    "upkeep_user": _USES_TOKENS,
}
"""What each function needs beyond what every one does: the client and keys it uses (the code
asks for them on first use; ``functions.services``) and the topics it publishes to."""

_FRAMEWORK_DECORATORS = {HTTP: HTTP, CLOUD_EVENT: CLOUD_EVENT}


def declared_entry_points(source: str) -> dict[str, str]:
    """The functions main.py decorates with functions_framework.http or .cloud_event.

    Returns:
        entry point name -> ``"http"`` or ``"cloud_event"``.
    """
    entry_points: dict[str, str] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if (
                isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Name)
                and target.value.id == "functions_framework"
                and target.attr in _FRAMEWORK_DECORATORS
            ):
                entry_points[node.name] = _FRAMEWORK_DECORATORS[target.attr]
    return entry_points


# --- functions/config.py ------------------------------------------------------------------------

_SAMPLE_VALUES = {
    "OAUTH_CLIENT_SECRETS": "projects/p-1/secrets/oauth-client/versions/latest",
    "OAUTH_CLIENT_ID": "123456789012-abc.apps.googleusercontent.com",
    "TOKEN_ENCRYPTION_KEYS": "projects/p-1/secrets/token-keys/versions/latest",
    "OAUTH_REDIRECT_URI": "https://europe-west1-p-1.cloudfunctions.net/oauth2callback",
    "AUTHORIZE_URL": "https://europe-west1-p-1.cloudfunctions.net/authorize",
    "OAUTH_SCOPES": "openid email https://www.googleapis.com/auth/gmail.readonly",
    "ALLOWED_RETURN_TO": "https://app.example.com/",
    "GOOGLE_CLOUD_PROJECT": "p-1",
    "LOG_LEVEL": "INFO",
    "PIPELINES": "default",
    "GMAIL_QUOTA_PROFILE": "2026",
}


def _sample_value(name: str) -> str:
    """A well-formed value for a configuration variable, by what its name says it holds."""
    if name in _SAMPLE_VALUES:
        return _SAMPLE_VALUES[name]
    if name.endswith(("_URI", "_URL", "_ROOT")):
        return "https://example.com/"
    if name.endswith("_TOPIC"):
        return f"projects/p-1/topics/{name.lower().replace('_', '-')}"
    if name.endswith("_COLLECTION"):
        return name.lower()
    if name.endswith("_SECONDS"):
        return "60"
    if name.endswith("_DAYS"):
        return "30"
    if name.endswith("_IDS"):
        return "INBOX"
    return "projects/p-1/secrets/sample/versions/1"


def config_variables() -> list[str]:
    """The environment variable names functions/config.py declares (``NAME = "NAME"``)."""
    from functions import config

    return sorted(
        name
        for name, value in vars(config).items()
        if name.isupper() and isinstance(value, str) and value == name
    )


def required_at_startup() -> frozenset[str]:
    """The variables without which functions/config.py refuses to start, found by trying.

    Every declared variable gets a well-formed sample value; then each is left out in turn, and
    those whose absence raises ConfigError are required. This follows config.py as it changes.
    """
    from functions.config import load_settings
    from functions.errors import ConfigError

    names = config_variables()
    full = {name: _sample_value(name) for name in names if not name.endswith("_EMULATOR_HOST")}
    load_settings(full)  # the samples themselves must be acceptable
    required = set()
    for name in full:
        try:
            load_settings({key: value for key, value in full.items() if key != name})
        except ConfigError:
            required.add(name)
    return frozenset(required)


# --- infra/*.tf ---------------------------------------------------------------------------------


@dataclass
class Infra:
    """infra/*.tf as python-hcl2 reads it: the locals merged, the resources by type and name,
    the input variables by name."""

    locals: dict[str, Any]
    resources: dict[tuple[str, str], dict[str, Any]]
    text: dict[str, str]
    variables: dict[str, dict[str, Any]]

    def resource(self, kind: str, name: str) -> dict[str, Any] | None:
        return self.resources.get((kind, name))

    def default(self, variable: str) -> Any:
        """The default of an input variable, unquoted; KeyError when it has none."""
        return unquote(self.variables[variable]["default"])

    def copy(self) -> Infra:
        return copy.deepcopy(self)


def load_infra(infra_dir: Path = INFRA) -> Infra:
    """Parse every .tf file of ``infra_dir``."""
    merged_locals: dict[str, Any] = {}
    resources: dict[tuple[str, str], dict[str, Any]] = {}
    text: dict[str, str] = {}
    variables: dict[str, dict[str, Any]] = {}
    for path in sorted(infra_dir.glob("*.tf")):
        text[path.name] = path.read_text()
        with path.open() as handle:
            tree = hcl2.load(handle)
        for block in tree.get("locals", []):
            merged_locals.update({k: v for k, v in block.items() if k != "__is_block__"})
        for block in tree.get("resource", []):
            for kind, by_name in block.items():
                for name, body in by_name.items():
                    resources[(unquote(kind), unquote(name))] = body
        for block in tree.get("variable", []):
            variables.update({unquote(name): body for name, body in block.items()})
    definition = infra_dir / "functions.json"
    if definition.is_file():
        merged_locals.update(_definition_locals(json.loads(definition.read_text())))
    return Infra(merged_locals, resources, text, variables)


def _definition_locals(definition: Mapping[str, Any]) -> dict[str, Any]:
    """infra/functions.json as the locals infra/locals.tf derives from it (local.functions
    with ``public`` and ``ingress`` worked out as there, local.topic_env_vars, the secrets'
    variables), so the contract reads one shape whichever file a fact lives in."""
    functions = {}
    for key, fn in definition["functions"].items():
        public = fn["access"] == "public"
        ingress = (
            "ALLOW_ALL"
            if public
            else "${var.internal_http_ingress}"
            if fn["access"] == "internal"
            else "ALLOW_INTERNAL_ONLY"
        )
        functions[key] = {**fn, "public": public, "ingress": ingress}
    return {
        "functions": functions,
        "topic_env_vars": dict(definition["topic_variables"]),
        "secrets": {key: dict(secret) for key, secret in definition["secrets"].items()},
    }


def unquote(value: Any) -> Any:
    """A literal string as written in HCL (``"x"``) -> ``x``; anything else unchanged."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def expression(value: Any) -> str:
    """An HCL expression (``${...}``) without its wrapper and with whitespace collapsed."""
    text = str(value)
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1]
    return " ".join(text.split())


def block(body: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The single nested block ``name`` of a resource body (empty when absent)."""
    blocks = body.get(name) or [{}]
    first: dict[str, Any] = blocks[0] if isinstance(blocks, list) else blocks
    return first


def _keys(mapping: Any) -> set[str]:
    return {str(unquote(key)) for key in mapping} if isinstance(mapping, dict) else set()


# --- the contract -------------------------------------------------------------------------------


def contract_problems(
    entry_points: Mapping[str, str],
    infra: Infra,
    required: Iterable[str],
    main_source: str,
) -> list[str]:
    """Everything that keeps infra/ from deploying main.py's entry points as the contract says.

    Args:
        entry_points: main.py's entry points and their kinds (:func:`declared_entry_points`).
        infra: the parsed infra/ (:func:`load_infra`).
        required: the variables every function needs at start-up (:func:`required_at_startup`).
        main_source: main.py's text, to check that Terraform finds the same entry points.
    """
    problems: list[str] = []
    functions = infra.locals.get("functions")
    if not isinstance(functions, dict):
        return ["infra/locals.tf has no map local.functions (one entry per entry point)."]
    # Topic kinds: one topic each per pipeline (requests, results, re-auth), or shared.
    topics = _keys(infra.locals.get("pipeline_topic_templates")) | _keys(
        infra.locals.get("shared_topics")
    )
    topic_env_vars = {
        str(k): str(unquote(v)) for k, v in (infra.locals.get("topic_env_vars") or {}).items()
    }
    common_env = infra.locals.get("common_env") or {}
    secret_env_vars = {
        str(key): str(unquote(spec.get("variable", "")))
        for key, spec in (infra.locals.get("secrets") or {}).items()
        if isinstance(spec, dict)
    }
    required = frozenset(required)

    # Terraform's own reading of main.py must agree with Python's.
    pattern = unquote(infra.locals.get("entry_point_pattern", ""))
    pattern = pattern.replace("\\\\", "\\")
    found = {name: kind for kind, name in re.findall(pattern, main_source)} if pattern else {}
    if found != dict(entry_points):
        problems.append(
            f"local.entry_point_pattern finds {sorted(found.items())} in main.py, but its "
            f"decorators declare {sorted(entry_points.items())}."
        )

    for entry_point, kind in sorted(entry_points.items()):
        spec = functions.get(entry_point)
        if not isinstance(spec, dict):
            problems.append(
                f"main.py's entry point {entry_point} has no function in local.functions."
            )
            continue
        problems += _spec_problems(
            entry_point, kind, spec, topics, topic_env_vars, secret_env_vars, common_env, required
        )

    problems += _resource_problems(infra)
    return problems


def _spec_problems(
    entry_point: str,
    kind: str,
    spec: Mapping[str, Any],
    topics: set[str],
    topic_env_vars: Mapping[str, str],
    secret_env_vars: Mapping[str, str],
    common_env: Mapping[str, Any],
    required: frozenset[str],
) -> list[str]:
    problems: list[str] = []
    where = f"local.functions.{entry_point}"
    trigger = unquote(spec.get("trigger"))
    wanted_trigger = "http" if kind == HTTP else "pubsub"
    if trigger != wanted_trigger:
        problems.append(
            f"{where}.trigger is {trigger!r}, but main.py decorates it as {kind}: "
            f"it needs trigger = {wanted_trigger!r}."
        )
    topic = unquote(spec.get("topic"))
    if wanted_trigger == "pubsub" and topic not in topics:
        problems.append(f"{where}.topic must name a key of local.topics, got {topic!r}.")

    name = str(unquote(spec.get("name", "")))
    if not re.fullmatch(r"[a-z][a-z0-9-]{2,23}[a-z0-9]", name):
        problems.append(
            f"{where}.name {name!r} must be 4-25 lowercase letters, digits or hyphens "
            "(it names the function, its Cloud Run service and its fn-NAME service account)."
        )

    public = spec.get("public") is True
    ingress = str(unquote(spec.get("ingress", "")))
    if public != (entry_point in PUBLIC):
        problems.append(
            f"{where}.public is {public}: only {sorted(PUBLIC)} are public; every other "
            "function is invoked through IAM."
        )
    if public and ingress != "ALLOW_ALL":
        problems.append(f"{where}.ingress must be ALLOW_ALL for a public function.")
    if not public and ingress not in ("ALLOW_INTERNAL_ONLY", "${var.internal_http_ingress}"):
        problems.append(
            f"{where}.ingress must be ALLOW_INTERNAL_ONLY or var.internal_http_ingress, "
            f"got {ingress!r}."
        )

    publishes = [
        str(unquote(topic))
        for topic in [*(spec.get("publishes") or []), *(spec.get("names_topics") or [])]
    ]
    env: dict[str, Any] = {str(k): v for k, v in common_env.items()}
    for topic_key in publishes:
        if topic_key not in topic_env_vars:
            problems.append(f"{where}.publishes names {topic_key!r}, not a key of topic_env_vars.")
        else:
            env[topic_env_vars[topic_key]] = topic_key
    for secret_key in (str(unquote(secret)) for secret in spec.get("secrets") or []):
        if secret_key not in secret_env_vars:
            problems.append(f"{where}.secrets names {secret_key!r}, not a key of local.secrets.")
        else:
            env[secret_env_vars[secret_key]] = secret_key
    env.update({str(k): v for k, v in (spec.get("env") or {}).items()})
    for variable in sorted(required | REQUIRED_BY_ENTRY_POINT.get(entry_point, frozenset())):
        if not str(env.get(variable) or "").strip('"'):
            problems.append(
                f"{entry_point} needs {variable} at start-up, but infra/ does not set it "
                "(local.common_env, the secrets it mounts, the topics it publishes or its env)."
            )
    return problems


def _resource_problems(infra: Infra) -> list[str]:
    problems: list[str] = []
    function = infra.resource("google_cloudfunctions2_function", "function")
    if function is None:
        return ["infra/ has no resource google_cloudfunctions2_function.function."]
    build = block(function, "build_config")
    service = block(function, "service_config")
    expected = {
        "for_each": (function.get("for_each"), "local.deployed_functions"),
        "build_config.entry_point": (build.get("entry_point"), "each.key"),
        "build_config.runtime": (build.get("runtime"), "var.runtime"),
        "service_config.environment_variables": (
            service.get("environment_variables"),
            "local.function_env[each.key]",
        ),
        "service_config.ingress_settings": (service.get("ingress_settings"), "each.value.ingress"),
        "service_config.service_account_email": (
            service.get("service_account_email"),
            "google_service_account.function[each.key].email",
        ),
    }
    for attribute, (actual, wanted) in expected.items():
        if expression(actual) != wanted:
            problems.append(
                f"google_cloudfunctions2_function.function {attribute} must be {wanted}, "
                f"got {expression(actual)!r}."
            )

    function_env = expression(infra.locals.get("function_env", ""))
    for part in (
        "local.common_env",
        "local.secrets[secret].variable",
        "local.topic_env_vars[topic]",
        "fn.names_topics",
    ):
        if part not in function_env:
            problems.append(f"local.function_env must merge {part} into every function's env.")
    volumes = [
        body
        for dynamic in service.get("dynamic") or []
        for name, body in dynamic.items()
        if unquote(name) == "secret_volumes"
    ]
    if not volumes or expression(volumes[0].get("for_each")) != "local.secret_volumes[each.key]":
        problems.append(
            "google_cloudfunctions2_function.function must mount local.secret_volumes[each.key] "
            "(a dynamic secret_volumes block): its environment points at those files."
        )
    else:
        content = block(volumes[0], "content")
        versions = block(content, "versions")
        mounted = {
            "mount_path": (content.get("mount_path"), "secret_volumes.value.mount_path"),
            "secret": (content.get("secret"), "secret_volumes.value.secret"),
            "versions.version": (versions.get("version"), "secret_volumes.value.version"),
            "versions.path": (versions.get("path"), "secret_volumes.value.file"),
        }
        for attribute, (actual, wanted) in mounted.items():
            if expression(actual) != wanted:
                problems.append(
                    f"secret_volumes {attribute} must be {wanted} (the file the function's "
                    f"environment names), got {expression(actual)!r}."
                )

    push = infra.resource("google_pubsub_subscription", "push")
    if push is None:
        problems.append("infra/ has no google_pubsub_subscription.push for the event functions.")
    else:
        if expression(push.get("for_each")) != "local.push_subscriptions":
            problems.append(
                "google_pubsub_subscription.push must cover local.push_subscriptions (each event "
                "function's topics, one per pipeline for list_messages)."
            )
        if "google_cloudfunctions2_function.function[each.value.function]" not in expression(
            block(push, "push_config").get("push_endpoint")
        ):
            problems.append("google_pubsub_subscription.push must push to its function's URL.")
        if not block(push, "dead_letter_policy").get("max_delivery_attempts"):
            problems.append("google_pubsub_subscription.push needs a dead-letter policy.")
        if not block(push, "retry_policy"):
            problems.append("google_pubsub_subscription.push needs an explicit retry policy.")

    public_grants = [
        f"{kind}.{name}"
        for (kind, name), body in infra.resources.items()
        if unquote(body.get("member")) in ("allUsers", "allAuthenticatedUsers")
    ]
    if public_grants != ["google_cloud_run_service_iam_member.public"]:
        problems.append(
            f"Only google_cloud_run_service_iam_member.public may grant allUsers, found "
            f"{public_grants}."
        )
    public = infra.resource("google_cloud_run_service_iam_member", "public") or {}
    if expression(public.get("for_each")) not in (
        "local.public_functions",
        'var.public_access == "allUsers" ? local.public_functions : {}',
    ):
        problems.append("google_cloud_run_service_iam_member.public must cover only public ones.")
    return problems


# --- the uploaded source ------------------------------------------------------------------------


def gcloudignore_patterns(root: Path = ROOT) -> list[str]:
    """The patterns of .gcloudignore, as infra/locals.tf reads them."""
    lines = (line.strip() for line in (root / ".gcloudignore").read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def glob_regex(pattern: str) -> str:
    """A glob as a regular expression over a slash-separated path: ``*`` and ``?`` stay within
    one name, ``**`` crosses folders, ``[!x]`` and ``[^x]`` negate a class. This is what gitignore
    (so .gcloudignore) and doublestar (the archive provider's excludes) both mean by them."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            members = pattern[i + 1 : end]
            negated = members[:1] in ("!", "^")
            body = re.escape(members[1:] if negated else members).replace("\\-", "-")
            out.append(f"[{'^/' if negated else ''}{body}]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def ignored(relative: str, patterns: Iterable[str], is_dir: bool = False) -> bool:
    """Whether .gcloudignore leaves ``relative`` (or a folder it is in) out of the upload.

    gitignore semantics, as gcloud applies them (googlecloudsdk's gcloudignore.FileChooser): for
    the path and each folder it is in, the last matching pattern decides, ``!`` bringing back
    what an earlier one left out; a left-out folder cannot have anything brought back; a pattern
    ending in ``/`` matches folders only; one with a leading or inner slash is anchored at the
    root, any other matches a name at any depth.
    """
    patterns = list(patterns)
    parts = PurePosixPath(relative).parts
    for depth in range(len(parts)):
        prefix = "/".join(parts[: depth + 1])
        prefix_is_dir = depth < len(parts) - 1 or is_dir
        verdict = False
        for raw in patterns:
            negated = raw.startswith("!")
            pattern = raw[1:] if negated else raw
            if pattern.endswith("/") and not prefix_is_dir:
                continue
            pattern = pattern.rstrip("/")
            subject = parts[depth]
            if "/" in pattern:
                subject, pattern = prefix, pattern.lstrip("/")
            if re.fullmatch(glob_regex(pattern), subject):
                verdict = not negated
        if verdict:
            return True
    return False


def uploaded_files(root: Path = ROOT) -> list[str]:
    """The files `gcloud functions deploy --source` (scripts/deploy.sh) would upload."""
    patterns = gcloudignore_patterns(root)
    files = []
    for folder, subfolders, names in os.walk(root):
        base = Path(folder).relative_to(root).as_posix()
        here = "" if base == "." else f"{base}/"
        subfolders[:] = [name for name in subfolders if not ignored(here + name, patterns, True)]
        files += [here + name for name in names if not ignored(here + name, patterns)]
    return sorted(files)


def archived_files(root: Path, excludes: Iterable[str]) -> list[str]:
    """The files infra/source.tf's archive_file zips from ``root`` with these ``excludes``: the
    archive provider walks the folder and skips every path (a folder with all it holds) that an
    exclude matches as a doublestar glob (terraform-provider-archive, ``checkMatch``)."""
    compiled = [re.compile(glob_regex(exclude)) for exclude in excludes if exclude]

    def excluded(relative: str) -> bool:
        return any(pattern.fullmatch(relative) for pattern in compiled)

    files = []
    for folder, subfolders, names in os.walk(root):
        base = Path(folder).relative_to(root).as_posix()
        here = "" if base == "." else f"{base}/"
        subfolders[:] = [name for name in subfolders if not excluded(here + name)]
        files += [here + name for name in names if not excluded(here + name)]
    return sorted(files)


def gcloud_uploaded_files(root: Path = ROOT) -> list[str] | None:
    """What gcloud itself would upload from ``root`` (its own gcloudignore module, from the
    installed Google Cloud CLI), or None where the CLI is not installed."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        return None
    lib = Path(gcloud).resolve().parents[1] / "lib"
    if not (lib / "googlecloudsdk" / "command_lib" / "util" / "gcloudignore.py").is_file():
        return None
    for entry in (str(lib), str(lib / "third_party")):
        if entry not in sys.path:
            sys.path.append(entry)
    from googlecloudsdk.command_lib.util import gcloudignore  # type: ignore[import-not-found]

    chooser = gcloudignore.FileChooser.FromString((root / ".gcloudignore").read_text())
    return sorted(chooser.GetIncludedFiles(str(root), include_dirs=False))
