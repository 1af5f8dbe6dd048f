"""Fixtures for the test suite: the emulators, started once per session on free ports.

Enable with ``pytest_plugins = ["devstack.pytest_plugin"]`` in ``tests/conftest.py``. Nothing here
imports the product. For the whole stack, build a :class:`devstack.stack.LocalStack` over
``emulators`` (``LocalStack(ports=StackPorts.any_free(), state_dir=..., emulators=emulators)``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.emulators import DEFAULT_PROJECT, EmulatorHosts, reset_firestore, start_emulators
from devstack.ports import free_port
from devstack.processes import stop_together


@pytest.fixture(scope="session")
def emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorHosts]:
    """Firestore and Pub/Sub emulators on free ports, started once and stopped at the end.

    Their logs are under the session's temporary directory (``emulator-logs*``).
    """
    log_dir = tmp_path_factory.mktemp("emulator-logs")
    firestore, pubsub = start_emulators(free_port(), free_port(), DEFAULT_PROJECT, log_dir)
    try:
        yield EmulatorHosts(firestore.host_port, pubsub.host_port, DEFAULT_PROJECT)
    finally:
        stop_together([firestore, pubsub])


@pytest.fixture
def fresh_emulators(emulators: EmulatorHosts, monkeypatch: pytest.MonkeyPatch) -> EmulatorHosts:
    """The emulators for one test: Firestore emptied, the standard variables set (then restored)."""
    reset_firestore(emulators.firestore_host, emulators.project)
    for name, value in emulators.env.items():
        monkeypatch.setenv(name, value)
    return emulators
