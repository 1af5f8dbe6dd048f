"""The whole local stack of docs/design.md §4, brought up and torn down as one.

Order of start: both emulators and the sandbox launch together (the slow parts), then the Pub/Sub
topics and subscriptions, then the functions, each served as Cloud Functions serves it
(see :mod:`devstack.functions`) with the environment a deployed function gets. Stop runs in
reverse and also after a start that failed halfway, so no emulator's Java process outlives the
stack.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from types import TracebackType
from typing import Literal
from urllib.parse import urlsplit

import requests

from devstack import deployment
from devstack.emulators import (
    DEFAULT_PROJECT,
    Emulator,
    EmulatorHosts,
    require_emulator_tools,
    start_firestore,
    start_pubsub,
)
from devstack.function_env import SANDBOX_CLIENT_ID, RealGoogle, function_environments
from devstack.functions import function_url, start_function
from devstack.google_sandbox import (
    ADMIN_PATHS,
    CONSENT_PATH,
    sandbox_url,
    start_sandbox,
    wait_for_sandbox,
)
from devstack.kept_data import KeptData
from devstack.paths import DEFAULT_STATE_DIR, REPO_ROOT
from devstack.ports import LOOPBACK, ensure_ports_free, free_port
from devstack.processes import ManagedProcess, stop_together
from devstack.pubsub_setup import (
    DeliveryPolicy,
    ensure_pull_subscription,
    ensure_push_subscription,
    ensure_topic,
    publisher_client,
    subscriber_client,
)
from devstack.token_keys import ensure_cookie_keys, ensure_token_keys, write_public_keys

log = logging.getLogger(__name__)

FUNCTIONS: tuple[tuple[str, str], ...] = tuple(
    (function.key, function.signature_type) for function in deployment.load().functions.values()
)
"""Every function of ``infra/functions.json`` with its functions-framework signature type."""

_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1"})


@dataclass(frozen=True)
class StackPorts:
    """Where each component listens; 0 means "any free port" (what tests use)."""

    authorize: int = 8081
    oauth2callback: int = 8082
    list_messages: int = 8083
    disconnect: int = 8084
    watch: int = 8087
    renew_watches: int = 8088
    gmail_push: int = 8089
    security_events: int = 8091
    pubsub: int = 8085
    firestore: int = 8086
    sandbox: int = 8090

    @classmethod
    def any_free(cls) -> StackPorts:
        """Every port chosen by the OS, so parallel stacks never collide."""
        return cls(**{field.name: 0 for field in fields(cls)})

    def resolved(self) -> StackPorts:
        """These ports with every 0 replaced by a distinct port that is free now.

        The OS may hand the same ephemeral port out twice in a row once it is released, so
        each pick is checked against the ports already taken.
        """
        taken = {getattr(self, f.name) for f in fields(self)} - {0}
        chosen: dict[str, int] = {}
        for field in fields(self):
            port = getattr(self, field.name)
            while port == 0:
                candidate = free_port()
                port = 0 if candidate in taken else candidate
            taken.add(port)
            chosen[field.name] = port
        return replace(self, **chosen)


@dataclass(frozen=True)
class Topology:
    """Pub/Sub names: requests are pushed to ``list_messages``, results pulled by the CLI.

    The local stack serves one pipeline, ``default`` (``PIPELINES``' default): these are its
    requests, results and re-auth topics (a topic template without ``{pipeline}`` names the one
    pipeline's topic), and ``requests_push_subscription`` is its ``list_messages`` trigger.

    The push subscriptions deliver as ``infra/`` configures them (:class:`DeliveryPolicy`),
    dead-lettering to ``dead_letter_topic``, where ``dead_letter_pull_subscription`` holds them.
    """

    requests_topic: str = "mailbox-requests"
    results_topic: str = "mailbox-results"
    reauth_topic: str = "reauth-events"
    gmail_push_topic: str = "gmail-push"
    requests_push_subscription: str = "mailbox-requests-push"
    results_pull_subscription: str = "mailbox-results-cli"
    reauth_pull_subscription: str = "reauth-events-cli"
    gmail_push_subscription: str = "gmail-push-push"
    dead_letter_topic: str = "mailbox-dead-letter"
    dead_letter_pull_subscription: str = "mailbox-dead-letter-hold"

    @property
    def topics(self) -> dict[str, str]:
        """Topic IDs by the keys of ``infra/functions.json``."""
        return {
            "requests": self.requests_topic,
            "results": self.results_topic,
            "reauth": self.reauth_topic,
            "gmail_push": self.gmail_push_topic,
            "dead_letter": self.dead_letter_topic,
        }

    def push_subscription(self, topic_key: str) -> str:
        """The push subscription that delivers the topic ``topic_key`` to its function."""
        return {
            "requests": self.requests_push_subscription,
            "gmail_push": self.gmail_push_subscription,
        }[topic_key]


class LocalStack:
    """Emulators, the Google sandbox (unless real Google is chosen) and every function.

    Every URL and variable is known from construction on; :meth:`start` brings the processes up.

    Args:
        ports: where each part listens; the ``make dev`` defaults when omitted.
        state_dir: holds ``logs/``, the sandbox's client JSON and the token key file.
        repo_root: where ``main.py`` and the ``sandbox`` package are (cwd of the children).
        project: the project ID; the emulators' own when ``emulators`` is given.
        topology: Pub/Sub topic and subscription names.
        real_google: the user's OAuth client; None runs the sandbox instead.
        emulators: already running emulators to use (and leave running) instead of starting them.
        python: interpreter for the sandbox and the functions (must have their packages).
        timeout: seconds each part may take to answer.
        delivery: how the push subscriptions retry and dead-letter; ``infra/``'s defaults.
        data_dir: where Firestore's data is kept across restarts (loaded at start, saved at
            stop); None keeps it in memory only. Ignored when ``emulators`` is given.
    """

    def __init__(
        self,
        *,
        ports: StackPorts | None = None,
        state_dir: Path = DEFAULT_STATE_DIR,
        repo_root: Path = REPO_ROOT,
        project: str | None = None,
        topology: Topology | None = None,
        real_google: RealGoogle | None = None,
        emulators: EmulatorHosts | None = None,
        python: str = sys.executable,
        timeout: float = 60.0,
        delivery: DeliveryPolicy | None = None,
        data_dir: Path | None = None,
    ) -> None:
        self.state_dir = state_dir.resolve()  # children run elsewhere: paths must be absolute
        self.repo_root = repo_root.resolve()
        self.topology = topology or Topology()
        self.real_google = real_google
        self.python = python
        self.timeout = timeout
        self.delivery = delivery or DeliveryPolicy()
        self._external = emulators
        self.kept_data = (
            KeptData(data_dir.resolve()) if data_dir is not None and emulators is None else None
        )
        """Firestore data kept across restarts; None when it lives in memory only."""
        self.data_was_kept = False
        """Whether the last start loaded data kept from an earlier run."""
        self._up = False
        self.project = emulators.project if emulators else project or DEFAULT_PROJECT
        self.ports = self._choose_ports(ports or StackPorts())
        self._firestore: Emulator | None = None
        self._pubsub: Emulator | None = None
        self._sandbox: ManagedProcess | None = None
        self._functions: list[ManagedProcess] = []
        self._started = False
        self.settings = deployment.Settings(
            project=self.project,
            region="local",
            topics=self.topology.topics,
            oauth_client_id=SANDBOX_CLIENT_ID if real_google is None else real_google.client_id,
        )
        """The deployment settings the local stack stands for (infra/'s defaults otherwise)."""
        self.function_envs = function_environments(
            settings=self.settings,
            firestore_host=self.firestore_host,
            pubsub_host=self.pubsub_host,
            authorize_url=self.authorize_url,
            redirect_uri=self.redirect_uri,
            secrets_root=self.secrets_root,
            sandbox_url=self.sandbox_url,
            client_secrets=self._client_secret_version,
        )
        """Each function's environment (layered over this process's), by entry point."""
        # Real Gmail cannot publish to the local emulator: push stays off against Google.
        if real_google is not None:
            for env in self.function_envs.values():
                env.pop("GMAIL_PUSH_TOPIC", None)

    @property
    def function_env(self) -> dict[str, str]:
        """Every variable any function gets: what the operator CLI and tests beside it need."""
        merged: dict[str, str] = {}
        for env in self.function_envs.values():
            merged.update(env)
        for name in ("FUNCTION_TARGET", "FUNCTION_SIGNATURE_TYPE", "K_SERVICE", "K_REVISION"):
            merged.pop(name, None)
        return merged

    # -- where things are -------------------------------------------------------------------

    @property
    def mode(self) -> Literal["sandbox", "google"]:
        """Which OAuth provider and Gmail the functions talk to."""
        return "sandbox" if self.real_google is None else "google"

    @property
    def log_dir(self) -> Path:
        """One log file per process."""
        return self.state_dir / "logs"

    @property
    def secrets_root(self) -> Path:
        """Stands in for a deployed function's ``/``: secrets are laid out under it as mounted."""
        return self.state_dir / "secrets"

    def secret_path(self, key: str) -> Path:
        """The local file of the secret ``key``, where a deployed function finds its mount."""
        secret = deployment.load().secrets[key]
        return self.secrets_root / secret.path.lstrip("/")

    @property
    def token_keys_path(self) -> Path:
        """The generated ``TOKEN_ENCRYPTION_KEYS`` file, where the secret would be mounted."""
        return self.secret_path("token_keys")

    @property
    def client_json_path(self) -> Path:
        """The OAuth client JSON, where the secret would be mounted (the sandbox writes it)."""
        return self.secret_path("oauth_client")

    @property
    def _client_secret_version(self) -> str | None:
        """The real client's Secret Manager version name, when it was given as one."""
        if self.real_google is None or not self.real_google.client_secrets.startswith("projects/"):
            return None
        return self.real_google.client_secrets

    @property
    def redirect_uri(self) -> str:
        """The callback URL (``localhost``, the same host as :attr:`authorize_url`)."""
        if self.real_google is not None:
            return self.real_google.redirect_uri
        return f"http://localhost:{self.ports.oauth2callback}/"

    @property
    def authorize_url(self) -> str:
        """The URL to open in a browser.

        Its host is the callback's, because cookies are per host (not per port): the sealed
        flow cookie set by ``authorize`` must reach ``oauth2callback``.
        """
        host = urlsplit(self.redirect_uri).hostname
        return f"http://{host if host in _LOOPBACK_NAMES else 'localhost'}:{self.ports.authorize}/"

    @property
    def list_messages_url(self) -> str:
        """The push endpoint of the requests subscription."""
        return self.push_endpoint("list_messages", self.topology.requests_topic)

    @property
    def function_urls(self) -> dict[str, str]:
        """Each entry point's local URL (on 127.0.0.1), by name."""
        return {target: function_url(getattr(self.ports, target)) for target, _ in FUNCTIONS}

    @property
    def sandbox_url(self) -> str | None:
        """The sandbox's base URL; None against real Google."""
        return sandbox_url(self.ports.sandbox) if self.real_google is None else None

    @property
    def sandbox_urls(self) -> dict[str, str]:
        """The sandbox's pages by what they are (none against real Google)."""
        if self.sandbox_url is None:
            return {}
        urls = {"consent page": self.sandbox_url + CONSENT_PATH}
        urls.update({name: self.sandbox_url + path for name, path in ADMIN_PATHS.items()})
        return urls

    @property
    def firestore_host(self) -> str:
        """``FIRESTORE_EMULATOR_HOST``."""
        if self._external is not None:
            return self._external.firestore_host
        return f"{LOOPBACK}:{self.ports.firestore}"

    @property
    def pubsub_host(self) -> str:
        """``PUBSUB_EMULATOR_HOST``."""
        if self._external is not None:
            return self._external.pubsub_host
        return f"{LOOPBACK}:{self.ports.pubsub}"

    @property
    def emulator_hosts(self) -> EmulatorHosts:
        """The emulators, as the pytest plugin describes them."""
        return EmulatorHosts(self.firestore_host, self.pubsub_host, self.project)

    @property
    def client_env(self) -> dict[str, str]:
        """What tools beside the stack (the CLI, tests) need to reach its emulators."""
        return self.emulator_hosts.env

    @property
    def cli_env(self) -> dict[str, str]:
        """The functions' own configuration, for the operator CLI (``source .dev/env``)."""
        return {
            name: value for name, value in self.function_env.items() if name != "PYTHONUNBUFFERED"
        }

    @property
    def processes(self) -> tuple[ManagedProcess, ...]:
        """Every child process this stack started and still owns."""
        owned = [e.process for e in (self._firestore, self._pubsub) if e is not None]
        if self._sandbox is not None:
            owned.append(self._sandbox)
        return (*owned, *self._functions)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> LocalStack:
        """Bring everything up; on any failure stop what did start, then re-raise.

        Raises:
            DevStackError: a missing tool, a taken port, or a part that did not come up.
        """
        if self._started:
            return self
        self._started = True
        began = time.monotonic()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self._up = True
        log.info("Local stack up in %.1f s (%s mode).", time.monotonic() - began, self.mode)
        return self

    def stop(self) -> None:
        """Stop functions, then the sandbox, then the emulators this stack started. Idempotent.

        Firestore's data is saved first when it is kept and the stack came up whole (a start
        that failed halfway leaves the kept data as it was).
        """
        self._started = False
        if not self.processes:
            return
        began = time.monotonic()
        stop_together(self._functions)
        self._functions = []
        if self._sandbox is not None:
            stop_together([self._sandbox])
            self._sandbox = None
        if self._up and self.kept_data is not None and self._firestore is not None:
            self._save_firestore(self.kept_data)
        self._up = False
        stop_together([e for e in (self._firestore, self._pubsub) if e is not None])
        self._firestore = self._pubsub = None
        log.info("Local stack stopped in %.1f s.", time.monotonic() - began)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _start(self) -> None:
        if self._external is None:
            require_emulator_tools()
        ensure_ports_free(self._ports_to_bind())
        self.log_dir.mkdir(parents=True, exist_ok=True)
        ensure_token_keys(self.token_keys_path)
        write_public_keys(self.token_keys_path, self.secret_path("token_public_keys"))
        ensure_cookie_keys(self.secret_path("cookie_keys"))
        self.client_json_path.parent.mkdir(parents=True, exist_ok=True)
        if self.real_google is not None and self._client_secret_version is None:
            # Mounted as in production: the function reads the file where the volume would be.
            source = Path(self.real_google.client_secrets).expanduser()
            shutil.copyfile(source, self.client_json_path)
            self.client_json_path.chmod(0o600)

        if self._external is None:
            kept = self.kept_data.firestore_import() if self.kept_data is not None else None
            self.data_was_kept = kept is not None
            self._firestore = start_firestore(self.ports.firestore, self.log_dir, kept)
            self._pubsub = start_pubsub(self.ports.pubsub, self.project, self.log_dir)
        if self.real_google is None:
            self._sandbox = start_sandbox(
                self.ports.sandbox,
                self.redirect_uri,
                self.client_json_path,
                self.log_dir,
                repo_root=self.repo_root,
                python=self.python,
                pubsub_emulator_host=self.pubsub_host,
                project=self.project,
                client_id=SANDBOX_CLIENT_ID,
                gmail_push_topics=tuple(
                    topic for topic in (self.function_env.get("GMAIL_PUSH_TOPIC"),) if topic
                ),
            )
        for emulator in (self._firestore, self._pubsub):
            if emulator is not None:
                emulator.wait_ready(self.timeout)
                log.info("%s answering on %s.", emulator.name, emulator.host_port)
        if self._sandbox is not None:
            wait_for_sandbox(self._sandbox, self.ports.sandbox, self.client_json_path, self.timeout)
            log.info("Google sandbox answering on %s.", self.sandbox_url)

        self._create_topology()

        for target, signature_type in FUNCTIONS:
            self._functions.append(
                start_function(
                    target,
                    signature_type,
                    getattr(self.ports, target),
                    self.function_envs[target],
                    self.log_dir,
                    repo_root=self.repo_root,
                    python=self.python,
                    wait=False,
                )
            )
        for process, url in zip(self._functions, self.function_urls.values(), strict=True):
            process.wait_for_http(url, self.timeout)
            log.info("%s answering on %s.", process.name, url)

    def _save_firestore(self, kept_data: KeptData) -> None:
        try:
            kept_data.save_firestore(self.firestore_host, self.project)
        except (OSError, requests.RequestException) as exc:
            log.warning("Firestore's data was not saved to %s: %s", kept_data.directory, exc)
        else:
            log.info("Firestore's data saved to %s.", kept_data.directory)

    def _create_topology(self) -> None:
        names = self.topology
        with publisher_client(self.pubsub_host) as publisher:
            for topic in names.topics.values():
                ensure_topic(publisher, self.project, topic)
        with subscriber_client(self.pubsub_host) as subscriber:
            for function in deployment.load().functions.values():
                if function.trigger != "pubsub" or function.topic is None:
                    continue
                topic = names.topics[function.topic]
                ensure_push_subscription(
                    subscriber,
                    self.project,
                    topic,
                    names.push_subscription(function.topic),
                    self.push_endpoint(function.key, topic),
                    dead_letter_topic=names.dead_letter_topic,
                    policy=self.delivery,
                )
            for topic, subscription in (
                (names.results_topic, names.results_pull_subscription),
                (names.reauth_topic, names.reauth_pull_subscription),
                (names.dead_letter_topic, names.dead_letter_pull_subscription),
            ):
                ensure_pull_subscription(subscriber, self.project, topic, subscription)
        log.info(
            "Pub/Sub: %s pushes to %s; %s pulls %s.",
            names.requests_topic,
            self.push_endpoint("list_messages", names.requests_topic),
            names.results_pull_subscription,
            names.results_topic,
        )

    def push_endpoint(self, target: str, topic: str) -> str:
        """Where a push subscription delivers: the function's URL with the topic as its path.

        As in ``infra/``: functions-framework reads ``projects/P/topics/T`` from the path into
        the CloudEvent's source, so the function knows the topic a message came through.
        """
        return f"{function_url(getattr(self.ports, target))}projects/{self.project}/topics/{topic}"

    def _choose_ports(self, ports: StackPorts) -> StackPorts:
        if self.real_google is not None:
            # The callback must listen where the registered redirect URI points.
            callback = urlsplit(self.real_google.redirect_uri)
            if callback.hostname in _LOOPBACK_NAMES and callback.port:
                ports = replace(ports, oauth2callback=callback.port)
        return ports.resolved()

    def _ports_to_bind(self) -> dict[str, int]:
        wanted = {
            "authorize function": self.ports.authorize,
            "oauth2callback function": self.ports.oauth2callback,
            "list_messages function": self.ports.list_messages,
            "disconnect function": self.ports.disconnect,
            "watch function": self.ports.watch,
            "renew_watches function": self.ports.renew_watches,
            "gmail_push function": self.ports.gmail_push,
            "security_events function": self.ports.security_events,
        }
        if self._external is None:
            wanted["Firestore emulator"] = self.ports.firestore
            wanted["Pub/Sub emulator"] = self.ports.pubsub
        if self.real_google is None:
            wanted["Google sandbox"] = self.ports.sandbox
        return wanted
