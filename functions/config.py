"""Configuration: every environment variable the functions read, validated once per instance.

The names are the public contract of docs/design.md §3 and are kept here as documented constants, as
google-auth does in ``environment_vars.py``. Resolution is environment → default; anything missing
or malformed fails at start-up with one sentence that names the variable.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from functions.errors import ConfigError
from functions.scopes import unknown_to_google

OAUTH_CLIENT_SECRETS = "OAUTH_CLIENT_SECRETS"
"""File path (a mounted secret when deployed) or Secret Manager version name of the OAuth client
JSON (``{"web": {...}}``)."""
OAUTH_CLIENT_ID = "OAUTH_CLIENT_ID"
"""The OAuth client's ID (not a secret): ``authorize`` sends browsers to consent with it and
mounts no client secret; where the client JSON is mounted too, the two must name one client."""
OAUTH_AUTH_URI = "OAUTH_AUTH_URI"
"""The provider's authorization endpoint, used with ``OAUTH_CLIENT_ID`` (the client JSON's
``auth_uri`` otherwise)."""
OAUTH_REDIRECT_URI = "OAUTH_REDIRECT_URI"
"""The callback URL registered with the OAuth client."""
OAUTH_SCOPES = "OAUTH_SCOPES"
"""Space-separated scopes to request."""
OIDC_USERINFO_URI = "OIDC_USERINFO_URI"
"""OpenID Connect userinfo endpoint."""
OAUTH_REVOKE_URI = "OAUTH_REVOKE_URI"
"""Token revocation endpoint (RFC 7009)."""
GMAIL_API_ROOT = "GMAIL_API_ROOT"
"""Root URL of the Gmail API."""
CREDENTIALS_COLLECTION = "CREDENTIALS_COLLECTION"
"""Firestore collection holding one document per user."""
EVENTS_COLLECTION = "EVENTS_COLLECTION"
"""Firestore collection of processed-event markers (idempotency and checkpoints)."""
WORK_BUDGET_SECONDS = "WORK_BUDGET_SECONDS"
"""Seconds one invocation may spend retrying Google before leaving the rest to Pub/Sub."""
AUTH_SESSIONS_COLLECTION = "AUTH_SESSIONS_COLLECTION"
"""Firestore collection of used consent links (digest of the state), ten minutes each."""
TOKEN_ENCRYPTION_KEYS = "TOKEN_ENCRYPTION_KEYS"  # noqa: S105 - a variable name, not a key
"""File path (a mounted secret when deployed) or Secret Manager version name of the private keys
that open tokens at rest; only the internal functions and the CLI have it."""
TOKEN_PUBLIC_KEYS = "TOKEN_PUBLIC_KEYS"  # noqa: S105 - a variable name, not a key
"""File path or Secret Manager version name of the public keys that seal tokens (the callback's);
unset where ``TOKEN_ENCRYPTION_KEYS`` is, whose private keys give the public ones."""
COOKIE_KEYS = "COOKIE_KEYS"
"""File path or Secret Manager version name of the keys that seal the consent cookies."""
REAUTH_TOPIC = "REAUTH_TOPIC"
"""Pub/Sub topic (ID or full name) told when a user must consent again, a template with
``{pipeline}`` (one topic per pipeline); unset: not published."""
AUTHORIZE_URL = "AUTHORIZE_URL"
"""Public URL of the ``authorize`` function, sent to people who must consent again."""
GMAIL_PUSH_TOPIC = "GMAIL_PUSH_TOPIC"
"""Full name of the topic Gmail publishes change notifications to (``users.watch``)."""
WATCH_LABEL_IDS = "WATCH_LABEL_IDS"
"""Comma-separated label IDs whose changes Gmail reports; the default is the inbox."""
RESULTS_TOPIC = "RESULTS_TOPIC"
"""Pub/Sub topic (ID or full name) that receives listing results, a template with ``{pipeline}``
(one topic per pipeline)."""
REQUESTS_TOPIC = "REQUESTS_TOPIC"
"""Pub/Sub topic (ID or full name) pipelines publish mailbox requests to, a template with
``{pipeline}``: ``list_messages`` knows a request's pipeline by the topic it came through."""
PIPELINES = "PIPELINES"
"""Comma-separated names of the pipelines (the consumers of mailbox data) this deployment
serves; each has its own requests, results and re-auth topics."""
ALLOWED_RETURN_TO = "ALLOWED_RETURN_TO"
"""Comma-separated URL prefixes that ``return_to`` may start with."""
GOOGLE_CLOUD_PROJECT = "GOOGLE_CLOUD_PROJECT"
"""The project ID, as the client libraries read it."""
SERVICE_NAME = "SERVICE_NAME"
"""The service's name as people know it (the app name of the OAuth consent screen), shown on every
page; unset: the pages say "the service"."""
SUPPORT_URL = "SUPPORT_URL"
"""An https page where people get help, linked from every page's footer; unset: no link."""
PRIVACY_POLICY_URL = "PRIVACY_POLICY_URL"
"""The https privacy policy (Google's consent screen verification asks for one), linked from every
page's footer; unset: no link."""
ACCOUNT_PERMISSIONS_URL = "ACCOUNT_PERMISSIONS_URL"
"""The page where people remove an app's access to their account, linked from the success page."""
LOG_LEVEL = "LOG_LEVEL"
"""The lowest level logged, for our code and every library: DEBUG, INFO, WARNING or ERROR."""
RISC_CONFIGURATION_URI = "RISC_CONFIGURATION_URI"
"""The provider's RISC configuration document (issuer and ``jwks_uri`` of security event tokens)."""
RISC_AUDIENCES = "RISC_AUDIENCES"
"""Comma-separated client IDs a security event token may be addressed to; the OAuth client's."""
SECURITY_EVENTS_COLLECTION = "SECURITY_EVENTS_COLLECTION"
"""Firestore collection of received security event IDs (``jti``), kept for replay detection."""
KEEP_ALIVE_DAYS = "KEEP_ALIVE_DAYS"
"""The daily job refreshes an active grant unused for this many days (Google drops refresh
tokens unused for six months)."""
GRANT_EXPIRY_WARNING_DAYS = "GRANT_EXPIRY_WARNING_DAYS"
"""How many days before a time-limited grant ends its user is told (``reason: grant_expiring``)."""
RISC_API_ROOT = "RISC_API_ROOT"
"""Root URL of the RISC stream management API (the operator CLI's ``risc`` commands)."""
GMAIL_QUOTA_PROFILE = "GMAIL_QUOTA_PROFILE"
"""The project's Gmail per-user quota: ``legacy`` (used the API before May 2026: 15,000 units per
user per minute, ``messages.get`` 5) or ``2026`` (created since: 6,000, ``messages.get`` 20)."""

DEFAULT_PIPELINES = ("default",)
PIPELINE_PLACEHOLDER = "{pipeline}"
DEFAULT_SCOPES = ("openid", "email", "https://www.googleapis.com/auth/gmail.readonly")
DEFAULT_AUTH_URI = "https://accounts.google.com/o/oauth2/v2/auth"
DEFAULT_USERINFO_URI = "https://openidconnect.googleapis.com/v1/userinfo"
DEFAULT_REVOKE_URI = "https://oauth2.googleapis.com/revoke"
DEFAULT_GMAIL_API_ROOT = "https://gmail.googleapis.com/"
DEFAULT_CREDENTIALS_COLLECTION = "gmail_credentials"
DEFAULT_AUTH_SESSIONS_COLLECTION = "oauth_sessions"
DEFAULT_EVENTS_COLLECTION = "processed_events"
DEFAULT_WORK_BUDGET_SECONDS = 240.0
DEFAULT_LOG_LEVEL = "INFO"
DEFAULT_ACCOUNT_PERMISSIONS_URL = "https://myaccount.google.com/connections"
MAX_SERVICE_NAME_LENGTH = 120
DEFAULT_RISC_CONFIGURATION_URI = "https://accounts.google.com/.well-known/risc-configuration"
DEFAULT_SECURITY_EVENTS_COLLECTION = "security_events"
DEFAULT_KEEP_ALIVE_DAYS = 150
DEFAULT_GRANT_EXPIRY_WARNING_DAYS = 3
DEFAULT_RISC_API_ROOT = "https://risc.googleapis.com/"
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
GMAIL_QUOTA_PROFILES = ("legacy", "2026")
DEFAULT_GMAIL_QUOTA_PROFILE = "legacy"

_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,255}$")
_COLLECTION_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_TOPIC_ID = re.compile(r"^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$")
PIPELINE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,29}$")
"""A pipeline's name: short enough that every topic ID made from it stays valid."""
_TOPIC_NAME = re.compile(r"^projects/([^/]+)/topics/([A-Za-z][A-Za-z0-9._~+%-]{2,254})$")


