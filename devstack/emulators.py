"""The Firestore and Pub/Sub emulators of the Google Cloud CLI, started through ``gcloud``.

Both answer ``GET /`` with ``200 Ok`` once they accept requests; that is the readiness signal.
``start_*`` only launch, so both emulators boot in parallel; ``wait_ready`` then waits.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import requests

from devstack.errors import MissingToolError
from devstack.ports import LOOPBACK
from devstack.processes import ManagedProcess, stop_together

DEFAULT_TIMEOUT = 60.0
DEFAULT_PROJECT = "demo-gmail-auth"
"""The ``demo-`` prefix marks a project that exists only in the emulators."""

# A Java emulator that cannot bind its port logs this, then hangs rather than exits.
_FATAL_MARKERS = ("Address already in use",)

# Keep gcloud quiet and out of the user's home: no prompts, no update check, no log files.
_GCLOUD_ENV = {
    "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
    "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1",
    "CLOUDSDK_CORE_DISABLE_FILE_LOGGING": "1",
}


@dataclass(frozen=True)
class EmulatorHosts:
    """Where running emulators answer, for clients and for a :class:`~devstack.stack.LocalStack`.

    Attributes:
        firestore_host: value of ``FIRESTORE_EMULATOR_HOST``.
        pubsub_host: value of ``PUBSUB_EMULATOR_HOST``.
        project: the project both emulators serve.
    """

    firestore_host: str
    pubsub_host: str
    project: str = DEFAULT_PROJECT

    @property
    def env(self) -> dict[str, str]:
        """The standard variables that point client libraries at these emulators."""
        return {
            "FIRESTORE_EMULATOR_HOST": self.firestore_host,
            "PUBSUB_EMULATOR_HOST": self.pubsub_host,
            "GOOGLE_CLOUD_PROJECT": self.project,
        }


class Emulator:
    """A running emulator: where clients reach it and how to stop it.

    Args:
        process: the ``gcloud`` process group, already started.
        host_port: ``127.0.0.1:PORT``, the value of ``*_EMULATOR_HOST``.
        scratch_dir: a private directory removed on stop, if the emulator needed one.
    """

    def __init__(
        self, process: ManagedProcess, host_port: str, scratch_dir: Path | None = None
    ) -> None:
        self.process = process
        self.host_port = host_port
        self._scratch_dir = scratch_dir

    @property
    def name(self) -> str:
        """What the emulator is, for messages."""
        return self.process.name

    @property
    def url(self) -> str:
        """Base URL of the emulator's HTTP endpoint."""
        return f"http://{self.host_port}/"

    @property
    def log_path(self) -> Path:
        """The emulator's log file."""
        return self.process.log_path

    def wait_ready(self, timeout: float = DEFAULT_TIMEOUT) -> Emulator:
        """Block until the emulator answers ``200`` on ``/``.

        Raises:
            StartupError: when it exits or stays silent, with the tail of its log.
        """
        self.process.wait_for_http(self.url, timeout, expect_status=200)
        return self

    def terminate(self) -> None:
        """Send SIGTERM without waiting, so several emulators shut down in parallel."""
        self.process.terminate()

    def stop(self) -> None:
        """Stop the emulator and its Java server; idempotent."""
        self.process.stop()
        if self._scratch_dir is not None:
            shutil.rmtree(self._scratch_dir, ignore_errors=True)
            self._scratch_dir = None

    def __enter__(self) -> Emulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Emulator({self.name!r}, {self.host_port})"


def require_emulator_tools() -> None:
    """Fail with one sentence when ``gcloud`` or ``java`` is missing, before starting anything.

    Raises:
        MissingToolError: naming the missing program and how to get it.
    """
    if shutil.which("gcloud") is None:
        raise MissingToolError(
            "gcloud was not found on PATH: install the Google Cloud CLI with the "
            "cloud-firestore-emulator, pubsub-emulator and beta components."
        )
    if shutil.which("java") is None:
        raise MissingToolError(
            "java was not found on PATH: the Firestore and Pub/Sub emulators need Java 11 or "
            "later with gcloud 528.0.0 and older (this team's machines: Java 17, gcloud 528), "
            "Java 21 or later with newer gcloud releases."
        )


def start_firestore(port: int, log_dir: Path, import_data: Path | None = None) -> Emulator:
    """Launch the Firestore emulator (native mode, in memory) on ``127.0.0.1:port``.

    Args:
        import_data: an export's ``*.overall_export_metadata`` file to load at start.
    """
    host_port = f"{LOOPBACK}:{port}"
    process = ManagedProcess(
        "Firestore emulator",
        [
            "gcloud",
            "emulators",
            "firestore",
            "start",
            f"--host-port={host_port}",
            *([f"--import-data={import_data}"] if import_data is not None else []),
        ],
        log_path=log_dir / f"firestore-emulator-{port}.log",
        env=_gcloud_env(),
        fatal_markers=_FATAL_MARKERS,
    )
    return Emulator(process.start(), host_port)


def start_pubsub(port: int, project: str, log_dir: Path) -> Emulator:
    """Launch the Pub/Sub emulator on ``127.0.0.1:port``.

    Its ``--data-dir`` is a private temporary directory, removed on stop, instead of the default
    under the user's gcloud configuration.
    """
    host_port = f"{LOOPBACK}:{port}"
    data_dir = Path(tempfile.mkdtemp(prefix=f"pubsub-emulator-{port}-"))
    process = ManagedProcess(
        "Pub/Sub emulator",
        [
            "gcloud",
            "beta",
            "emulators",
            "pubsub",
            "start",
            f"--host-port={host_port}",
            f"--project={project}",
            f"--data-dir={data_dir}",
        ],
        log_path=log_dir / f"pubsub-emulator-{port}.log",
        env=_gcloud_env(),
        fatal_markers=_FATAL_MARKERS,
    )
    try:
        process.start()
    except BaseException:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise
    return Emulator(process, host_port, scratch_dir=data_dir)


def start_emulators(
    firestore_port: int,
    pubsub_port: int,
    project: str,
    log_dir: Path,
    timeout: float = DEFAULT_TIMEOUT,
) -> tuple[Emulator, Emulator]:
    """Start both emulators in parallel and wait for both; stop both if either fails.

    Returns:
        ``(firestore, pubsub)``, both answering.
    """
    require_emulator_tools()
    started: list[Emulator] = []
    try:
        started.append(start_firestore(firestore_port, log_dir))
        started.append(start_pubsub(pubsub_port, project, log_dir))
        for emulator in started:
            emulator.wait_ready(timeout)
    except BaseException:
        stop_together(started)
        raise
    firestore, pubsub = started
    return firestore, pubsub


def reset_firestore(host_port: str, project: str, database: str = "(default)") -> None:
    """Delete every document in the emulator's database, so tests start from nothing.

    Raises:
        requests.HTTPError: when the emulator refuses.
    """
    url = f"http://{host_port}/emulator/v1/projects/{project}/databases/{database}/documents"
    with requests.Session() as session:
        session.trust_env = False
        session.delete(url, timeout=10).raise_for_status()


def _gcloud_env() -> dict[str, str]:
    return {**os.environ, **_GCLOUD_ENV}
