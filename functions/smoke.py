"""The smoke check after deploy: a deployed project (or the local stack) end to end, unattended.

    python -m functions.cli smoke --project PROJECT --region REGION    # make smoke
    python -m functions.cli smoke --local .dev                         # make smoke-local

One function per check, each returning a :class:`Result`; :func:`run_checks` runs them in order.

1. ``authorize`` answers 302 to the client's ``auth_uri`` with every parameter of the flow
   (RFC 6749 §4.1.1, offline access and consent as Google's web-server guide asks, PKCE S256 of
   RFC 7636 §4.3) and sets its flow cookie (HttpOnly; Secure on https). The redirect is never
   followed.
2. ``oauth2callback`` answers a bare request with its 4xx HTML page, never a 5xx.
3. A malformed mailbox request published to the requests topic is logged by ``list_messages``
   as "malformed message acknowledged" with its message ID, and is not among the dead letters.
4. The dead-letter subscription is empty; anything seen is put back (``modify_ack_deadline`` 0).
5. Each function's service account and invokers are as ``infra/functions.json`` says (Cloud Run
   Admin API v2); the local stack has no IAM, and the check says it skipped.

Where everything is comes from a :class:`Target`: derived as ``infra/`` derives it for a project
and region, or read from the env file ``make dev`` writes. No secret, token, state or cookie
value is ever printed. Heavy clients are imported when a check needs them.
"""

from __future__ import annotations

import json
import os
import shlex
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from functions import config
from functions.errors import ConfigError

Status = Literal["ok", "failed", "skipped"]

GOOGLE_AUTH_URI = config.DEFAULT_AUTH_URI
MALFORMED_LOGGED = "malformed message acknowledged"
HTTP_TIMEOUT = 30.0
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


@dataclass(frozen=True)
class Result:
    """One check's outcome: its name, ``ok``/``failed``/``skipped``, and a line of detail."""

    name: str
    status: Status
    detail: str

    def line(self) -> str:
        """What the runner prints for it."""
        return f"{self.status.upper():7} {self.name}: {self.detail}"


@dataclass(frozen=True)
class FunctionAccess:
    """Who a deployed function should run as and who may invoke it (from ``infra/``)."""

    service: str
    service_account: str
    invokers: frozenset[str]


@dataclass
class Target:
    """Everything the checks need to know about the deployment under test.

    Attributes:
        project: the project ID.
        authorize_url, callback_url: the two public functions.
        auth_uri: where ``authorize`` must send the browser.
        client_id: the OAuth client's ID, when the client JSON was at hand; else only present.
        scopes: the configured scopes, each of which the consent URL must request.
        requests_topic: topic ID that ``list_messages`` receives requests from.
        dead_letter_subscription: pull subscription holding the dead letters.
        acknowledged_logged: whether ``list_messages`` logged a message ID as acknowledged.
        access: each function's expected service account and invokers; None where there is no
            IAM (the local stack).
        cloud_run_service: reads a Cloud Run service and its IAM policy (deployed only).
        log_timeout: seconds to wait for the log line.
    """

    project: str
    authorize_url: str
    callback_url: str
    auth_uri: str
    client_id: str | None
    scopes: tuple[str, ...]
    requests_topic: str
    dead_letter_subscription: str
    acknowledged_logged: Callable[[str, float], bool]
    access: dict[str, FunctionAccess] | None = None
    cloud_run_service: Callable[[str], tuple[dict[str, Any], dict[str, Any]]] | None = None
    log_timeout: float = 90.0
    http: Any = field(default=None, repr=False)

    def session(self) -> Any:
        """The HTTP session for the two public functions (plain requests, no credentials)."""
        if self.http is None:
            import requests

            self.http = requests.Session()
        return self.http


# -- the checks --------------------------------------------------------------------------------


