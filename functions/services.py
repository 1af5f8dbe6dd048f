"""The clients the handlers use, built lazily, once per instance, and injectable.

Cloud Functions reuses an instance for many requests, so clients are built on first use and kept
(the "lazy globals" pattern of Google's samples). Nothing is built that a function does not use:
``authorize`` never imports the Pub/Sub client, ``list_messages`` never the OAuth flow. Tests build
a :class:`Services` of their own with emulator- or sandbox-backed clients.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

from functions import clock
from functions.config import OAUTH_CLIENT_SECRETS, TOKEN_ENCRYPTION_KEYS, Settings, get_settings

if TYPE_CHECKING:
    import requests
    from google.cloud import firestore
    from google.cloud.pubsub_v1 import PublisherClient
    from google.cloud.secretmanager import SecretManagerServiceClient

    from functions.consent.authorize import ConsentPage
    from functions.consent.oauth_client import OAuthClient
    from functions.consent.pending import UsedStates
    from functions.crypto import Keyring
    from functions.grants.access import AccessTokenCache
    from functions.grants.lease import RefreshLease
    from functions.grants.reauth import ReauthStatus
    from functions.grants.rotation import KeyRotation
    from functions.grants.store import GrantStore
    from functions.pipeline.ledger import EventLedger
    from functions.pipeline.watch import WatchPositions

logger = logging.getLogger(__name__)


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

    @functools.cached_property
    def oauth_client(self) -> OAuthClient:
        """The OAuth client from ``OAUTH_CLIENT_SECRETS``, read once."""
        from functions.consent.oauth_client import parse_client_json
        from functions.secrets import read_secret

        raw = read_secret(
            self.settings.client_secrets, variable=OAUTH_CLIENT_SECRETS, client=self._secret_client
        )
        return parse_client_json(raw)

    @functools.cached_property
    def keyring(self) -> Keyring:
        """The token-sealing keys from ``TOKEN_ENCRYPTION_KEYS``, read once.

        Their IDs are logged (never a key): during a rotation, the logs show when every instance
        seals under the new primary, which is when stored tokens can be re-sealed.
        """
        from functions.crypto import parse_keyring
        from functions.secrets import read_secret

        raw = read_secret(
            self.settings.token_keys, variable=TOKEN_ENCRYPTION_KEYS, client=self._secret_client
        )
        keyring = parse_keyring(raw)
        logger.info(
            "token keys loaded",
            extra={"json_fields": {"primary": keyring.primary, "key_ids": sorted(keyring.keys)}},
        )
        return keyring

    @functools.cached_property
    def cookie_keys(self) -> Keyring:
        """Keys for the sealed browser cookies, derived from the token keys."""
        from functions.consent.pending import KEY_PURPOSE

        return self.keyring.derive(KEY_PURPOSE)

    @functools.cached_property
    def consent_page(self) -> ConsentPage:
        """Where a browser is sent to consent, its pending authorization sealed in a cookie."""
        from functions.consent.authorize import ConsentPage

        return ConsentPage(
            self.oauth_client,
            self.settings.redirect_uri,
            self.cookie_keys,
            secure=self.settings.secure_cookies,
        )

    @functools.cached_property
    def firestore(self) -> firestore.Client:
        """The Firestore client (honours ``FIRESTORE_EMULATOR_HOST``)."""
        if self._firestore is None:
            from google.cloud import firestore

            self._firestore = firestore.Client(project=self.settings.project)
        # Its API client is built now, in one thread: the library builds it on first use, and
        # two first calls at once (a read alongside the ledger's claim) would each build one.
        _ = self._firestore._firestore_api
        return self._firestore

    @functools.cached_property
    def state_store(self) -> UsedStates:
        """Markers of used states."""
        from functions.consent.pending import UsedStates

        return UsedStates(self.firestore, self.settings.auth_sessions_collection)

    @functools.cached_property
    def token_store(self) -> GrantStore:
        """Per-user grants (the user's document; each concern below has its own store)."""
        from functions.grants.store import GrantStore

        return GrantStore(self.firestore, self.settings.credentials_collection, self.keyring)

    @functools.cached_property
    def access_tokens(self) -> AccessTokenCache:
        """The access-token cache on the user's document."""
        from functions.grants.access import AccessTokenCache

        return AccessTokenCache(self.firestore, self.settings.credentials_collection, self.keyring)

    @functools.cached_property
    def reauth_status(self) -> ReauthStatus:
        """The re-auth status on the user's document."""
        from functions.grants.reauth import ReauthStatus

        return ReauthStatus(self.firestore, self.settings.credentials_collection, self.keyring)

    @functools.cached_property
    def watch_positions(self) -> WatchPositions:
        """The Gmail watch and its read position on the user's document."""
        from functions.pipeline.watch import WatchPositions

        return WatchPositions(self.firestore, self.settings.credentials_collection, self.keyring)

    @functools.cached_property
    def key_rotation(self) -> KeyRotation:
        """Re-sealing stored tokens under the primary key (the operator's ``reseal``)."""
        from functions.grants.rotation import KeyRotation

        return KeyRotation(self.firestore, self.settings.credentials_collection, self.keyring)

    @functools.cached_property
    def event_ledger(self) -> EventLedger:
        """Markers of processed Pub/Sub events."""
        from functions.pipeline.ledger import FirestoreEventLedger

        return FirestoreEventLedger(self.firestore, self.settings.events_collection)

    @functools.cached_property
    def refresh_lease(self) -> RefreshLease:
        """Per-user refresh leases."""
        from functions.grants.lease import FirestoreRefreshLease

        return FirestoreRefreshLease(self.firestore, self.settings.credentials_collection)

    @functools.cached_property
    def publisher(self) -> PublisherClient:
        """The Pub/Sub publisher (honours ``PUBSUB_EMULATOR_HOST``)."""
        if self._publisher is None:
            self._publisher = make_publisher()
        return self._publisher

    @functools.cached_property
    def http(self) -> requests.Session:
        """A pooled HTTP session for the userinfo and revocation endpoints."""
        if self._http is None:
            import requests

            self._http = requests.Session()
        return self._http


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
