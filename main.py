"""Deployable entry points, one Cloud Function each (docs/design.md §3). Nothing else lives here.

Each function imports its handler on first call, so an instance loads only what its own entry
point needs. Configuration is validated at import: a function whose variables are missing or
malformed fails to start with one sentence naming the variable. Logging is then configured
(``LOG_LEVEL``); ``functions.logging_setup`` explains how it lives with functions-framework's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import functions_framework

from functions.config import get_settings
from functions.errors import ConfigError
from functions.logging_setup import configure_logging

if TYPE_CHECKING:
    import flask
    from cloudevents.http import CloudEvent

try:
    _settings = get_settings()
except ConfigError as error:
    raise SystemExit(f"Configuration error: {error}") from None
configure_logging(level=_settings.log_level)


@functions_framework.http
def authorize(request: flask.Request) -> flask.Response:
    """GET: redirect the browser to the consent page (offline access, PKCE, bound state)."""
    from functions.handlers.authorize import handle_authorize

    return handle_authorize(request)


@functions_framework.http
def oauth2callback(request: flask.Request) -> flask.Response:
    """GET: check state, exchange the code, identify the user, store the refresh token."""
    from functions.handlers.oauth2callback import handle_oauth2callback

    return handle_oauth2callback(request)


@functions_framework.http
def disconnect(request: flask.Request) -> flask.Response:
    """POST {"user_id"}: revoke the user's grant, then delete their document (IAM callers only)."""
    from functions.handlers.disconnect import handle_disconnect

    return handle_disconnect(request)


@functions_framework.cloud_event
def list_messages(event: CloudEvent) -> None:
    """Pub/Sub: list the requested user's messages and publish the IDs to RESULTS_TOPIC."""
    from functions.handlers.list_messages import handle_list_messages

    handle_list_messages(event)


@functions_framework.http
def watch(request: flask.Request) -> flask.Response:
    """POST {"user_id"}: have Gmail push the user's changes to GMAIL_PUSH_TOPIC (IAM callers)."""
    from functions.handlers.watch import handle_watch

    return handle_watch(request)


@functions_framework.http
def renew_watches(request: flask.Request) -> flask.Response:
    """POST (Cloud Scheduler, daily): dispatch one unit of work per user to UPKEEP_TOPIC."""
    from functions.handlers.watch import handle_renew_watches

    return handle_renew_watches(request)


@functions_framework.cloud_event
def upkeep_user(event: CloudEvent) -> None:
    """Pub/Sub (from renew_watches): keep one user's grant alive and renew their watch."""
    from functions.handlers.upkeep import handle_upkeep_user

    handle_upkeep_user(event)


@functions_framework.cloud_event
def gmail_push(event: CloudEvent) -> None:
    """Pub/Sub (Gmail push): publish the messages added since the last notification."""
    from functions.handlers.gmail_push import handle_gmail_push

    handle_gmail_push(event)


@functions_framework.http
def security_events(request: flask.Request) -> flask.Response:
    """POST (Google, public): a Cross-Account Protection security event token; 202 or 400."""
    from functions.handlers.security_events import handle_security_events

    return handle_security_events(request)