@dataclass(frozen=True)
class Settings:
    """The validated configuration of one function instance."""

    client_secrets: str | None
    redirect_uri: str
    scopes: tuple[str, ...]
    userinfo_uri: str
    revoke_uri: str
    gmail_api_root: str
    credentials_collection: str
    auth_sessions_collection: str
    events_collection: str
    work_budget_seconds: float
    allowed_return_to: tuple[str, ...]
    project: str | None
    results_topic: str | None
    token_keys: str | None
    reauth_topic: str | None
    authorize_url: str | None
    gmail_push_topic: str | None = None
    watch_label_ids: tuple[str, ...] = ("INBOX",)
    log_level: int = logging.INFO
    service_name: str | None = None
    support_url: str | None = None
    privacy_policy_url: str | None = None
    account_permissions_url: str = DEFAULT_ACCOUNT_PERMISSIONS_URL
    risc_configuration_uri: str = DEFAULT_RISC_CONFIGURATION_URI
    risc_audiences: tuple[str, ...] = ()
    """Empty: the OAuth client's ID."""
    security_events_collection: str = DEFAULT_SECURITY_EVENTS_COLLECTION
    keep_alive_days: int = DEFAULT_KEEP_ALIVE_DAYS
    grant_expiry_warning_days: int = DEFAULT_GRANT_EXPIRY_WARNING_DAYS
    pipelines: tuple[str, ...] = DEFAULT_PIPELINES
    requests_topic: str | None = None
    token_public_keys: str | None = None
    cookie_keys: str | None = None
    client_id: str | None = None
    auth_uri: str = DEFAULT_AUTH_URI
    gmail_quota_profile: str = DEFAULT_GMAIL_QUOTA_PROFILE
    gmail_quota_window_seconds: float = 60.0
    """Gmail counts a minute; only the tests and the benchmark shorten it, with the sandbox's."""

    @property
    def secure_cookies(self) -> bool:
        """Cookies are ``Secure`` everywhere but on a plain-http loopback callback."""
        return urlsplit(self.redirect_uri).scheme == "https"

    def results_topic_path(self, pipeline: str) -> str:
        """The full ``projects/P/topics/T`` name of ``pipeline``'s results topic.

        Raises:
            ConfigError: when the topic (or, for a bare ID, the project) is not configured.
        """
        return topic_path(_for_pipeline(self.results_topic, pipeline), self.project, RESULTS_TOPIC)

    def gmail_push_topic_path(self) -> str:
        """The full name of ``GMAIL_PUSH_TOPIC`` (Gmail needs the full name).

        Raises:
            ConfigError: it is not configured.
        """
        return topic_path(self.gmail_push_topic, self.project, GMAIL_PUSH_TOPIC)

    def reauth_topic_path(self, pipeline: str) -> str | None:
        """The full name of ``pipeline``'s re-auth topic, or ``None`` when re-auth events are
        not wanted."""
        if not self.reauth_topic:
            return None
        return topic_path(_for_pipeline(self.reauth_topic, pipeline), self.project, REAUTH_TOPIC)

    def pipeline_of_topic(self, topic: str) -> str | None:
        """The pipeline whose requests topic is ``topic`` (a full name), or ``None``.

        ``list_messages`` learns the topic from the delivery itself (the push subscription's
        endpoint path becomes the CloudEvent's ``source``), never from the request, so a
        pipeline cannot speak for another.

        Raises:
            ConfigError: ``REQUESTS_TOPIC`` is not configured (every delivery fails, and is
                redelivered once it is, rather than being dropped).
        """
        for pipeline in self.pipelines:
            name = _for_pipeline(self.requests_topic, pipeline)
            if topic_path(name, self.project, REQUESTS_TOPIC) == topic:
                return pipeline
        return None