def check_authorize(target: Target) -> Result:
    """``authorize`` redirects to the consent page with every parameter and sets its cookie."""
    name = "authorize redirects to consent"
    response = target.session().get(
        target.authorize_url, allow_redirects=False, timeout=HTTP_TIMEOUT
    )
    if response.status_code != 302:
        return Result(name, "failed", f"HTTP {response.status_code}, expected 302")
    location = urlsplit(response.headers.get("Location", ""))
    where = f"{location.scheme}://{location.netloc}{location.path}"
    problems = []
    if where != target.auth_uri:
        problems.append(f"redirects to {where}, expected {target.auth_uri}")
    params = {key: values[0] for key, values in parse_qs(location.query).items()}
    expected = {
        "response_type": "code",
        "redirect_uri": target.callback_url,
        "access_type": "offline",
        "prompt": "consent",
        "include_granted_scopes": "true",
        "code_challenge_method": "S256",
    }
    if target.client_id is not None:
        expected["client_id"] = target.client_id
    for key, value in expected.items():
        if key not in params:
            problems.append(f"{key} missing")
        elif params[key] != value:
            shown = params[key] if key != "client_id" else "another client"
            problems.append(f"{key} is {shown!r}, expected {value!r}")
    for key in ("client_id", "state", "code_challenge"):
        if not params.get(key):
            problems.append(f"{key} missing")
    requested = set(params.get("scope", "").split())
    absent = [scope for scope in target.scopes if scope not in requested]
    if absent:
        problems.append(f"scope lacks {' '.join(absent)}")
    https = urlsplit(target.authorize_url).scheme == "https"
    cookies = [
        header
        for header in response.raw.headers.getlist("Set-Cookie")
        if header.split("=", 1)[0].removeprefix("__Host-").startswith("gmail-auth-")
    ]
    if not cookies:
        problems.append("no flow cookie set")
    for header in cookies:
        attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
        if "httponly" not in attributes:
            problems.append("flow cookie not HttpOnly")
        if https and "secure" not in attributes:
            problems.append("flow cookie not Secure on https")
    if problems:
        return Result(name, "failed", "; ".join(dict.fromkeys(problems)))
    client = "client_id matches" if target.client_id is not None else "client_id present"
    return Result(
        name,
        "ok",
        f"302 to {where}, every parameter present, {client}, "
        f"flow cookie HttpOnly{', Secure' if https else ''}",
    )


def check_callback(target: Target) -> Result:
    """``oauth2callback`` answers a bare request with its 4xx page, never a 5xx."""
    name = "callback answers a bare request"
    response = target.session().get(
        target.callback_url, allow_redirects=False, timeout=HTTP_TIMEOUT
    )
    kind = response.headers.get("Content-Type", "").split(";")[0].strip()
    if not 400 <= response.status_code < 500:
        return Result(name, "failed", f"HTTP {response.status_code}, expected a 4xx page")
    if kind != "text/html":
        return Result(name, "failed", f"HTTP {response.status_code} with {kind or 'no type'}")
    return Result(name, "ok", f"HTTP {response.status_code} HTML page")


def check_malformed_request(
    target: Target, subscriber: Any = None, publisher: Any = None
) -> Result:
    """A malformed request is acknowledged by ``list_messages`` (its log) and not dead-lettered."""
    name = "malformed request acknowledged"
    from google.cloud.pubsub_v1 import PublisherClient

    publisher = publisher or PublisherClient()
    topic = publisher.topic_path(target.project, target.requests_topic)
    smoke_id = uuid.uuid4().hex
    began = time.time()
    message_id = publisher.publish(topic, b'{"smoke": true}', smoke_id=smoke_id).result(
        timeout=HTTP_TIMEOUT
    )
    if not target.acknowledged_logged(message_id, began):
        return Result(
            name,
            "failed",
            f"message {message_id} not logged as acknowledged within {target.log_timeout:g} s",
        )
    seen = _peek_dead_letters(target, subscriber)
    if any(attributes.get("smoke_id") == smoke_id for _, attributes in seen):
        return Result(name, "failed", f"message {message_id} reached the dead letters")
    return Result(name, "ok", f"message {message_id} logged as acknowledged, not dead-lettered")


