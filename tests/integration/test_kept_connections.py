"""Kept connections: a warm instance talks to Google over the connections it already has.

The sandbox keeps connections alive as Google does and counts, per endpoint, the requests, the
connections they came on and how many of those were new (``sandbox.connections``). A client
made per request shows as one connection per request; a kept one as one per instance and thread.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from devstack.consent_browser import ConsentBrowser
from tests.integration.flow import connect
from tests.integration.results import cloud_event

pytestmark = pytest.mark.integration

EMAILS = ("ada@example.com", "alan@example.com", "edsger@example.com")
GOOGLE_VIEWS = ("oauth.token", "gmail.list_messages", "oauth.revoke")
"""The sandbox's views for the token endpoint (code exchange and refresh), Gmail's list and
the revocation endpoint."""


def user_ids(firestore_client):
    return {
        document.to_dict()["email"]: document.id
        for document in firestore_client.collection("gmail_credentials").stream()
    }


def test_one_instance_opens_one_connection_per_endpoint_not_one_per_request(
    apps, sandbox, firestore_client
):
    # GIVEN one instance (the functions' own services, in this thread) and a sandbox that counts
    sandbox.state.reset_calls()

    # WHEN three users sign in (three code exchanges), each mailbox is listed twice with Google
    # ending the access token in between (a refresh each), and each user disconnects (a revoke)
    for email in EMAILS:
        assert connect(apps, ConsentBrowser(), email).final.status_code == 200
        sandbox.state.seed_mailbox(email, 30)
    for email, user_id in user_ids(firestore_client).items():
        for _ in range(2):
            event = cloud_event({"user_id": user_id, "request_id": uuid.uuid4().hex})
            assert apps.list_messages.post(**event).status_code == 200
            sandbox.state.expire_access_tokens(email)
        assert apps.disconnect.post("/", json={"user_id": user_id}).status_code == 200

    # THEN every endpoint was served many times over one kept connection
    calls = sandbox.state.call_counts()
    assert calls["token.authorization_code"] == 3
    assert calls["token.refresh_token"] == 3
    assert calls["gmail.messages.list"] == 6 + 3  # the refused token's call, retried once
    assert calls["revoke"] == 3
    views = sandbox.state.connections.snapshot()["views"]
    for view in GOOGLE_VIEWS:
        assert views[view]["connections"] == 1, (view, views[view])
    assert sum(views[view]["new_connections"] for view in GOOGLE_VIEWS) <= len(GOOGLE_VIEWS)


def test_each_thread_keeps_its_own_clients_and_connections(
    apps, sandbox, firestore_client, publisher
):
    from functions.config import get_settings
    from functions.pipeline.mailbox import read_mailbox
    from functions.pipeline.requests import MailboxRequest
    from functions.services import Services

    assert connect(apps, ConsentBrowser(), EMAILS[0]).final.status_code == 200
    sandbox.state.seed_mailbox(EMAILS[0], 30)
    [user_id] = user_ids(firestore_client).values()
    services = Services(get_settings(), firestore_client=firestore_client, publisher=publisher)
    sandbox.state.reset_calls()
    together = threading.Barrier(2)

    def serve_three() -> tuple[object, object]:
        clients = (services.http, services.gmail)
        for _ in range(3):
            together.wait(timeout=30)
            request = MailboxRequest(user_id=user_id, request_id=uuid.uuid4().hex)
            read_mailbox(services, "default", request, event_id=uuid.uuid4().hex)
            assert (services.http, services.gmail) == clients  # kept within the thread
        return clients

    # WHEN one instance serves three requests in each of two threads at once
    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = (future.result() for future in [pool.submit(serve_three) for _ in "ab"])

    # THEN each thread has clients of its own, each with one connection to Gmail
    assert first[0] is not second[0]
    assert first[1] is not second[1]
    assert services.http not in (first[0], second[0])  # nor does this thread share theirs
    views = sandbox.state.connections.snapshot()["views"]
    assert views["gmail.list_messages"] == {"requests": 6, "new_connections": 2, "connections": 2}


def test_sessions_for_two_users_taking_turns_on_one_threads_client_each_read_their_own(
    apps, sandbox, firestore_client, publisher
):
    from functions.config import get_settings
    from functions.gmail import api as gmail
    from functions.gmail.metadata import describe
    from functions.gmail.session import GmailSession
    from functions.grants.reauth import active_user
    from functions.services import Services

    # GIVEN two users with mailboxes of different sizes, and one instance's services
    sizes = {EMAILS[0]: 3, EMAILS[1]: 7}
    for email, size in sizes.items():
        assert connect(apps, ConsentBrowser(), email).final.status_code == 200
        sandbox.state.seed_mailbox(email, size)
    ids = user_ids(firestore_client)
    services = Services(get_settings(), firestore_client=firestore_client, publisher=publisher)

    def listed(session: GmailSession) -> list[gmail.MessageRef]:
        return gmail.message_refs(session.execute(lambda api: api.messages.list(userId="me")))

    # WHEN their sessions take turns on this thread's one Gmail client, in calls and in batches
    with (
        GmailSession(services, active_user(services, ids[EMAILS[0]])) as first,
        GmailSession(services, active_user(services, ids[EMAILS[1]])) as second,
    ):
        turns = [listed(first), listed(second), listed(first)]
        described = [describe(second, turns[1]), describe(first, turns[0])]

    # THEN each call carried its own session's access token: each user saw only their mailbox
    assert [len(refs) for refs in turns] == [3, 7, 3]
    assert turns[0] == turns[2]
    assert not {ref["id"] for ref in turns[0]} & {ref["id"] for ref in turns[1]}
    assert [[item["id"] for item in d] for d in described] == [
        [ref["id"] for ref in turns[1]],
        [ref["id"] for ref in turns[0]],
    ]
