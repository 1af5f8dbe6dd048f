"""A child process in its own process group, with its output in a log file.

``gcloud emulators ... start`` is a Python wrapper around a Java server; signalling the wrapper
alone leaves the Java process running. Every process here therefore starts a new session (and so
a new process group) and is stopped by signalling the whole group, SIGTERM first, SIGKILL if it
lingers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Protocol

from devstack.errors import MissingToolError, StartupError
from devstack.ports import wait_for_http

log = logging.getLogger(__name__)

_POLL_INTERVAL = 0.05
_TAIL_BYTES = 64 * 1024


class ManagedProcess:
    """One command, started on demand and stopped with everything it spawned.

    Args:
        name: what the process is, for messages ("Firestore emulator").
        command: the program and its arguments.
        log_path: file that receives stdout and stderr (truncated at start).
        env: the complete environment; the parent's when omitted.
        cwd: working directory; the parent's when omitted.
        fatal_markers: log text meaning the process will never serve (a Java server that cannot
            bind its port logs it and hangs instead of exiting), so waiting can stop early.
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        fatal_markers: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.command = tuple(command)
        self.log_path = log_path
        self._env = dict(env) if env is not None else None
        self._cwd = cwd
        self._fatal_markers = tuple(fatal_markers)
        self._popen: subprocess.Popen[bytes] | None = None
        self._stopped = False

    @property
    def pid(self) -> int | None:
        """PID of the direct child, which is also its process group ID."""
        return None if self._popen is None else self._popen.pid

    @property
    def running(self) -> bool:
        """Whether the direct child is still alive."""
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        """The direct child's exit status once it has exited."""
        return None if self._popen is None else self._popen.poll()

    def start(self) -> ManagedProcess:
        """Launch the command without waiting for it to be ready.

        Raises:
            MissingToolError: when the program is not found.
        """
        if self._popen is not None:
            return self
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log_file:
            try:
                self._popen = subprocess.Popen(
                    self.command,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    env=self._env,
                    cwd=self._cwd,
                    start_new_session=True,
                )
            except FileNotFoundError as exc:
                raise MissingToolError(
                    f"Cannot start the {self.name}: {self.command[0]!r} was not found."
                ) from exc
        return self

    def wait_for_http(self, url: str, timeout: float, *, expect_status: int | None = None) -> None:
        """Wait until ``url`` answers, giving up early once :meth:`failure` says it never will.

        Raises:
            StartupError: with the tail of this process's log appended.
        """
        try:
            wait_for_http(
                url,
                timeout,
                self.name,
                expect_status=expect_status,
                failed=self.failure,
            )
        except StartupError as exc:
            raise StartupError(f"{exc} Log {self.log_path}, last lines:\n{self.tail()}") from None

    def failure(self) -> str | None:
        """Why the process can no longer come up, or None while it still may."""
        if self._popen is None:
            return "was never started"
        returncode = self._popen.poll()
        if returncode is not None:
            return f"exited with status {returncode}"
        if self._fatal_markers:
            text = self._read_tail()
            for marker in self._fatal_markers:
                if marker in text:
                    return f"logged {marker!r}"
        return None

    def terminate(self) -> None:
        """Ask the whole group to exit (SIGTERM) without waiting; lets callers stop many at once."""
        if self._popen is not None and not self._stopped:
            self._signal_group(signal.SIGTERM)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the whole group: SIGTERM, wait up to ``timeout`` s, then SIGKILL. Idempotent."""
        if self._popen is None or self._stopped:
            return
        self._signal_group(signal.SIGTERM)
        if not self._wait_for_group(timeout):
            self._signal_group(signal.SIGKILL)
            self._wait_for_group(5.0)
        self._stopped = True

    def tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the log, for error messages."""
        return "\n".join(self._read_tail().splitlines()[-lines:]) or "(empty log)"

    def _read_tail(self) -> str:
        try:
            with self.log_path.open("rb") as log_file:
                log_file.seek(0, os.SEEK_END)
                log_file.seek(max(0, log_file.tell() - _TAIL_BYTES))
                return log_file.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> ManagedProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"ManagedProcess({self.name!r}, pid={self.pid})"

    def _signal_group(self, signum: signal.Signals) -> None:
        assert self._popen is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._popen.pid, signum)

    def _wait_for_group(self, timeout: float) -> bool:
        assert self._popen is not None
        deadline = time.monotonic() + timeout
        while True:
            self._popen.poll()  # reap the direct child so it does not linger as a zombie
            if not group_alive(self._popen.pid):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_INTERVAL)


class Stoppable(Protocol):
    """Anything stopped in two steps: ask (``terminate``), then make sure (``stop``)."""

    def terminate(self) -> None: ...
    def stop(self) -> None: ...


def stop_together(parts: Sequence[Stoppable]) -> None:
    """SIGTERM every part first, then wait for each, so they shut down in parallel.

    A part that fails to stop is logged and the rest are still stopped: an orphaned emulator is
    worse than a log line.
    """
    for part in parts:
        part.terminate()
    for part in reversed(parts):
        try:
            part.stop()
        except Exception:
            log.exception("Could not stop %r.", part)


def group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is still in group ``pgid``.

    Grandchildren such as the emulators' Java servers are re-parented when the wrapper exits, and
    their zombies may linger until init reaps them; on Linux /proc tells the living from those.
    Elsewhere a signal-0 probe of the group is the best available answer.
    """
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after "(comm)": state ppid pgrp ...; comm itself may contain spaces.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False
