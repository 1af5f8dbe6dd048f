"""How each function is deployed, read from the one definition in ``infra/functions.json``.

Terraform (``infra/locals.tf``), ``scripts/deploy.sh`` and the local stack all take each function's
trigger, access, secret mounts, environment and sizing from that file: Terraform reads it with
``jsondecode``; this module reads it for the local stack and, run as
``python3 -m devstack.deployment``, for ``deploy.sh``. ``tests/infra/test_one_definition.py``
holds the three to the same environment, function by function.

Standard library only, and Python 3.9 syntax at run time: ``deploy.sh`` runs it with whatever
``python3`` the deployer has, outside the project's virtual environment.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFINITION = REPO_ROOT / "infra" / "functions.json"
MAIN = REPO_ROOT / "main.py"

ENTRY_POINT = re.compile(
    r"@functions_framework\.(http|cloud_event)\s+def\s+([A-Za-z_][A-Za-z0-9_]*)\s*\("
)
"""An entry point of ``main.py``: the same pattern ``infra/locals.tf`` applies."""

SIZING_FIELDS = (
    "memory",
    "cpu",
    "min_instances",
    "max_instances",
    "concurrency",
    "timeout_seconds",
)


@dataclass(frozen=True)
class Secret:
    """A secret mounted as a file: Cloud Run reads the version when the file is read.

    Attributes:
        key: its name in the definition (``oauth_client``, ``token_keys``).
        variable: the configuration variable given the file's path.
        mount_path: the directory the volume is mounted at (it shadows the whole directory).
        file: the file's name in that directory.
        default_id: the Secret Manager secret ID unless the deployment names another.
    """

    key: str
    variable: str
    mount_path: str
    file: str
    default_id: str

    @property
    def path(self) -> str:
        """Where a deployed function finds the file."""
        return f"{self.mount_path}/{self.file}"


_SIZING_TEXT = {
    "memory": re.compile(r"^[0-9]+(\.[0-9]+)?(k|Ki|M|Mi|G|Gi|KB|MB|GB)?$"),
    "cpu": re.compile(r"^([0-9]+(\.[0-9]+)?|\.[0-9]+)$"),
}
_SIZING_HINT = {
    "memory": "a size such as 512Mi or 1Gi",
    "cpu": "a number of CPUs such as 1 or 0.583",
}


@dataclass(frozen=True)
class Sizing:
    """What an instance gets and how many there may be (Cloud Run functions' service config)."""

    memory: str
    cpu: str
    min_instances: int
    max_instances: int
    concurrency: int
    timeout_seconds: int

    def overridden(self, changes: Mapping[str, str], function: str = "") -> Sizing:
        """This sizing with ``changes`` (field name → value as text) applied.

        Args:
            function: the entry point it sizes, to name the setting in an error.

        Raises:
            ValueError: for an unknown field, or a value Cloud Run functions would refuse,
                with a sentence that names the setting.
        """
        typed: dict[str, Any] = {}
        for name, value in changes.items():
            setting = f"--sizing {function}.{name}" if function else f"sizing {name}"
            if name not in SIZING_FIELDS:
                raise ValueError(
                    f"unknown sizing field {name!r} (one of {', '.join(SIZING_FIELDS)})"
                )
            if name in ("memory", "cpu"):
                if not _SIZING_TEXT[name].match(value):
                    raise ValueError(f"{setting} must be {_SIZING_HINT[name]}, not {value!r}")
                typed[name] = value
            elif not value.isdigit():
                raise ValueError(f"{setting} must be a whole number, not {value!r}")
            else:
                typed[name] = int(value)
        sized = replace(self, **typed)
        where = f"--sizing {function}" if function else "sizing"
        if sized.min_instances > sized.max_instances:
            raise ValueError(f"{where}: min_instances exceeds max_instances")
        if sized.concurrency < 1:
            raise ValueError(f"{where}.concurrency must be at least 1")
        if not 1 <= sized.timeout_seconds <= 3600:
            raise ValueError(f"{where}.timeout_seconds must be between 1 and 3600")
        return sized


@dataclass(frozen=True)
class Function:
    """One entry point of ``main.py`` as it is deployed.

    Attributes:
        key: the entry point's name in ``main.py`` (also ``FUNCTION_TARGET``).
        name: the Cloud Function's (and Cloud Run service's) name.
        trigger: ``http``, or ``pubsub`` for a push subscription on ``topic``.
        topic: the topic key whose messages it receives (event functions only).
        access: ``public`` (anyone), ``internal`` (the deployment's internal invokers),
            ``pubsub`` (the push subscription's identity) or ``scheduler``.
        schedule: run daily by Cloud Scheduler.
        secrets: keys of the secrets it mounts.
        firestore: whether its service account may use the database.
        publishes: topic keys it publishes to (each sets that topic's variable).
        names_topics: topic keys it only names (``users.watch``), which also set the variable.
        sizing: the shipped default sizing.
        pages: it shows people pages, so it gets the pages' settings (the service's name and
            links) and ``OAUTH_CLIENT_ID``.
        client_id: it gets ``OAUTH_CLIENT_ID`` without showing pages (the security events
            receiver: the client is the tokens' audience; it mounts no client secret).
    """

    key: str
    name: str
    description: str
    trigger: str
    topic: str | None
    access: str
    schedule: bool
    secrets: tuple[str, ...]
    firestore: bool
    publishes: tuple[str, ...]
    names_topics: tuple[str, ...]
    sizing: Sizing
    pages: bool = False
    client_id: bool = False

    @property
    def signature_type(self) -> str:
        """functions-framework's ``--signature-type``: ``http`` or ``cloudevent``."""
        return "http" if self.trigger == "http" else "cloudevent"


@dataclass(frozen=True)
class Definition:
    """The whole of ``infra/functions.json``."""

    functions: dict[str, Function]
    secrets: dict[str, Secret]
    topic_variables: dict[str, str]


def load(path: Path = DEFINITION) -> Definition:
    """Read the definition."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    secrets = {key: Secret(key=key, **value) for key, value in raw["secrets"].items()}
    functions = {
        key: Function(
            key=key,
            name=value["name"],
            description=value["description"],
            trigger=value["trigger"],
            topic=value["topic"],
            access=value["access"],
            schedule=value["schedule"],
            secrets=tuple(value["secrets"]),
            firestore=value["firestore"],
            publishes=tuple(value["publishes"]),
            names_topics=tuple(value["names_topics"]),
            sizing=Sizing(**value["sizing"]),
            pages=bool(value.get("pages", False)),
            client_id=bool(value.get("client_id", False)),
        )
        for key, value in raw["functions"].items()
    }
    return Definition(functions, secrets, dict(raw["topic_variables"]))


def entry_points(main: Path = MAIN) -> dict[str, str]:
    """The entry points ``main.py`` declares, with their decorator (``http``/``cloud_event``)."""
    return {name: kind for kind, name in ENTRY_POINT.findall(main.read_text(encoding="utf-8"))}


@dataclass(frozen=True)
class Settings:
    """A deployment's choices: Terraform's variables, ``deploy.sh``'s environment and flags.

    The defaults are ``infra/variables.tf``'s.
    """

    project: str
    region: str
    topics: Mapping[str, str] = field(
        default_factory=lambda: {
            "requests": "mailbox-requests-{pipeline}",
            "results": "mailbox-results-{pipeline}",
            "reauth": "reauth-required-{pipeline}",
            "gmail_push": "gmail-push",
            "upkeep": "daily-upkeep",
            "dead_letter": "mailbox-dead-letter",
        }
    )
    """Topic IDs by key; the pipeline kinds (:data:`PIPELINE_TOPICS`) are templates."""
    pipelines: Sequence[str] = ("default",)
    credentials_collection: str = "gmail_credentials"
    events_collection: str = "processed_events"
    auth_sessions_collection: str = "oauth_sessions"
    oauth_scopes: str = ""
    gmail_quota_profile: str = ""
    """``GMAIL_QUOTA_PROFILE``, set only when given (the code's default is ``legacy``)."""
    oauth_client_id: str = ""
    """``OAUTH_CLIENT_ID``, given to the functions with ``pages`` or ``client_id``."""
    allowed_return_to: Sequence[str] = ()
    page_settings: Mapping[str, str] = field(default_factory=dict)
    """SERVICE_NAME, SUPPORT_URL, PRIVACY_POLICY_URL: set only when given, on the functions
    that show pages."""
    sizing: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    secret_ids: Mapping[str, str] = field(default_factory=dict)

    def secret_id(self, secret: Secret) -> str:
        """The Secret Manager secret that ``secret`` is in this deployment."""
        return self.secret_ids.get(secret.key, secret.default_id)

    @property
    def functions_host(self) -> str:
        """Where ``authorize`` and ``oauth2callback`` share a host (and so a cookie)."""
        return f"https://{self.region}-{self.project}.cloudfunctions.net"

    def topic_path(self, key: str) -> str:
        """``projects/P/topics/T`` of the topic ``key`` (a template for the pipeline kinds)."""
        return f"projects/{self.project}/topics/{self.topics[key]}"

    def topic_ids(self, key: str) -> dict[str, str]:
        """The topics ``key`` stands for, by pipeline (``""`` for a shared topic)."""
        if key not in PIPELINE_TOPICS:
            return {"": self.topics[key]}
        template = self.topics[key]
        return {p: template.replace("{pipeline}", p) for p in sorted(self.pipelines)}


PIPELINE_TOPICS = ("requests", "results", "reauth")
"""The topic kinds each pipeline has its own of (infra/locals.tf ``pipeline_topic_templates``)."""


def sizing_of(function: Function, settings: Settings) -> Sizing:
    """The function's sizing: the shipped default with the deployment's overrides."""
    return function.sizing.overridden(settings.sizing.get(function.key, {}), function.key)


def environment(
    function: Function,
    definition: Definition,
    settings: Settings,
    *,
    authorize_url: str | None = None,
    redirect_uri: str | None = None,
    secrets_root: str = "",
) -> dict[str, str]:
    """The variables the deployment sets on ``function`` (the platform sets others itself).

    Args:
        authorize_url, redirect_uri: the public URLs; the cloudfunctions.net ones by default.
        secrets_root: prefix of every secret's mount path (the local stack lays them out under
            a folder of its own; deployed functions find them at the root).
    """
    env = {
        "GOOGLE_CLOUD_PROJECT": settings.project,
        "OAUTH_REDIRECT_URI": redirect_uri or f"{settings.functions_host}/oauth2callback",
        "AUTHORIZE_URL": authorize_url or f"{settings.functions_host}/authorize",
        "CREDENTIALS_COLLECTION": settings.credentials_collection,
        "EVENTS_COLLECTION": settings.events_collection,
        "AUTH_SESSIONS_COLLECTION": settings.auth_sessions_collection,
        "PIPELINES": ",".join(sorted(settings.pipelines)),
        # Cloud Run functions sets this itself; stating it keeps plans free of a permanent diff.
        "LOG_EXECUTION_ID": "true",
    }
    if settings.oauth_scopes:
        env["OAUTH_SCOPES"] = settings.oauth_scopes
    if settings.gmail_quota_profile:
        env["GMAIL_QUOTA_PROFILE"] = settings.gmail_quota_profile
    if settings.allowed_return_to:
        env["ALLOWED_RETURN_TO"] = ",".join(settings.allowed_return_to)
    if function.pages:
        env.update({name: value for name, value in settings.page_settings.items() if value})
    if (function.pages or function.client_id) and settings.oauth_client_id:
        env["OAUTH_CLIENT_ID"] = settings.oauth_client_id
    for key in function.secrets:
        secret = definition.secrets[key]
        env[secret.variable] = f"{secrets_root}{secret.path}"
    for key in (*function.publishes, *function.names_topics):
        env[definition.topic_variables[key]] = settings.topic_path(key)
    return env


def platform_environment(function: Function) -> dict[str, str]:
    """What Cloud Run functions itself sets in every instance of ``function``.

    The Python runtime's documented variables (``FUNCTION_TARGET``,
    ``FUNCTION_SIGNATURE_TYPE``, ``K_SERVICE``, ``K_REVISION``) and ``LOG_EXECUTION_ID``, which
    2nd-gen functions turn on by default. ``PORT`` is each server's own.
    """
    return {
        "FUNCTION_TARGET": function.key,
        "FUNCTION_SIGNATURE_TYPE": function.signature_type,
        "K_SERVICE": function.name,
        "K_REVISION": f"{function.name}-00001-loc",
        "LOG_EXECUTION_ID": "true",
    }


def deployed(definition: Definition, main: Path = MAIN) -> list[Function]:
    """The functions to deploy: every entry point of ``main.py``, in its order.

    Raises:
        ValueError: for an entry point the definition does not describe, or whose decorator
            does not match its trigger.
    """
    result = []
    for key, kind in entry_points(main).items():
        function = definition.functions.get(key)
        if function is None:
            raise ValueError(
                f"main.py declares {key}, which infra/functions.json does not describe"
            )
        if (kind == "http") != (function.trigger == "http"):
            raise ValueError(
                f"{key} is @functions_framework.{kind} but triggered by {function.trigger}"
            )
        result.append(function)
    return result


# -- deploy.sh ---------------------------------------------------------------------------------


def _parse_sizing(values: Sequence[str]) -> dict[str, dict[str, str]]:
    """``KEY.FIELD=VALUE`` items into ``{KEY: {FIELD: VALUE}}``."""
    sizing: dict[str, dict[str, str]] = {}
    for item in values:
        target, _, value = item.partition("=")
        key, _, name = target.partition(".")
        if not (key and name and value):
            raise ValueError(f"--sizing takes FUNCTION.FIELD=VALUE, not {item!r}")
        sizing.setdefault(key, {})[name] = value
    return sizing


PAGE_SETTINGS = ("SERVICE_NAME", "SUPPORT_URL", "PRIVACY_POLICY_URL")


def _page_settings(values: Sequence[str]) -> dict[str, str]:
    """``NAME=VALUE`` items, each one of :data:`PAGE_SETTINGS`."""
    settings = {}
    for item in values:
        name, _, value = item.partition("=")
        if name not in PAGE_SETTINGS:
            raise ValueError(
                f"--page-setting takes one of {', '.join(PAGE_SETTINGS)}, not {name!r}"
            )
        settings[name] = value
    return settings


def shell_assignments(function: Function, definition: Definition, settings: Settings) -> str:
    """One line of shell assignments describing ``function`` for ``deploy.sh``."""
    sizing = sizing_of(function, settings)
    env = environment(function, definition, settings)
    mounts = [
        f"{definition.secrets[key].path}={settings.secret_id(definition.secrets[key])}:latest"
        for key in function.secrets
    ]
    values = {
        "KEY": function.key,
        "NAME": function.name,
        "TRIGGER": function.trigger,
        "SIGNATURE_TYPE": function.signature_type,
        # NAME=TOPIC per push subscription: one per pipeline on a pipeline topic (as Terraform's
        # local.push_subscriptions names them).
        "SUBSCRIPTIONS": " ".join(
            f"{function.name}{f'-{p}' if p else ''}-push={topic}"
            for p, topic in (settings.topic_ids(function.topic) if function.topic else {}).items()
        ),
        "ACCESS": function.access,
        "SCHEDULE": "1" if function.schedule else "0",
        "FIRESTORE": "1" if function.firestore else "0",
        "PUBLISHES": " ".join(
            topic for key in function.publishes for topic in settings.topic_ids(key).values()
        ),
        "SECRET_IDS": " ".join(
            settings.secret_id(definition.secrets[key]) for key in function.secrets
        ),
        "SECRET_MOUNTS": ",".join(mounts),
        # gcloud's alternate delimiter (see `gcloud topic escaping`): values hold commas.
        "ENV_VARS": "^|^" + "|".join(f"{name}={value}" for name, value in env.items()),
        "MEMORY": sizing.memory,
        "CPU": sizing.cpu,
        "MIN_INSTANCES": str(sizing.min_instances),
        "MAX_INSTANCES": str(sizing.max_instances),
        "CONCURRENCY": str(sizing.concurrency),
        "TIMEOUT": str(sizing.timeout_seconds),
    }
    return " ".join(f"{name}={shlex.quote(value)}" for name, value in values.items())


def main(argv: Sequence[str] | None = None) -> int:
    """``deploy.sh``'s view of the definition: one line of assignments per deployed function."""
    parser = argparse.ArgumentParser(prog="python3 -m devstack.deployment")
    parser.add_argument("--project", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--topic", action="append", default=[], metavar="KEY=ID")
    parser.add_argument("--pipeline", action="append", default=[], metavar="NAME")
    parser.add_argument("--secret", action="append", default=[], metavar="KEY=ID")
    parser.add_argument("--collection", action="append", default=[], metavar="KIND=NAME")
    parser.add_argument("--oauth-client-id", default="")
    parser.add_argument("--scopes", default="")
    parser.add_argument("--gmail-quota-profile", choices=("", "legacy", "2026"), default="")
    parser.add_argument("--allowed-return-to", default="")
    parser.add_argument("--page-setting", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--sizing", action="append", default=[], metavar="FUNCTION.FIELD=VALUE")
    parser.add_argument(
        "--definition", type=Path, default=DEFINITION, help="default: infra/functions.json"
    )
    args = parser.parse_args(argv)
    try:
        definition = load(args.definition)
        defaults = Settings(project=args.project, region=args.region)
        topics = {**defaults.topics, **dict(item.split("=", 1) for item in args.topic)}
        collections = dict(item.split("=", 1) for item in args.collection)
        sizing = _parse_sizing(args.sizing)
        functions = deployed(definition)
        unknown = set(sizing) - {function.key for function in functions}
        if unknown:
            raise ValueError(f"--sizing names no deployed function: {', '.join(sorted(unknown))}")
        settings = replace(
            defaults,
            topics=topics,
            pipelines=tuple(dict.fromkeys(args.pipeline)) or defaults.pipelines,
            credentials_collection=collections.get("credentials", defaults.credentials_collection),
            events_collection=collections.get("events", defaults.events_collection),
            auth_sessions_collection=collections.get(
                "auth_sessions", defaults.auth_sessions_collection
            ),
            oauth_scopes=args.scopes,
            gmail_quota_profile=args.gmail_quota_profile,
            oauth_client_id=args.oauth_client_id,
            allowed_return_to=[p.strip() for p in args.allowed_return_to.split(",") if p.strip()],
            page_settings=_page_settings(args.page_setting),
            sizing=sizing,
            secret_ids=dict(item.split("=", 1) for item in args.secret),
        )
        lines = [shell_assignments(function, definition, settings) for function in functions]
    except (ValueError, KeyError, OSError) as error:
        print(f"deploy.sh: {error}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
