"""The records the sandbox keeps: clients, consent requests, codes, tokens, grants, knobs."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from sandbox.quota import PROFILES, QuotaProfile

_HOST_PORT = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+)(?::[0-9]{1,5})?$")


_CHOICES: dict[str, tuple[object, ...]] = {
    "quota_profile": tuple(PROFILES),
    "quota_refusal_status": (403, 429),
}


@dataclass(frozen=True)
class Client:
    """An OAuth client as registered in the (fake) Cloud console."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    #: the Cloud project owning the client: the "calling project" of the tokens it gets.
    project_id: str = "sandbox"


@dataclass(frozen=True)
class AuthRequest:
    """A validated authorization request waiting for the user's decision (RFC 6749 §4.1.1)."""

    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    offline: bool = False
    prompt: frozenset[str] = frozenset()
    include_granted_scopes: bool = False
    login_hint: str = ""
    nonce: str | None = None  # OpenID Connect: echoed in the ID token


@dataclass
class AuthorizationCode:
    """A one-time code (RFC 6749 §4.1.2); kept after use so a replay can be detected."""

    value: str
    request: AuthRequest
    email: str
    scopes: tuple[str, ...]
    expires_at: float
    redeemed: bool = False


@dataclass(frozen=True)
class Token:
    """A refresh or access token; `code` is the authorization code it descends from."""

    value: str
    client_id: str
    email: str
    scopes: tuple[str, ...]
    code: str
    expires_at: float | None = None  # None: never expires (refresh tokens)


@dataclass
class Grant:
    """What one user has granted one client, as listed in their Google Account permissions."""

    scopes: set[str] = field(default_factory=set)
    refresh_issued: bool = False


@dataclass
class Behaviour:
    """Knobs that tests and the dev stack turn to make the sandbox misbehave on purpose."""

    omit_refresh_token: bool = False
    #: answer without an ID token even when openid is granted (a provider that issues none, so
    #: the client must ask userinfo)
    omit_id_token: bool = False
    access_token_lifetime: int = 3600
    #: which Gmail quota the project has: "legacy" (before May 2026) or "2026" (see quota.py).
    #: Setting it also sets `quota_units_per_minute` to the profile's limit unless given too.
    quota_profile: str = "legacy"
    quota_units_per_minute: int = 15000
    #: the quota's sliding window; Gmail's is a minute, tests shorten it to make storms quick
    #: and the benchmark to a fraction of a second, to read a big mailbox at scale in seconds.
    quota_window_seconds: float = 60
    #: how the per-user quota refuses: 403 `userRateLimitExceeded` or 429 `rateLimitExceeded`.
    quota_refusal_status: int = 403
    #: Gmail calls one user may have in flight at once (Gmail's number is not published).
    concurrent_requests_per_user: int = 10
    latency_ms: int = 0
    demo_mailbox_size: int = 3000
    #: `host:port` of a Pub/Sub emulator (as PUBSUB_EMULATOR_HOST); empty: no push notifications.
    pubsub_emulator_host: str = ""
    #: seconds a new refresh token lives (a time-limited grant: the token response then carries
    #: `refresh_token_expires_in`); 0: until revoked.
    refresh_token_expires_in: int = 0
    #: days a refresh token may go unused before it stops working (Google: six months); 0: never.
    refresh_token_idle_days: int = 0
    #: the revocation endpoint answers 503 (a provider that is down), revoking nothing.
    revoke_unavailable: bool = False

    def update(self, knobs: Mapping[str, object]) -> None:
        """Set several knobs at once, all or nothing.

        Raises:
            ValueError: unknown knob, wrong type, negative number or a host that is not host:port.
        """
        types = {f.name: f.type for f in dataclasses.fields(self)}
        for name, value in knobs.items():
            if name not in types:
                raise ValueError(f"unknown knob {name!r}")
            if name in _CHOICES:
                if value not in _CHOICES[name] or isinstance(value, bool):
                    choices = ", ".join(repr(c) for c in _CHOICES[name])
                    raise ValueError(f"{name} must be one of {choices}")
            elif types[name] == "bool":
                if not isinstance(value, bool):
                    raise ValueError(f"{name} must be true or false")
            elif types[name] == "float":
                if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                    raise ValueError(f"{name} must be a positive number")
            elif types[name] == "str":
                if not isinstance(value, str) or (value and not _HOST_PORT.match(value)):
                    raise ValueError(f"{name} must be host:port or empty")
            elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer")
        for name, value in knobs.items():
            setattr(self, name, value)
        if "quota_profile" in knobs and "quota_units_per_minute" not in knobs:
            self.quota_units_per_minute = PROFILES[self.quota_profile].units_per_user_per_minute

    @property
    def quota(self) -> QuotaProfile:
        """The Gmail quota profile in force."""
        return PROFILES[self.quota_profile]

    def as_dict(self) -> dict[str, object]:
        """The knobs as JSON-ready values."""
        return dataclasses.asdict(self)
