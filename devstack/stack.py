"""The whole local stack of DESIGN.md §4, brought up and torn down as one.

Order of start: both emulators and the sandbox launch together (the slow parts), then the Pub/Sub
topics and subscriptions, then the three functions. Stop runs in reverse and also after a start
that failed halfway, so no emulator's Java process outlives the stack.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from types import TracebackType
from typing import Literal
from urllib.parse import urlsplit

from devstack.emulators import (
    DEFAULT_PROJECT,
    Emulator,
    EmulatorHosts,
    require_emulator_tools,
    start_firestore,
    start_pubsub,
)
from devstack.function_env import RealGoogle, function_environment
from devstack.functions import function_url, start_function
from devstack.google_sandbox import sandbox_url, start_sandbox, wait_for_sandbox
from devstack.paths import DEFAULT_STATE_DIR, REPO_ROOT
from devstack.ports import LOOPBACK, ensure_ports_free, free_port
from devstack.processes import ManagedProcess, stop_together
from devstack.pubsub_setup import (
    ensure_pull_subscription,
    ensure_push_subscription,
    ensure_topic,
    publisher_client,
    subscriber_client,
)
from devstack.token_keys import ensure_token_keys

log = logging.getLogger(__name__)

FUNCTIONS: tuple[tuple[str, str], ...] = (
    ("authorize", "http"),
    ("oauth2callback", "http"),
    ("list_messages", "cloudevent"),
    ("disconnect", "http"),
    ("watch", "http"),
    ("renew_watches", "http"),
    ("gmail_push", "cloudevent"),
)
"""Every entry point of ``main.py`` with its functions-framework signature type."""

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
    """Pub/Sub names: requests are pushed to ``list_messages``, results pulled by the CLI."""

    requests_topic: str = "mailbox-requests"
    results_topic: str = "mailbox-results"
    reauth_topic: str = "reauth-events"
    gmail_push_topic: str = "gmail-push"
    requests_push_subscription: str = "mailbox-requests-push"
    results_pull_subscription: str = "mailbox-results-cli"
    reauth_pull_subscription: str = "reauth-events-cli"
    gmail_push_subscription: str = "gmail-push-push"


class LocalStack:
    """Emulators, the Google sandbox (unless real Google is chosen) and the three functions.

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
    ) -> None:
        self.state_dir = state_dir.resolve()  # children run elsewhere: paths must be absolute
        self.repo_root = repo_root.resolve()
        self.topology = topology or Topology()
        self.real_google = real_google
        self.python = python
        self.timeout = timeout
        self._external = emulators
        self.project = emulators.project if emulators else project or DEFAULT_PROJECT
        self.ports = self._choose_ports(ports or StackPorts())
        self._firestore: Emulator | None = None
        self._pubsub: Emulator | None = None
        self._sandbox: ManagedProcess | None = None
        self._functions: list[ManagedProcess] = []
        self._started = False
        self.function_env = function_environment(
            project=self.project,
            firestore_host=self.firestore_host,
            pubsub_host=self.pubsub_host,
            results_topic=self.topology.results_topic,
            reauth_topic=self.topology.reauth_topic,
            # Real Gmail cannot publish to the local emulator: push stays off against Google.
            gmail_push_topic=(
                f"projects/{self.project}/topics/{self.topology.gmail_push_topic}"
                if real_google is None
                else ""
            ),
            authorize_url=self.authorize_url,
            client_secrets=self.client_secrets,
            redirect_uri=self.redirect_uri,
            sandbox_url=self.sandbox_url,
            token_keys=self.token_keys_path,
        )
        """The functions' environment (layered over this process's)."""

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
    def token_keys_path(self) -> Path:
        """The generated ``TOKEN_ENCRYPTION_KEYS`` file."""
        return self.state_dir / "token-keys.json"

    @property
    def client_json_path(self) -> Path:
        """Where the sandbox writes its OAuth client JSON."""
        return self.state_dir / "sandbox-client.json"

    @property
    def client_secrets(self) -> str:
        """The value of ``OAUTH_CLIENT_SECRETS``."""
        if self.real_google is None:
            return str(self.client_json_path)
        secrets = self.real_google.client_secrets
        if secrets.startswith("projects/"):  # a Secret Manager version name
            return secrets
        return str(Path(secrets).expanduser().resolve())  # the functions run in repo_root

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
        return function_url(self.ports.list_messages)

    @property
    def function_urls(self) -> dict[str, str]:
        """Each entry point's local URL (on 127.0.0.1), by name."""
        return {target: function_url(getattr(self.ports, target)) for target, _ in FUNCTIONS}

    @property
    def sandbox_url(self) -> str | None:
        """The sandbox's base URL; None against real Google."""
        return sandbox_url(self.ports.sandbox) if self.real_google is None else None

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
        log.info("Local stack up in %.1f s (%s mode).", time.monotonic() - began, self.mode)
        return self

    def stop(self) -> None:
        """Stop functions, then the sandbox, then the emulators this stack started. Idempotent."""
        self._started = False
        if not self.processes:
            return
        began = time.monotonic()
        stop_together(self._functions)
        self._functions = []
        if self._sandbox is not None:
            stop_together([self._sandbox])
            self._sandbox = None
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

        if self._external is None:
            self._firestore = start_firestore(self.ports.firestore, self.log_dir)
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
                    self.function_env,
                    self.log_dir,
                    repo_root=self.repo_root,
                    python=self.python,
                    wait=False,
                )
            )
        for process, url in zip(self._functions, self.function_urls.values(), strict=True):
            process.wait_for_http(url, self.timeout)
            log.info("%s answering on %s.", process.name, url)

    def _create_topology(self) -> None:
        names = self.topology
        with publisher_client(self.pubsub_host) as publisher:
            ensure_topic(publisher, self.project, names.requests_topic)
            ensure_topic(publisher, self.project, names.results_topic)
            ensure_topic(publisher, self.project, names.reauth_topic)
            ensure_topic(publisher, self.project, names.gmail_push_topic)
        with subscriber_client(self.pubsub_host) as subscriber:
            ensure_push_subscription(
                subscriber,
                self.project,
                names.requests_topic,
                names.requests_push_subscription,
                self.list_messages_url,
            )
            ensure_pull_subscription(
                subscriber, self.project, names.results_topic, names.results_pull_subscription
            )
            ensure_pull_subscription(
                subscriber, self.project, names.reauth_topic, names.reauth_pull_subscription
            )
            ensure_push_subscription(
                subscriber,
                self.project,
                names.gmail_push_topic,
                names.gmail_push_subscription,
                function_url(self.ports.gmail_push),
            )
        log.info(
            "Pub/Sub: %s pushes to %s; %s pulls %s.",
            names.requests_topic,
            self.list_messages_url,
            names.results_pull_subscription,
            names.results_topic,
        )

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
        }
        if self._external is None:
            wanted["Firestore emulator"] = self.ports.firestore
            wanted["Pub/Sub emulator"] = self.ports.pubsub
        if self.real_google is None:
            wanted["Google sandbox"] = self.ports.sandbox
        return wanted