def topic_path(topic: str | None, project: str | None, variable: str) -> str:
    """Expand a topic ID or full name into ``projects/P/topics/T``."""
    if not topic:
        raise ConfigError(f"{variable} is required: set it to the Pub/Sub topic ID or full name.")
    if _TOPIC_NAME.match(topic):
        return topic
    if not _TOPIC_ID.match(topic):
        raise ConfigError(
            f"{variable} must be a Pub/Sub topic ID or projects/PROJECT/topics/TOPIC, "
            f"got {topic!r}."
        )
    if not project:
        raise ConfigError(
            f"{GOOGLE_CLOUD_PROJECT} is required when {variable} is a bare topic ID: "
            "set it or give the full projects/PROJECT/topics/TOPIC name."
        )
    return f"projects/{project}/topics/{topic}"


def _for_pipeline(template: str | None, pipeline: str) -> str | None:
    """``template`` with ``{pipeline}`` replaced by the pipeline's name."""
    return None if template is None else template.replace(PIPELINE_PLACEHOLDER, pipeline)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the configuration.

    Args:
        environ: the variables to read; ``os.environ`` when omitted.

    Raises:
        ConfigError: with one sentence naming the first variable that is missing or malformed.
    """
    env = os.environ if environ is None else environ

    def get(name: str, default: str = "") -> str:
        return env.get(name, "").strip() or default

    client_secrets = get(OAUTH_CLIENT_SECRETS) or None
    client_id = get(OAUTH_CLIENT_ID) or None
    if not client_secrets and not client_id:
        raise ConfigError(
            f"{OAUTH_CLIENT_SECRETS} is required: set it to a Secret Manager version name "
            "(projects/P/secrets/S/versions/V) or the path of the OAuth client JSON file "
            f"(authorize needs only {OAUTH_CLIENT_ID})."
        )
    if client_id is not None and not _CLIENT_ID.match(client_id):
        raise ConfigError(f"{OAUTH_CLIENT_ID} must be an OAuth client ID, got {client_id[:80]!r}.")
    redirect_uri = endpoint_url(OAUTH_REDIRECT_URI, get(OAUTH_REDIRECT_URI), required=True)
    reauth_topic = get(REAUTH_TOPIC) or None
    authorize_url = get(AUTHORIZE_URL) or _authorize_url_beside(redirect_uri)
    if authorize_url:
        authorize_url = _url(AUTHORIZE_URL, authorize_url)
    elif reauth_topic:
        raise ConfigError(
            f"{AUTHORIZE_URL} is required with {REAUTH_TOPIC}: set it to the public URL of the "
            "authorize function (re-auth messages link to it)."
        )
    scopes = tuple(get(OAUTH_SCOPES).split()) or DEFAULT_SCOPES
    unknown = [scope for scope in scopes if unknown_to_google(scope)]
    if unknown:
        # Google would stop every user at its own "Error 400: invalid_scope" page.
        raise ConfigError(
            f"{OAUTH_SCOPES} holds a scope Google does not know, {unknown[0]!r}: use openid, "
            "email, profile or full scope URLs such as "
            "https://www.googleapis.com/auth/gmail.readonly."
        )
    allowed = tuple(
        _url(ALLOWED_RETURN_TO, prefix.strip(), required=True)
        for prefix in get(ALLOWED_RETURN_TO).split(",")
        if prefix.strip()
    )
    pipelines = _pipelines(get(PIPELINES))
    topics = {name: get(name) or None for name in (REQUESTS_TOPIC, RESULTS_TOPIC, REAUTH_TOPIC)}
    for name, template in topics.items():
        _check_template(name, template, pipelines, get(GOOGLE_CLOUD_PROJECT) or None)
    return Settings(
        client_secrets=client_secrets,
        redirect_uri=redirect_uri,
        scopes=scopes,
        userinfo_uri=endpoint_url(OIDC_USERINFO_URI, get(OIDC_USERINFO_URI, DEFAULT_USERINFO_URI)),
        revoke_uri=endpoint_url(OAUTH_REVOKE_URI, get(OAUTH_REVOKE_URI, DEFAULT_REVOKE_URI)),
        gmail_api_root=endpoint_url(GMAIL_API_ROOT, get(GMAIL_API_ROOT, DEFAULT_GMAIL_API_ROOT)),
        credentials_collection=_collection(
            CREDENTIALS_COLLECTION, get(CREDENTIALS_COLLECTION, DEFAULT_CREDENTIALS_COLLECTION)
        ),
        auth_sessions_collection=_collection(
            AUTH_SESSIONS_COLLECTION,
            get(AUTH_SESSIONS_COLLECTION, DEFAULT_AUTH_SESSIONS_COLLECTION),
        ),
        events_collection=_collection(
            EVENTS_COLLECTION, get(EVENTS_COLLECTION, DEFAULT_EVENTS_COLLECTION)
        ),
        work_budget_seconds=_seconds(
            WORK_BUDGET_SECONDS, get(WORK_BUDGET_SECONDS, str(DEFAULT_WORK_BUDGET_SECONDS))
        ),
        allowed_return_to=allowed,
        project=get(GOOGLE_CLOUD_PROJECT) or None,
        results_topic=topics[RESULTS_TOPIC],
        # Each function mounts only the keys it uses; the one that needs a missing key says so.
        token_keys=get(TOKEN_ENCRYPTION_KEYS) or None,
        token_public_keys=get(TOKEN_PUBLIC_KEYS) or None,
        cookie_keys=get(COOKIE_KEYS) or None,
        reauth_topic=topics[REAUTH_TOPIC],
        authorize_url=authorize_url,
        gmail_push_topic=get(GMAIL_PUSH_TOPIC) or None,
        watch_label_ids=tuple(
            label.strip() for label in get(WATCH_LABEL_IDS, "INBOX").split(",") if label.strip()
        ),
        log_level=_log_level(get(LOG_LEVEL, DEFAULT_LOG_LEVEL)),
        gmail_quota_profile=_quota_profile(get(GMAIL_QUOTA_PROFILE, DEFAULT_GMAIL_QUOTA_PROFILE)),
        service_name=_service_name(get(SERVICE_NAME)),
        support_url=_https_url(SUPPORT_URL, get(SUPPORT_URL)),
        privacy_policy_url=_https_url(PRIVACY_POLICY_URL, get(PRIVACY_POLICY_URL)),
        account_permissions_url=_https_url(
            ACCOUNT_PERMISSIONS_URL,
            get(ACCOUNT_PERMISSIONS_URL, DEFAULT_ACCOUNT_PERMISSIONS_URL),
            loopback_http=True,
        )
        or DEFAULT_ACCOUNT_PERMISSIONS_URL,
        risc_configuration_uri=endpoint_url(
            RISC_CONFIGURATION_URI, get(RISC_CONFIGURATION_URI, DEFAULT_RISC_CONFIGURATION_URI)
        ),
        risc_audiences=tuple(
            audience.strip() for audience in get(RISC_AUDIENCES).split(",") if audience.strip()
        ),
        security_events_collection=_collection(
            SECURITY_EVENTS_COLLECTION,
            get(SECURITY_EVENTS_COLLECTION, DEFAULT_SECURITY_EVENTS_COLLECTION),
        ),
        keep_alive_days=_days(KEEP_ALIVE_DAYS, get(KEEP_ALIVE_DAYS, str(DEFAULT_KEEP_ALIVE_DAYS))),
        client_id=client_id,
        auth_uri=endpoint_url(OAUTH_AUTH_URI, get(OAUTH_AUTH_URI, DEFAULT_AUTH_URI)),
        grant_expiry_warning_days=_days(
            GRANT_EXPIRY_WARNING_DAYS,
            get(GRANT_EXPIRY_WARNING_DAYS, str(DEFAULT_GRANT_EXPIRY_WARNING_DAYS)),
        ),
        pipelines=pipelines,
        requests_topic=topics[REQUESTS_TOPIC],
    )


@functools.cache
def get_settings() -> Settings:
    """The settings of this instance, read once on first use."""
    return load_settings()


def _authorize_url_beside(redirect_uri: str) -> str | None:
    """Cloud Functions serve each function at ``.../NAME``: authorize sits beside the callback."""
    base, slash, name = redirect_uri.partition("?")[0].rpartition("/")
    return f"{base}/authorize" if slash and name == "oauth2callback" else None


def _url(variable: str, value: str, *, required: bool = False) -> str:
    if not value and required:
        raise ConfigError(f"{variable} is required: set it to an absolute http(s) URL.")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{variable} must be an absolute http(s) URL, got {value!r}.")
    return value


def is_secure_endpoint(url: str) -> bool:
    """Whether tokens may be sent to (or keys read from) ``url``: https, or plain http on a
    loopback host only (the local sandbox), as RFC 6749 §3.1 and §3.2 require TLS of the
    authorization and token endpoints."""
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS)


def endpoint_url(variable: str, value: str, *, required: bool = False) -> str:
    """A provider endpoint (or our own callback): an absolute URL, https unless on localhost.

    Raises:
        ConfigError: naming ``variable``.
    """
    value = _url(variable, value, required=required)
    if not is_secure_endpoint(value):
        raise ConfigError(
            f"{variable} must use https unless it points at localhost, got {value!r}."
        )
    return value


def _https_url(variable: str, value: str, *, loopback_http: bool = False) -> str | None:
    """An optional link shown to people: https (or, if allowed, http on a loopback host, as the
    local stack serves), with a host and no credentials; ``None`` when unset."""
    if not value:
        return None
    parts = urlsplit(value)
    loopback = loopback_http and parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS
    if (parts.scheme != "https" and not loopback) or not parts.hostname or parts.username:
        raise ConfigError(
            f"{variable} must be an absolute https URL"
            + (" (or http on localhost)" if loopback_http else "")
            + f", got {value!r}."
        )
    return value


def _service_name(value: str) -> str | None:
    if not value:
        return None
    if len(value) > MAX_SERVICE_NAME_LENGTH or not value.isprintable():
        raise ConfigError(
            f"{SERVICE_NAME} must be printable text of at most {MAX_SERVICE_NAME_LENGTH} "
            f"characters, got {value[:MAX_SERVICE_NAME_LENGTH]!r}."
        )
    return value


def _seconds(variable: str, value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 3600:
        raise ConfigError(f"{variable} must be a number of seconds from 1 to 3600, got {value!r}.")
    return seconds


def _days(variable: str, value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 365:
        raise ConfigError(
            f"{variable} must be a whole number of days from 1 to 365, got {value!r}."
        )
    return int(value)


def _quota_profile(value: str) -> str:
    if value not in GMAIL_QUOTA_PROFILES:
        raise ConfigError(
            f"{GMAIL_QUOTA_PROFILE} must be legacy (a project that used the Gmail API before May"
            f" 2026) or 2026 (a project created since), got {value!r}."
        )
    return value


def _log_level(value: str) -> int:
    name = value.upper()
    if name not in _LOG_LEVELS:
        raise ConfigError(f"{LOG_LEVEL} must be one of {', '.join(_LOG_LEVELS)}, got {value!r}.")
    return logging.getLevelNamesMapping()[name]


def _pipelines(value: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(name.strip() for name in value.split(",") if name.strip()))
    for name in names:
        if not PIPELINE_NAME.match(name):
            raise ConfigError(
                f"{PIPELINES} holds {name!r}: a pipeline name is a lowercase letter, then up to "
                "29 lowercase letters, digits or hyphens."
            )
    return names or DEFAULT_PIPELINES


def _check_template(
    variable: str, template: str | None, pipelines: tuple[str, ...], project: str | None
) -> None:
    """A topic template names one topic per pipeline: with several pipelines it must hold
    ``{pipeline}``, and every topic it names must be valid."""
    if template is None:
        return
    if len(pipelines) > 1 and PIPELINE_PLACEHOLDER not in template:
        raise ConfigError(
            f"{variable} must hold {PIPELINE_PLACEHOLDER} when {PIPELINES} names several "
            f"pipelines (each has its own topic), got {template!r}."
        )
    for pipeline in pipelines:
        name = template.replace(PIPELINE_PLACEHOLDER, pipeline)
        if _TOPIC_NAME.match(name) or (_TOPIC_ID.match(name) and project is None):
            continue
        topic_path(name, project, variable)


def _collection(variable: str, value: str) -> str:
    if not _COLLECTION_ID.match(value):
        raise ConfigError(
            f"{variable} must be a Firestore collection ID (letters, digits, _ or -), "
            f"got {value!r}."
        )
    return value
