"""The clients the handlers use, built lazily, once per instance, and injectable.

Cloud Functions reuses an instance for many requests, so clients are built on first use and kept
(the "lazy globals" pattern of Google's samples). The HTTP clients to Google's token, userinfo,
revoke and Gmail endpoints are kept per thread as well, since neither requests' ``Session`` nor
httplib2's ``Http`` is safe to share between threads: each thread opens its connection once and
keeps it alive across requests, instead of a TCP and TLS handshake per request. Nothing is built
that a function does not use:
``authorize`` never imports the Pub/Sub client, ``list_messages`` never the OAuth flow. Tests build
a :class:`Services` of their own with emulator- or sandbox-backed clients.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from functions import clock
from functions.config import (
    COOKIE_KEYS,
    OAUTH_CLIENT_ID,
    OAUTH_CLIENT_SECRETS,
    TOKEN_ENCRYPTION_KEYS,
    TOKEN_PUBLIC_KEYS,
    Settings,
    get_settings,
)
from functions.errors import ConfigError

if TYPE_CHECKING:
    import requests
    from google.auth.transport import Request
    from google.cloud import firestore
    from google.cloud.pubsub_v1 import PublisherClient
    from google.cloud.secretmanager import SecretManagerServiceClient

    from functions.consent.authorize import ConsentPage
    from functions.consent.oauth_client import ClientID, OAuthClient
    from functions.consent.pending import UsedStates
    from functions.crypto import Keyring, TokenKeys, TokenSealer
    from functions.gmail.api import GmailClient
    from functions.gmail.limits import GmailCap
    from functions.grants.access import AccessTokenCache
    from functions.grants.lease import RefreshLease
    from functions.grants.reauth import ReauthStatus
    from functions.grants.rotation import KeyRotation
    from functions.grants.store import GrantStore
    from functions.pipeline.ledger import EventLedger
    from functions.pipeline.watch import WatchPositions

logger = logging.getLogger(__name__)

_Client = TypeVar("_Client")
_Built = TypeVar("_Built")


class _built_once(functools.cached_property[_Built]):
    """``functools.cached_property`` that builds once when threads ask at the same moment.

    An instance serves several requests at once (``sizing.concurrency``), and since Python 3.12
    ``cached_property`` takes no lock: two first uses at once would build two Firestore clients,
    or read a secret twice. Builds take the services' re-entrant lock (a build may use another);
    a built client is read from the instance's ``__dict__`` without it.
    """

    def __get__(self, instance: object, owner: type | None = None) -> _Built:  # type: ignore[override]
        lock = getattr(instance, "_build_lock", None) or contextlib.nullcontext()
        with lock:  # none when the class itself is asked (it answers the descriptor)
            return super().__get__(instance, owner)


class Services:
    """Everything a handler talks to. Each attribute is built on first access."""

    def __init__(
        self,
        settings: Settings,
        *,
        firestore_client: firestore.Client | None = None,
        secret_client: SecretManagerServiceClient | None = None,
        publisher: PublisherClient | None = None,
        http: requests.Session | None = None,
        now: clock.Clock = clock.utcnow,
    ) -> None:
        self.settings = settings
        self.now = now
        self._firestore = firestore_client
        self._secret_client = secret_client
        self._publisher = publisher
        self._http = http
        self._per_thread = threading.local()
        self._build_lock = threading.RLock()

    @_built_once
    def oauth_client(self) -> OAuthClient:
        """The OAuth client from ``OAUTH_CLIENT_SECRETS``, read once.

        Raises:
            ConfigError: it is not set, or it names another client than ``OAUTH_CLIENT_ID``.
        """
        from functions.consent.oauth_client import parse_client_json

        client = parse_client_json(self._secret(self.settings.client_secrets, OAUTH_CLIENT_SECRETS))
        if self.settings.client_id and client.client_id != self.settings.client_id:
            raise ConfigError(
                f"{OAUTH_CLIENT_SECRETS} holds client {client.client_id!r}, but {OAUTH_CLIENT_ID} "
                f"names {self.settings.client_id!r}: they must be the same client."
            )
        return client

    @_built_once
    def client_id(self) -> ClientID:
        """Who we are to the provider when sending a browser to consent: ``OAUTH_CLIENT_ID``
        where the client secret is not mounted (``authorize``), else the client JSON's."""
        from functions.consent.oauth_client import ClientID

        if self.settings.client_id and not self.settings.client_secrets:
            return ClientID(self.settings.client_id, self.settings.auth_uri)
        return self.oauth_client.public

    @_built_once
    def token_keys(self) -> TokenKeys:
        """The private keys that open tokens, from ``TOKEN_ENCRYPTION_KEYS``, read once.

        Their IDs are logged (never a key): during a rotation, the logs show when every instance
        seals under the new primary, which is when stored tokens can be re-sealed.
        """
        from functions.crypto import parse_token_keys

        keys = parse_token_keys(self._secret(self.settings.token_keys, TOKEN_ENCRYPTION_KEYS))
        logger.info(
            "token keys loaded",
            extra={"json_fields": {"primary": keys.primary, "key_ids": keys.key_ids}},
        )
        return keys

    @_built_once
    def token_sealer(self) -> TokenKeys | TokenSealer | None:
        """What the stores seal tokens with: the private keys where this function holds them
        (they open too), else the public keys of ``TOKEN_PUBLIC_KEYS`` (the callback), else
        nothing (``security_events`` only deletes tokens and reads other fields)."""
        if self.settings.token_keys:
            return self.token_keys
        if not self.settings.token_public_keys:
            return None
        from functions.crypto import parse_token_public_keys

        raw = self._secret(self.settings.token_public_keys, TOKEN_PUBLIC_KEYS)
        sealer = parse_token_public_keys(raw)
        logger.info(
            "token public keys loaded",
            extra={
                "json_fields": {"primary": sealer.primary, "key_ids": sorted(sealer.public_keys)}
            },
        )
        return sealer

    @_built_once
    def cookie_keys(self) -> Keyring:
        """The keys of the sealed consent cookies, from ``COOKIE_KEYS``, read once."""
        from functions.crypto import parse_keyring

        return parse_keyring(self._secret(self.settings.cookie_keys, COOKIE_KEYS))

    def _secret(self, reference: str | None, variable: str) -> bytes:
        """The secret ``variable`` names; a function that needs one it does not mount says so."""
        from functions.secrets import read_secret

        if not reference:
            raise ConfigError(
                f"{variable} is required by this function: set it to a Secret Manager version "
                "name or the path of the file (see the README's Configuration)."
            )
        return read_secret(reference, variable=variable, client=self._secret_client)

    @_built_once
    def consent_page(self) -> ConsentPage:
        """Where a browser is sent to consent, its pending authorization sealed in a cookie."""
        from functions.consent.authorize import ConsentPage

        return ConsentPage(
            self.client_id,
            self.settings.redirect_uri,
            self.cookie_keys,
            secure=self.settings.secure_cookies,
        )

    @_built_once
    def firestore(self) -> firestore.Client:
        """The Firestore client (honours ``FIRESTORE_EMULATOR_HOST``)."""
        if self._firestore is None:
            from google.cloud import firestore

            self._firestore = firestore.Client(project=self.settings.project)
        # Its API client is built now, in one thread: the library builds it on first use, and
        # two first calls at once (a read alongside the ledger's claim) would each build one.
        _ = self._firestore._firestore_api
        return self._firestore

    @_built_once
    def state_store(self) -> UsedStates:
        """Markers of used states."""
        from functions.consent.pending import UsedStates

        return UsedStates(self.firestore, self.settings.auth_sessions_collection)

    @_built_once
    def token_store(self) -> GrantStore:
        """Per-user grants (the user's document; each concern below has its own store)."""
        from functions.grants.store import GrantStore

        collection = self.settings.credentials_collection
        return GrantStore(self.firestore, collection, self.token_sealer)

    @_built_once
    def access_tokens(self) -> AccessTokenCache:
        """The access-token cache on the user's document."""
        from functions.grants.access import AccessTokenCache

        collection = self.settings.credentials_collection
        return AccessTokenCache(self.firestore, collection, self.token_sealer)

    @_built_once
    def reauth_status(self) -> ReauthStatus:
        """The re-auth status on the user's document."""
        from functions.grants.reauth import ReauthStatus

        collection = self.settings.credentials_collection
        return ReauthStatus(self.firestore, collection, self.token_sealer)

    @_built_once
    def watch_positions(self) -> WatchPositions:
        """The Gmail watch and its read position on the user's document."""
        from functions.pipeline.watch import WatchPositions

        collection = self.settings.credentials_collection
        return WatchPositions(self.firestore, collection, self.token_sealer)

    @_built_once
    def key_rotation(self) -> KeyRotation:
        """Re-sealing stored tokens under the primary key (the operator's ``reseal``)."""
        from functions.grants.rotation import KeyRotation

        return KeyRotation(self.firestore, self.settings.credentials_collection, self.token_keys)

    @_built_once
    def event_ledger(self) -> EventLedger:
        """Markers of processed Pub/Sub events."""
        from functions.pipeline.ledger import FirestoreEventLedger

        return FirestoreEventLedger(self.firestore, self.settings.events_collection)

    @_built_once
    def refresh_lease(self) -> RefreshLease:
        """Per-user refresh leases."""
        from functions.grants.lease import FirestoreRefreshLease

        return FirestoreRefreshLease(self.firestore, self.settings.credentials_collection)

    @_built_once
    def gmail_cap(self) -> GmailCap:
        """This instance's part in the per-user caps of Gmail calls in flight; the slots live
        with the user's document and expire with the work budget. A slot taken alongside the
        ledger's claim is held before the session's budget starts (after the ledger's wait and
        another instance's token refresh, each bounded) and past it (a call begun at its end
        runs to its timeout), so it lives that much longer."""
        from datetime import timedelta

        from functions.gmail.api import TIMEOUT_SECONDS as GMAIL_CALL_SECONDS
        from functions.gmail.limits import SLOT_MARGIN, FirestoreGmailSlots, GmailCap
        from functions.grants.access import WAIT_SECONDS as REFRESH_WAIT_SECONDS
        from functions.pipeline.ledger import TIMEOUT_SECONDS as LEDGER_WAIT_SECONDS

        slots = FirestoreGmailSlots(self.firestore, self.settings.credentials_collection)
        before_and_after = LEDGER_WAIT_SECONDS + REFRESH_WAIT_SECONDS + GMAIL_CALL_SECONDS
        hold_for = (
            timedelta(seconds=self.settings.work_budget_seconds + before_and_after) + SLOT_MARGIN
        )
        return GmailCap(slots, hold_for=hold_for, now=self.now)

    @_built_once
    def publisher(self) -> PublisherClient:
        """The Pub/Sub publisher (honours ``PUBSUB_EMULATOR_HOST``)."""
        if self._publisher is None:
            self._publisher = make_publisher()
        return self._publisher

    @property
    def http(self) -> requests.Session:
        """This thread's HTTP session to Google's token, userinfo, revocation and RISC endpoints,
        kept alive across requests (the one given to the constructor, in every thread)."""
        if self._http is not None:
            return self._http
        return self._thread_client("http", _new_session)

    @property
    def token_transport(self) -> Request:
        """This thread's google-auth transport over :attr:`http`, for refreshing tokens. Kept as
        long as the session: google-auth's ``Request`` closes its session when it is collected,
        so one made per refresh would drop the kept connection every time."""
        return self._thread_client("token_transport", lambda: _google_auth_transport(self.http))

    @property
    def gmail(self) -> GmailClient:
        """This thread's Gmail client: its connection to the Gmail API, kept alive across
        requests and users (each call carries its own request's access token), and the service
        built on it once."""
        return self._thread_client("gmail", self._new_gmail_client)

    def _new_gmail_client(self) -> GmailClient:
        from functions.gmail.api import GmailClient

        return GmailClient(self.settings.gmail_api_root)

    def _thread_client(self, name: str, build: Callable[[], _Client]) -> _Client:
        """The client ``name`` of the calling thread, built on its first use there."""
        client: _Client | None = getattr(self._per_thread, name, None)
        if client is None:
            client = build()
            setattr(self._per_thread, name, client)
        return client


def _new_session() -> requests.Session:
    import requests

    return requests.Session()


def _google_auth_transport(session: requests.Session) -> Request:
    from google.auth.transport.requests import Request

    return Request(session)


def make_publisher() -> PublisherClient:
    """A publisher that sends within a millisecond: a request publishes a few large messages and
    then waits for them, so the default 10 ms batching delay would only add latency."""
    from google.cloud.pubsub_v1 import PublisherClient
    from google.cloud.pubsub_v1.types import BatchSettings

    return PublisherClient(batch_settings=BatchSettings(max_latency=0.001))


@functools.cache
def get_services() -> Services:
    """This instance's services, built from the environment on first use."""
    return Services(get_settings())
