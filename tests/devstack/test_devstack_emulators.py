"""The real emulators: they come up, answer, reset, and leave no Java process behind."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from google.cloud import firestore

from devstack.emulators import EmulatorHosts, reset_firestore, start_emulators
from devstack.ports import free_port
from devstack.processes import stop_together

pytestmark = pytest.mark.integration


def processes_matching(pattern: str) -> list[str]:
    """Command lines of live processes matching the regex ``pattern`` (``pgrep -f``)."""
    found = subprocess.run(["pgrep", "-af", "--", pattern], capture_output=True, text=True)
    return [line for line in found.stdout.splitlines() if "pgrep" not in line]


def test_both_emulators_start_in_parallel_and_stop_without_leftovers(tmp_path: Path) -> None:
    # GIVEN two ports of our own (the session's emulators keep running meanwhile)
    firestore_port, pubsub_port = free_port(), free_port()
    pattern = f"--port=({firestore_port}|{pubsub_port})( |$)"

    # WHEN both emulators start and then stop
    began = time.monotonic()
    fs, ps = start_emulators(firestore_port, pubsub_port, "demo-devstack", tmp_path)
    started = time.monotonic() - began
    java = [line for line in processes_matching(pattern) if "java" in line]
    data_dir = ps._scratch_dir
    began = time.monotonic()
    stop_together([fs, ps])
    stopped = time.monotonic() - began

    # THEN each ran its Java server, none of it is left, and the logs are where promised
    assert len(java) == 2, java
    assert processes_matching(pattern) == []
    assert data_dir is not None
    assert not data_dir.exists()
    assert (tmp_path / f"firestore-emulator-{firestore_port}.log").stat().st_size > 0
    assert (tmp_path / f"pubsub-emulator-{pubsub_port}.log").stat().st_size > 0
    print(f"emulators up in {started:.1f} s, down in {stopped:.1f} s")


def test_fresh_emulators_points_client_libraries_at_the_emulators(
    fresh_emulators: EmulatorHosts,
) -> None:
    client = firestore.Client(project=fresh_emulators.project)
    client.collection("probe").document("one").set({"ok": True})
    snapshot = client.collection("probe").document("one").get()
    assert snapshot.to_dict() == {"ok": True}


def test_reset_firestore_deletes_every_document(fresh_emulators: EmulatorHosts) -> None:
    # GIVEN documents in two collections, one of them nested
    client = firestore.Client(project=fresh_emulators.project)
    client.collection("users").document("a").set({"email": "a@example.com"})
    client.collection("users").document("a").collection("log").document("x").set({"n": 1})
    client.collection("sessions").document("s").set({"state": "abc"})

    # WHEN the emulator is reset
    reset_firestore(fresh_emulators.firestore_host, fresh_emulators.project)

    # THEN nothing is left
    assert list(client.collection("users").stream()) == []
    assert list(client.collection("sessions").stream()) == []
    assert list(client.collection("users").document("a").collection("log").stream()) == []