def check_dead_letters(target: Target, subscriber: Any = None) -> Result:
    """The dead-letter subscription holds nothing; whatever is seen is put back at once."""
    name = "dead-letter subscription empty"
    seen = _peek_dead_letters(target, subscriber)
    if seen:
        ids = ", ".join(message_id for message_id, _ in seen)
        return Result(
            name, "failed", f"{len(seen)} message(s) in {target.dead_letter_subscription}: {ids}"
        )
    return Result(name, "ok", f"{target.dead_letter_subscription} holds nothing")


def check_iam(target: Target) -> Result:
    """Each function runs as ``fn-NAME`` and is invocable by exactly whom ``infra/`` says."""
    name = "service accounts and invokers"
    if target.access is None or target.cloud_run_service is None:
        return Result(name, "skipped", "skipped: no IAM in the local stack")
    problems = []
    for key, expected in target.access.items():
        service, policy = target.cloud_run_service(expected.service)
        account = service.get("template", {}).get("serviceAccount", "")
        if account != expected.service_account:
            problems.append(f"{key} runs as {account or 'the default'}")
        invokers = {
            member
            for binding in policy.get("bindings", [])
            if binding.get("role") == "roles/run.invoker"
            for member in binding.get("members", [])
        }
        if invokers != expected.invokers:
            extra = sorted(invokers - expected.invokers)
            missing = sorted(expected.invokers - invokers)
            problems.append(f"{key} invokers: extra {extra}, missing {missing}")
    if problems:
        return Result(name, "failed", "; ".join(problems))
    return Result(name, "ok", f"{len(target.access)} functions as infra/ says")


CHECKS: tuple[Callable[[Target], Result], ...] = (
    check_authorize,
    check_callback,
    check_malformed_request,
    check_dead_letters,
    check_iam,
)


def run_checks(target: Target, checks: Sequence[Callable[[Target], Result]] = CHECKS) -> int:
    """Run every check, print one line each; the exit status is 1 when any failed."""
    failed = False
    for check in checks:
        try:
            result = check(target)
        except Exception as error:  # a check that cannot run has failed; say why, briefly
            name = check.__name__.removeprefix("check_").replace("_", " ")
            result = Result(name, "failed", f"could not run: {type(error).__name__}: {error}")
        failed = failed or result.status == "failed"
        print(result.line(), flush=True)
    return 1 if failed else 0


def _peek_dead_letters(target: Target, subscriber: Any = None) -> list[tuple[str, dict[str, str]]]:
    """Message IDs and attributes in the dead-letter subscription, each put back unconsumed.

    Pulled messages are held (not nacked) until the end, so further pulls return others; then
    every one is handed back with an ack deadline of 0.
    """
    from google.api_core import exceptions
    from google.cloud.pubsub_v1 import SubscriberClient

    subscriber = subscriber or SubscriberClient()
    subscription = subscriber.subscription_path(target.project, target.dead_letter_subscription)
    seen: dict[str, dict[str, str]] = {}
    ack_ids: list[str] = []
    deadline = time.monotonic() + 3.0
    try:
        while time.monotonic() < deadline:
            try:
                response = subscriber.pull(
                    request={
                        "subscription": subscription,
                        "max_messages": 100,
                        "return_immediately": True,
                    },
                    timeout=5,
                )
            except exceptions.DeadlineExceeded:
                break
            if not response.received_messages:
                if seen or time.monotonic() > deadline - 2.0:
                    break
                time.sleep(0.2)  # an empty answer may come before the messages are ready
                continue
            for received in response.received_messages:
                ack_ids.append(received.ack_id)
                seen[received.message.message_id] = dict(received.message.attributes)
    finally:
        if ack_ids:
            subscriber.modify_ack_deadline(
                request={
                    "subscription": subscription,
                    "ack_ids": ack_ids,
                    "ack_deadline_seconds": 0,
                }
            )
    return list(seen.items())


