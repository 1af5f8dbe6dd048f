"""What a failure talking to Google means for a mailbox request, decided in one place."""

from __future__ import annotations

import json

import httplib2
import pytest
from google.auth import exceptions as auth_errors
from googleapiclient.errors import HttpError

from functions.errors import (
    AccessTokenRefused,
    GmailRequestRejected,
    ReauthRequired,
    TransientError,
)
from functions.google_errors import classify


def http_error(status: int, reason: str = "", status_text: str = "") -> HttpError:
    body = {"error": {"code": status, "status": status_text, "errors": [{"reason": reason}]}}
    return HttpError(httplib2.Response({"status": status}), json.dumps(body).encode())


@pytest.mark.parametrize(
    ("error", "kind", "reason"),
    [
        (
            http_error(403, "insufficientPermissions", "PERMISSION_DENIED"),
            ReauthRequired,
            "missing_scope",
        ),
        (http_error(403, "", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"), ReauthRequired, "missing_scope"),
        (
            auth_errors.RefreshError(
                "invalid_grant: Token has been expired or revoked.", {"error": "invalid_grant"}
            ),
            ReauthRequired,
            "invalid_grant",
        ),
    ],
)
def test_a_lost_or_narrowed_grant_means_consent_again(error, kind, reason):
    classified = classify(error)

    assert isinstance(classified, kind)
    assert classified.reason == reason
    assert not classified.retryable


def test_a_401_is_a_refused_access_token_not_a_lost_grant():
    # Resolve errors, 401: the access token expired or is invalid: refresh it. Only the token
    # endpoint refusing the refresh token (invalid_grant) means consent again.
    classified = classify(http_error(401, "authError", "UNAUTHENTICATED"))

    assert isinstance(classified, AccessTokenRefused)
    assert not isinstance(classified, ReauthRequired)
    assert not classified.retryable  # not with the same token; the Gmail session mints one


@pytest.mark.parametrize(
    "error",
    [
        http_error(429, "rateLimitExceeded", "RESOURCE_EXHAUSTED"),
        http_error(403, "userRateLimitExceeded"),
        http_error(403, "rateLimitExceeded", "PERMISSION_DENIED"),
        http_error(500),
        http_error(503),
        auth_errors.RefreshError("temporarily_unavailable", retryable=True),
        auth_errors.TransportError("connection reset"),
        TimeoutError(),
        ConnectionRefusedError(),
        httplib2.ServerNotFoundError("no such host"),
    ],
)
def test_passing_failures_are_retried(error):
    classified = classify(error)

    assert isinstance(classified, TransientError)
    assert classified.retryable


@pytest.mark.parametrize("error", [http_error(400, "invalidArgument"), http_error(404)])
def test_gmail_refusing_the_request_itself_is_not_retried(error):
    classified = classify(error)

    assert isinstance(classified, GmailRequestRejected)
    assert not classified.retryable


def test_anything_else_is_not_ours_to_guess():
    assert classify(KeyError("x")) is None


def test_gmail_refusing_the_request_passes_on_gmails_own_message():
    body = {"error": {"code": 400, "message": "Invalid query", "status": "INVALID_ARGUMENT"}}
    error = HttpError(httplib2.Response({"status": 400}), json.dumps(body).encode())

    classified = classify(error)

    assert isinstance(classified, GmailRequestRejected)
    assert classified.reason == "Invalid query"
    assert str(classified) == "Gmail refused the request (400)"


def test_a_gmail_refusal_without_a_json_body_has_no_reason():
    classified = classify(HttpError(httplib2.Response({"status": 400}), b"<html>"))

    assert isinstance(classified, GmailRequestRejected)
    assert classified.reason is None
