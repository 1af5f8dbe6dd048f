"""The sandbox's whole world behind one lock: OAuth ledger, mailboxes, quota, secrets, knobs.

Request handlers and tests share one SandboxState; every method takes the lock, so the state
is safe under Werkzeug's threaded server. The clock is injectable so tests can move time
(token expiry, code expiry, the quota window, watch expiry) without sleeping. History ids come
from one counter, so they only ever grow, per mailbox and across re-seeding.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from sandbox import delivery, gmail_watch, mailbox, pubsub_push
from sandbox.gmail_watch import Watch
from sandbox.ledger import OAuthLedger
from sandbox.mailbox import Mailbox, Message
from sandbox.models import AuthorizationCode, AuthRequest, Behaviour, Client, Token
from sandbox.quota import ConcurrentCalls, SlidingQuota
from sandbox.risc import RiscState
from sandbox.secret_store import SecretStore

QUOTA_REFUSED = "gmail.refused_for_quota"
"""The counter of Gmail calls refused for the per-user quota (403 or 429, in a batch or not)."""
DEFAULT_ISSUER = "http://sandbox.test"
"""The ID tokens' `iss` when no request says where the sandbox is (the views pass their URL)."""
_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")


class SandboxState:
    """Thread-safe in-memory Google: what the endpoints serve and what tests inspect."""

    def __init__(
        self, clock: Callable[[], float] = time.time, behaviour: Behaviour | None = None
    ) -> None:
        self._clock = clock
        self._skew = 0.0
        self.behaviour = behaviour or Behaviour()
        #: Calls per endpoint name ("token.refresh_token", "gmail.messages.list", …).
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._oauth = OAuthLedger(self.clock, self.behaviour)
        self._mailboxes: dict[str, Mailbox] = {}
        self._quota = SlidingQuota()
        self._in_flight = ConcurrentCalls()
        self._secrets = SecretStore()
        self._watches: dict[str, Watch] = {}
        self._push_topics: set[str] = set()
        self._history = 1000  # the last history id handed out, in any mailbox
        self.risc = RiscState()

    # -- time --------------------------------------------------------------------------------
    def clock(self) -> float:
        """The sandbox's time: the injected clock, moved by :meth:`advance_clock`."""
        return self._clock() + self._skew

    def advance_clock(self, seconds: float) -> float:
        """Test hook: move the sandbox's time forward (idle and time-limited tokens, expiry)."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._skew += seconds
        return self.clock()

    def reset_clock(self) -> None:
        """Test hook: back to the injected clock's time."""
        with self._lock:
            self._skew = 0.0

    # -- clients ---------------------------------------------------------------------------
    def register_client(
        self,
        redirect_uris: list[str],
        client_id: str | None = None,
        client_secret: str | None = None,
        project_id: str = "sandbox",
    ) -> Client:
        """Register (or replace) an OAuth web client of Cloud project `project_id`.

        Ids and secrets are random when omitted.
        """
        if not redirect_uris:
            raise ValueError("a client needs at least one redirect URI")
        if not _PROJECT_ID.match(project_id):
            raise ValueError(f"not a Cloud project ID: {project_id!r}")
        client = Client(
            client_id or f"sbx-{secrets.token_hex(12)}.apps.sandbox.test",
            client_secret or "sbx-secret-" + secrets.token_urlsafe(24),
            tuple(redirect_uris),
            project_id,
        )
        with self._lock:
            self._oauth.clients[client.client_id] = client
        return client

    def client(self, client_id: str) -> Client | None:
        """The registered client, or None."""
        with self._lock:
            return self._oauth.clients.get(client_id)

    @staticmethod
    def client_config(client: Client, base_url: str) -> dict[str, dict[str, object]]:
        """The client JSON exactly as the Cloud console downloads it, pointing at `base_url`."""
        base = base_url.rstrip("/")
        return {
            "web": {
                "client_id": client.client_id,
                "project_id": client.project_id,
                "auth_uri": base + "/o/oauth2/v2/auth",
                "token_uri": base + "/token",
                "auth_provider_x509_cert_url": base + "/oauth2/v1/certs",
                "client_secret": client.client_secret,
                "redirect_uris": list(client.redirect_uris),
            }
        }

    def authenticate_client(self, client_id: str, secret_candidates: Iterable[str]) -> Client:
        """Client authentication for the token endpoint; raises OAuthError invalid_client."""
        with self._lock:
            return self._oauth.authenticate(client_id, secret_candidates)

    # -- authorization and tokens ----------------------------------------------------------
    def open_consent(self, request: AuthRequest) -> str:
        """Park a validated authorization request; return the consent id for the form."""
        with self._lock:
            return self._oauth.open_consent(request)

    def pending_consent(self, consent_id: str) -> AuthRequest | None:
        """The request behind a consent form, or None when unknown or expired."""
        with self._lock:
            return self._oauth.consent(consent_id)

    def deny_consent(self, consent_id: str) -> AuthRequest | None:
        """The user cancelled; returns the request so the caller can redirect back."""
        with self._lock:
            return self._oauth.deny(consent_id)

    def approve_consent(
        self, consent_id: str, email: str, scopes: Iterable[str]
    ) -> AuthorizationCode | None:
        """The user allowed `scopes`; returns the one-time code, or None if already answered."""
        with self._lock:
            return self._oauth.approve(consent_id, email, scopes)

    def exchange_code(
        self,
        client: Client,
        code: str,
        redirect_uri: str,
        code_verifier: str | None,
        issuer: str = DEFAULT_ISSUER,
    ) -> dict[str, object]:
        """Token response for an authorization code (ID token from `issuer`); raises OAuthError."""
        with self._lock:
            return self._oauth.exchange(client, code, redirect_uri, code_verifier, issuer)

    def refresh_access_token(
        self,
        client: Client,
        refresh_token: str,
        scopes: tuple[str, ...] | None = None,
        issuer: str = DEFAULT_ISSUER,
    ) -> dict[str, object]:
        """Token response for a refresh token (ID token from `issuer`); raises OAuthError."""
        with self._lock:
            return self._oauth.refresh(client, refresh_token, scopes, issuer)

    def access_token(self, value: str) -> Token | None:
        """The live access token, or None when unknown, expired or revoked."""
        with self._lock:
            return self._oauth.access_token(value)

    def revoke_token(self, value: str) -> bool:
        """Revoke the grant `value` belongs to; False when the token is unknown."""
        with self._lock:
            return self._oauth.revoke(value)

    def issued_tokens(self) -> list[str]:
        """Test hook: the refresh and access tokens issued so far, to look for in leaks."""
        with self._lock:
            return self._oauth.issued_tokens()

    def revoke_user(self, email: str) -> int:
        """Test hook: the user removes every app's access; returns the number of grants."""
        with self._lock:
            return self._oauth.revoke_user(email.lower())

    def expire_access_tokens(self, email: str) -> int:
        """Test hook: the user's access tokens stop working before their `expires_in`.

        Grants and refresh tokens stay: Gmail now answers 401 (in a batch too, part by part)
        and refreshing yields a working token, as Gmail's "Resolve errors" page describes a 401
        (https://developers.google.com/workspace/gmail/api/guides/handle-errors).
        Returns how many tokens ended.
        """
        with self._lock:
            return self._oauth.expire_access_tokens(email.lower())

    def refresh_tokens(self, email: str) -> list[Token]:
        """The user's live refresh tokens, oldest first."""
        with self._lock:
            return self._oauth.refresh_tokens(email.lower())

    def clients_of(self, project_id: str) -> list[Client]:
        """The OAuth clients of Cloud project `project_id`, in registration order."""
        with self._lock:
            return [c for c in self._oauth.clients.values() if c.project_id == project_id]

    def granted_scopes(self, client_id: str, email: str) -> frozenset[str] | None:
        """What `email` has granted `client_id` so far, or None."""
        with self._lock:
            return self._oauth.granted_scopes(client_id, email.lower())

    # -- Gmail -------------------------------------------------------------------------------
    def mailbox(self, email: str) -> Mailbox:
        """The user's mailbox, generating the demo one the first time the user is seen."""
        email = email.lower()
        with self._lock:
            return self._box(email)

    def seed_mailbox(self, email: str, count: int, seed: int | None = None) -> list[Message]:
        """Replace the user's mailbox with `count` generated messages, newest first."""
        with self._lock:
            return list(self._seed(email.lower(), count, seed).messages)

    def deliver_messages(
        self, email: str, count: int, labels: Iterable[str] = ("INBOX", "UNREAD")
    ) -> list[Message]:
        """Test hook: `count` new messages arrive, newest first, one messageAdded record each.

        When the user has an active watch whose label filter wants any of them and
        `pubsub_emulator_host` is set, one Gmail notification is published for the call;
        a failed publish is logged, never raised.

        Raises:
            ValueError: `count` out of range or labels that are not label ids.
        """
        email = email.lower()
        with self._lock:
            box = self._box(email)
            label_ids = (labels,) if isinstance(labels, str) else tuple(labels)
            box = delivery.deliver(box, count, label_ids, self._history + 1, self.clock())
            self._history = max(self._history, box.history_id)
            self._mailboxes[email] = box
            added = list(box.messages[:count])
            push = self._push_for(email, box.history_id, added)
        if push is not None:
            pubsub_push.publish(*push)
        return added

    def expire_history(self, email: str) -> None:
        """Test hook: forget every history record so far; older startHistoryIds now get 404."""
        email = email.lower()
        with self._lock:
            box = self._box(email)
            self._mailboxes[email] = delivery.expire(box)

    def grant_push_publisher(self, topic_name: str) -> None:
        """Let Gmail publish to `topic_name` (`projects/P/topics/T`).

        The stand-in for granting `roles/pubsub.publisher` on the topic to Gmail's push account,
        gmail-api-push@system.gserviceaccount.com (the Pub/Sub emulator has no IAM).
        """
        if not gmail_watch.is_topic_name(topic_name):
            raise ValueError(f"not a topic name: {topic_name!r}")
        with self._lock:
            self._push_topics.add(topic_name)

    def may_push_to(self, topic_name: str) -> bool:
        """Whether Gmail's push account has been allowed to publish to `topic_name`."""
        with self._lock:
            return topic_name in self._push_topics

    def start_watch(self, email: str, watch: Watch) -> int:
        """users.watch: store (or replace) the user's watch; returns the current history id."""
        email = email.lower()
        with self._lock:
            box = self._box(email)
            self._watches[email] = watch
            return box.history_id

    def stop_watch(self, email: str) -> bool:
        """users.stop: remove the user's watch; False when there was none."""
        with self._lock:
            return self._watches.pop(email.lower(), None) is not None

    def watch(self, email: str) -> Watch | None:
        """The user's watch as stored (expired or not), or None."""
        with self._lock:
            return self._watches.get(email.lower())

    def _push_for(
        self, email: str, history_id: int, added: list[Message]
    ) -> tuple[str, str, bytes] | None:
        """(emulator host, topic, data) when this change is to be pushed, else None."""
        host, watch = self.behaviour.pubsub_emulator_host, self._watches.get(email)
        if not host or watch is None or not watch.active(self.clock()):
            return None
        if not any(watch.wants(m.label_ids) for m in added):
            return None
        return host, watch.topic_name, pubsub_push.notification(email, history_id)

    def charge_quota(self, email: str, method: str) -> float | None:
        """Spend the units `method` costs in the quota profile in force.

        Returns:
            None when allowed, else the time (on `clock`) from which a retry may succeed.
        """
        with self._lock:
            behaviour = self.behaviour
            units = behaviour.quota.cost(method)
            limit, window = behaviour.quota_units_per_minute, behaviour.quota_window_seconds
            retry_at = self._quota.charge(email.lower(), units, limit, self.clock(), window)
            if retry_at is not None:
                self.calls[QUOTA_REFUSED] += 1
            return retry_at

    def reset_quota(self) -> None:
        """Test hook: forget the quota units every user has spent."""
        with self._lock:
            self._quota.reset()

    def begin_call(self, email: str) -> bool:
        """One more Gmail call in flight for `email`; False past `concurrent_requests_per_user`."""
        with self._lock:
            limit = self.behaviour.concurrent_requests_per_user
            return self._in_flight.begin(email.lower(), limit)

    def end_call(self, email: str) -> None:
        """A Gmail call that `begin_call` admitted has been answered."""
        with self._lock:
            self._in_flight.end(email.lower())

    def _box(self, email: str) -> Mailbox:
        """The stored mailbox, or the demo one generated now; call with the lock held."""
        box = self._mailboxes.get(email)
        return box if box is not None else self._seed(email, self.behaviour.demo_mailbox_size)

    def _seed(self, email: str, count: int, seed: int | None = None) -> Mailbox:
        """Generate and store a mailbox whose history is complete from its newest message on."""
        first = self._history + 1
        messages = mailbox.generate(email, count, seed, self.clock(), first_history_id=first)
        newest = first + count - 1  # the generated messages took ids first..newest
        self._history = newest + 1
        box = Mailbox(email, messages, self._history, history_floor=newest)
        self._mailboxes[email] = box
        return box

    # -- Secret Manager ----------------------------------------------------------------------
    def set_secret(self, name: str, data: bytes) -> None:
        """Store a secret version `projects/P/secrets/S/versions/N`."""
        with self._lock:
            self._secrets.set(name, data)

    def access_secret(self, name: str) -> tuple[str, bytes] | None:
        """(canonical version name, data), resolving `versions/latest`; None when absent."""
        with self._lock:
            return self._secrets.access(name)

    # -- knobs and counters --------------------------------------------------------------------
    def update_behaviour(self, knobs: Mapping[str, object]) -> dict[str, object]:
        """Validate and set knobs (see Behaviour); returns them all. Raises ValueError."""
        with self._lock:
            self.behaviour.update(knobs)
            return self.behaviour.as_dict()

    def count(self, endpoint: str) -> None:
        """Record one call of `endpoint`."""
        with self._lock:
            self.calls[endpoint] += 1

    def call_counts(self) -> dict[str, int]:
        """A snapshot of the call counters."""
        with self._lock:
            return dict(self.calls)

    def reset_calls(self) -> None:
        """Zero the call counters (in place, so references to `calls` stay valid)."""
        with self._lock:
            self.calls.clear()
