"""SandboxState and its parts in isolation: clients, mailboxes, knobs, secrets, quota, PKCE."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter

import pytest

from sandbox import SandboxState, identity, rfc7636
from sandbox.mailbox import generate
from sandbox.models import Behaviour
from sandbox.quota import ConcurrentCalls, SlidingQuota
from tests.sandbox.sandbox_helpers import VERIFIER, FakeClock

TWO_YEARS_MS = 731 * 86_400_000


def test_client_config_is_the_console_download_shape():
    state = SandboxState()
    client = state.register_client(["http://localhost:8082/"], "cid", "csecret")

    config = state.client_config(client, "http://127.0.0.1:8090/")

    assert config == {
        "web": {
            "client_id": "cid",
            "project_id": "sandbox",
            "auth_uri": "http://127.0.0.1:8090/o/oauth2/v2/auth",
            "token_uri": "http://127.0.0.1:8090/token",
            "auth_provider_x509_cert_url": "http://127.0.0.1:8090/oauth2/v1/certs",
            "client_secret": "csecret",
            "redirect_uris": ["http://localhost:8082/"],
        }
    }


def test_registered_clients_get_random_ids_and_secrets():
    state = SandboxState()
    first = state.register_client(["http://a.example/cb"])
    second = state.register_client(["http://a.example/cb"])

    assert first.client_id != second.client_id
    assert first.client_secret != second.client_secret
    assert state.client(first.client_id) == first
    with pytest.raises(ValueError, match="redirect URI"):
        state.register_client([])


def test_demo_mailbox_is_generated_lazily_on_first_use():
    state = SandboxState(behaviour=Behaviour(demo_mailbox_size=50))

    assert (
        state.mailbox("New.User@Example.com").messages
        == state.mailbox("new.user@example.com").messages
    )
    assert len(state.mailbox("new.user@example.com").messages) == 50


def test_a_3000_message_mailbox_is_varied_and_well_formed():
    now = FakeClock()()
    messages = generate("ada@example.com", 3000, None, now)

    assert len({m.id for m in messages}) == 3000
    assert all(re.fullmatch(r"[0-9a-f]{16}", m.id) for m in messages)
    keys = [(m.internal_date, m.id) for m in messages]
    assert keys == sorted(keys, reverse=True)  # newest first
    assert all(now * 1000 - TWO_YEARS_MS < m.internal_date < now * 1000 for m in messages)
    labels = Counter(label for m in messages for label in m.label_ids)
    for label in ("INBOX", "UNREAD", "STARRED", "IMPORTANT", "SENT", "SPAM", "TRASH",
                  "CATEGORY_PROMOTIONS", "CATEGORY_SOCIAL", "CATEGORY_UPDATES"):  # fmt: skip
        assert labels[label] > 20, label
    threads = Counter(m.thread_id for m in messages)
    assert max(threads.values()) > 1
    assert all(thread in {m.id for m in messages} for thread in threads)
    assert len({m.sender for m in messages}) > 10
    assert len({m.subject for m in messages}) > 30


def test_generation_is_deterministic_and_fast():
    now = FakeClock()()
    elapsed = []
    for _ in range(3):
        start = time.perf_counter()
        generate("ada@example.com", 3000, 42, now)
        elapsed.append(time.perf_counter() - start)

    assert min(elapsed) < 0.1
    assert generate("ada@example.com", 3000, 42, now) == generate("ada@example.com", 3000, 42, now)
    assert generate("ada@example.com", 30, 1, now) != generate("ada@example.com", 30, 2, now)
    assert generate("ada@example.com", 30, None, now) != generate("bob@example.com", 30, None, now)


def test_seed_mailbox_replaces_the_mailbox_and_moves_the_history_id():
    state = SandboxState()
    before = state.mailbox("ada@example.com")

    seeded = state.seed_mailbox("ada@example.com", 10, seed=3)

    after = state.mailbox("ada@example.com")
    assert list(after.messages) == seeded
    assert after.history_id > before.history_id
    with pytest.raises(ValueError, match="count"):
        state.seed_mailbox("ada@example.com", -1)


@pytest.mark.parametrize(
    "knobs",
    [
        {"nope": 1},
        {"latency_ms": -1},
        {"latency_ms": "5"},
        {"access_token_lifetime": True},
        {"omit_refresh_token": 1},
    ],
)
def test_behaviour_rejects_bad_knobs_without_changing_anything(knobs):
    state = SandboxState()

    with pytest.raises(ValueError, match=r"knob|must be"):
        state.update_behaviour({"quota_units_per_minute": 7, **knobs})

    assert state.behaviour == Behaviour()


def test_behaviour_update_sets_knobs():
    state = SandboxState()

    knobs = state.update_behaviour({"omit_refresh_token": True, "latency_ms": 3})

    assert knobs["omit_refresh_token"] is True
    assert state.behaviour.latency_ms == 3


def test_secrets_resolve_latest_to_the_highest_version():
    state = SandboxState()
    state.set_secret("projects/p/secrets/s/versions/1", b"one")
    state.set_secret("projects/p/secrets/s/versions/10", b"ten")
    state.set_secret("projects/p/secrets/s/versions/2", b"two")

    assert state.access_secret("projects/p/secrets/s/versions/latest") == (
        "projects/p/secrets/s/versions/10",
        b"ten",
    )
    assert state.access_secret("projects/p/secrets/s/versions/2") == (
        "projects/p/secrets/s/versions/2",
        b"two",
    )
    assert state.access_secret("projects/p/secrets/s/versions/3") is None
    assert state.access_secret("projects/p/secrets/other/versions/latest") is None
    for bad in ("projects/p/secrets/s/versions/latest", "projects/p/secrets/s", "x/versions/0"):
        with pytest.raises(ValueError, match="expected"):
            state.set_secret(bad, b"")


def test_quota_window_slides_and_refusals_spend_nothing():
    quota = SlidingQuota(window=60)

    assert quota.charge("u", 5, 10, now=0) is None
    assert quota.charge("u", 5, 10, now=30) is None
    assert quota.charge("u", 5, 10, now=31) == 60  # when the first 5 age out
    assert quota.charge("other", 5, 10, now=31) is None
    assert quota.charge("u", 5, 10, now=60) is None  # the first 5 aged out
    assert quota.charge("u", 50, 10, now=61) == 121  # can never fit: a window from now


def test_concurrent_calls_are_counted_per_user_and_refused_past_the_limit():
    calls = ConcurrentCalls()

    assert calls.begin("u", 2)
    assert calls.begin("u", 2)
    assert not calls.begin("u", 2)
    assert calls.begin("other", 2)
    calls.end("u")
    assert calls.begin("u", 2)
    assert calls.open("u") == 2


def test_the_quota_profile_knob_sets_the_limit_unless_it_is_given():
    state = SandboxState()

    assert state.update_behaviour({"quota_profile": "2026"})["quota_units_per_minute"] == 6000
    assert state.behaviour.quota.cost("gmail.messages.get") == 20
    knobs = state.update_behaviour({"quota_profile": "legacy", "quota_units_per_minute": 7})
    assert knobs["quota_units_per_minute"] == 7
    assert state.behaviour.quota.cost("gmail.messages.get") == 5
    for bad in ({"quota_profile": "2027"}, {"quota_refusal_status": 500}):
        with pytest.raises(ValueError, match="must be one of"):
            state.update_behaviour(bad)


def test_identity_helpers():
    assert identity.normalize_email("  Ada@Example.COM ") == "ada@example.com"
    assert identity.normalize_email("no-at-sign") is None
    assert identity.normalize_email('a"@b.example') is None
    assert identity.display_name("grace.hopper+work@example.com") == "Grace Hopper Work"
    assert re.fullmatch(r"[1-9]\d{20}", identity.user_id("ada@example.com"))


def test_pkce_matches_the_rfc_7636_example():
    challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

    assert rfc7636.s256(VERIFIER) == challenge
    assert rfc7636.verify("S256", challenge, VERIFIER)
    assert rfc7636.verify("plain", VERIFIER, VERIFIER)
    assert not rfc7636.verify("S256", challenge, VERIFIER[:-1] + "x")
    assert not rfc7636.verify("plain", "a" * 42, "a" * 42)  # too short to be a verifier


def test_counters_are_thread_safe():
    state = SandboxState()

    def hammer() -> None:
        for _ in range(1000):
            state.count("x")

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert state.calls["x"] == 8000
