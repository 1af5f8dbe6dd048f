"""Ports: free ones are free, taken ones are refused in one sentence, waits time out."""

from __future__ import annotations

import socket
import time

import pytest

from devstack.errors import PortInUseError, StartupError
from devstack.ports import ensure_ports_free, free_port, port_is_free, wait_for_http


def test_free_port_can_be_bound() -> None:
    port = free_port()
    assert port_is_free(port)


def test_a_listening_port_is_refused_by_name() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(PortInUseError) as raised:
            ensure_ports_free({"authorize function": free_port(), "Pub/Sub emulator": port})
    assert f"Port {port} (needed by the Pub/Sub emulator) is already in use" in str(raised.value)


def test_waiting_for_a_silent_port_times_out_with_a_sentence() -> None:
    began = time.monotonic()
    with pytest.raises(StartupError, match=r"The thing did not answer at .* within 1 s"):
        wait_for_http(f"http://127.0.0.1:{free_port()}/", 1, "thing")
    assert time.monotonic() - began < 4