# -- targets -----------------------------------------------------------------------------------


def _scopes(environ: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(environ.get(config.OAUTH_SCOPES, "").split()) or config.DEFAULT_SCOPES


def _client(environ: Mapping[str, str]) -> tuple[str, str | None]:
    """Where ``authorize`` must send the browser (``OAUTH_AUTH_URI``, Google's by default) and
    the client ID: ``OAUTH_CLIENT_ID``, else the client JSON's when it is at hand, else unknown."""
    auth_uri = environ.get(config.OAUTH_AUTH_URI) or GOOGLE_AUTH_URI
    client_id = environ.get(config.OAUTH_CLIENT_ID) or None
    reference = environ.get(config.OAUTH_CLIENT_SECRETS)
    if client_id or not reference:
        return auth_uri, client_id
    from functions.consent.oauth_client import parse_client_json
    from functions.secrets import read_secret

    client = parse_client_json(read_secret(reference, variable=config.OAUTH_CLIENT_SECRETS))
    return auth_uri, client.client_id


def read_env_file(path: Path) -> dict[str, str]:
    """The ``export NAME=value`` lines of the env file ``make dev`` writes."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        raise ConfigError(f"no env file at {path}: is `make dev` running?") from None
    env = {}
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, _, value = words[1].partition("=")
            env[name] = value
    return env


def local_target(
    state_dir: Path,
    *,
    requests_topic: str,
    dead_letter_subscription: str,
    log_timeout: float = 30.0,
) -> Target:
    """The local stack that wrote ``state_dir/env``; its functions log to ``state_dir/logs``.

    The env file's emulator hosts are put in this process's environment, so the Pub/Sub client
    reaches the emulator, never Google.
    """
    env = read_env_file(state_dir / "env")
    for name in ("PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST"):
        if not env.get(name):
            raise ConfigError(f"{state_dir / 'env'} lacks {name}: it is not a local stack's.")
        os.environ[name] = env[name]
    auth_uri, client_id = _client(env)
    log_file = state_dir / "logs" / "list_messages.log"

    def acknowledged_logged(message_id: str, since: float) -> bool:
        return _wait(lambda: _logged_in_file(log_file, message_id), log_timeout)

    return Target(
        project=env[config.GOOGLE_CLOUD_PROJECT],
        authorize_url=env[config.AUTHORIZE_URL],
        callback_url=env[config.OAUTH_REDIRECT_URI],
        auth_uri=auth_uri,
        client_id=client_id,
        scopes=_scopes(env),
        requests_topic=requests_topic,
        dead_letter_subscription=dead_letter_subscription,
        acknowledged_logged=acknowledged_logged,
        log_timeout=log_timeout,
    )


def deployed_target(
    project: str,
    region: str,
    environ: Mapping[str, str],
    *,
    log_timeout: float = 120.0,
) -> Target:
    """The deployment of ``project`` in ``region``, named as ``infra/`` and ``deploy.sh`` name it.

    Settings are ``deploy.sh``'s environment variables with its defaults (``REQUESTS_TOPIC``
    with ``PIPELINE``, the pipeline whose requests topic is used,
    ``DEAD_LETTER_TOPIC``, ``INTERNAL_INVOKERS``, ``OAUTH_SCOPES``); the client JSON is compared
    when ``OAUTH_CLIENT_SECRETS`` names it (a file or a Secret Manager version).
    """
    from devstack import deployment

    settings = deployment.Settings(project=project, region=region)
    definition = deployment.load()
    auth_uri, client_id = _client(environ)
    internal = frozenset(m.strip() for m in environ.get("INTERNAL_INVOKERS", "").split(",") if m)
    invokers = {
        "public": frozenset({"allUsers"}),
        "pubsub": frozenset(
            {f"serviceAccount:pubsub-push-invoker@{project}.iam.gserviceaccount.com"}
        ),
        "scheduler": frozenset(
            {f"serviceAccount:scheduler-invoker@{project}.iam.gserviceaccount.com"}
        ),
        "internal": internal,
    }
    access = {
        function.key: FunctionAccess(
            service=function.name,
            service_account=f"fn-{function.name}@{project}.iam.gserviceaccount.com",
            invokers=invokers[function.access],
        )
        for function in deployment.deployed(definition)
    }
    google = _GoogleApis(project, region)
    list_messages = definition.functions["list_messages"].name

    def acknowledged_logged(message_id: str, since: float) -> bool:
        return _wait(lambda: google.logged(list_messages, message_id, since), log_timeout)

    return Target(
        project=project,
        authorize_url=f"{settings.functions_host}/authorize",
        callback_url=f"{settings.functions_host}/oauth2callback",
        auth_uri=auth_uri,
        client_id=client_id,
        scopes=_scopes(environ),
        # the first pipeline's requests topic (deploy.sh's --pipeline, else "default")
        requests_topic=(environ.get("REQUESTS_TOPIC") or settings.topics["requests"]).replace(
            "{pipeline}", environ.get("PIPELINE") or settings.pipelines[0]
        ),
        dead_letter_subscription=(
            f"{environ.get('DEAD_LETTER_TOPIC') or settings.topics['dead_letter']}-hold"
        ),
        acknowledged_logged=acknowledged_logged,
        access=access,
        cloud_run_service=google.service,
        log_timeout=log_timeout,
    )


class _GoogleApis:
    """Cloud Logging and Cloud Run Admin over REST, as the operator's own credentials."""

    def __init__(self, project: str, region: str) -> None:
        self.project = project
        self.region = region
        self._session: Any = None

    def _authorized(self) -> Any:
        if self._session is None:
            import google.auth
            from google.auth.transport.requests import AuthorizedSession

            credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM])
            self._session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
        return self._session

    def service(self, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Cloud Run Admin API v2: ``services.get`` and ``services.getIamPolicy``."""
        base = (
            f"https://run.googleapis.com/v2/projects/{self.project}/locations/{self.region}"
            f"/services/{name}"
        )
        service = self._authorized().get(base, timeout=HTTP_TIMEOUT)
        service.raise_for_status()
        policy = self._authorized().get(f"{base}:getIamPolicy", timeout=HTTP_TIMEOUT)
        policy.raise_for_status()
        return service.json(), policy.json()

    def logged(self, service: str, message_id: str, since: float) -> bool:
        """Cloud Logging ``entries.list``: did ``service`` log the message as acknowledged?"""
        began = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since - 60))
        query = " AND ".join(
            [
                'resource.type="cloud_run_revision"',
                f'resource.labels.service_name="{service}"',
                f'jsonPayload.message="{MALFORMED_LOGGED}"',
                f'jsonPayload.event_id="{message_id}"',
                f'timestamp>="{began}"',
            ]
        )
        response = self._authorized().post(
            "https://logging.googleapis.com/v2/entries:list",
            json={"resourceNames": [f"projects/{self.project}"], "filter": query, "pageSize": 5},
            timeout=HTTP_TIMEOUT,
        )
        response.raise_for_status()
        return bool(response.json().get("entries"))


def _logged_in_file(path: Path, message_id: str) -> bool:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return False
    for line in lines:
        if MALFORMED_LOGGED not in line or message_id not in line:
            continue
        try:
            entry = json.loads(line[line.index("{") :])
        except ValueError:
            continue
        if entry.get("message") == MALFORMED_LOGGED and str(entry.get("event_id")) == message_id:
            return True
    return False


def _wait(condition: Callable[[], bool], timeout: float, interval: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
