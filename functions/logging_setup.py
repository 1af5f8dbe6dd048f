"""Structured logs: one JSON object per line, as Cloud Logging reads them, and never a secret.

Cloud Logging lifts ``severity`` and ``message`` out of a JSON line, keeps the other keys as
``jsonPayload``, and links ``logging.googleapis.com/trace`` to the request's trace. Extra fields
travel in ``extra={"json_fields": {...}}``, the convention of google-cloud-logging.

Every line passes a redaction layer before it is written, whoever logged it (our code, oauthlib,
urllib3): the secrets of the current request or event (``state``, ``code``, PKCE verifier,
tokens), registered where they appear, are replaced wherever they appear, and so is anything
shaped like a credential (``Bearer`` headers, JWTs, ``*_token=``/``code=``/``client_secret=``
parameters, plain or URL-encoded, ``key: value`` lines and JSON fields, Google's token prefixes).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterator
from typing import Any

REDACTED = "[redacted]"
_SEVERITY = {"WARNING": "WARNING", "CRITICAL": "CRITICAL", "ERROR": "ERROR", "INFO": "INFO"}
# Parameter and field names whose values are credentials.
_SECRET_NAMES = "|".join(
    (
        "access_token",
        "refresh_token",
        "id_token",
        "token",
        "code",
        "code_verifier",
        "code_challenge",
        "state",
        "client_secret",
        "password",
        "assertion",
    )
)
# A value inside a URL-encoded string: anything up to an encoded or literal separator or quote.
_ENCODED_VALUE = r"(?:[^%&\s\"',;}]|%(?!2[26C]|7D|20)[0-9A-Fa-f]{2})+"
_PATTERNS = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{4,}"), r"\1 " + REDACTED),
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)[^\"',}]+"), r"\1" + REDACTED),
    # A JWT (RFC 7519 §3): base64url segments, the first a JSON header, so "eyJ" ('{"').
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    (re.compile(rf"(?i)\b({_SECRET_NAMES})=[^&\s\"',;]+"), r"\1=" + REDACTED),
    # The same, URL-encoded once or twice (a callback URL inside another URL's query).
    (
        re.compile(
            rf"(?i)(?:\b|(?<=%3F)|(?<=%26)|(?<=%253F)|(?<=%2526))({_SECRET_NAMES})"
            rf"(%3D|%253D){_ENCODED_VALUE}"
        ),
        r"\1\2" + REDACTED,
    ),
    (
        re.compile(rf"(?i)([\"']({_SECRET_NAMES})[\"']\s*:\s*)[\"'][^\"']*[\"']"),
        r'\1"' + REDACTED + '"',
    ),
    # A JSON field, URL-encoded: %22refresh_token%22%3A%22...%22 (quotes encoded or not).
    (
        re.compile(
            rf"(?i)((?:%22|\")({_SECRET_NAMES})(?:%22|\")(?:%20|\+)*(?:%3A|%253A)(?:%20|\+)*"
            rf"(?:%22|\")?){_ENCODED_VALUE}"
        ),
        r"\1" + REDACTED,
    ),
    # ``name: value``, as in YAML, HTTP headers or a printed mapping without quotes.
    (
        re.compile(rf"(?i)\b({_SECRET_NAMES})(\s*:\s*)(?:\"[^\"]*\"|'[^']*'|[^\s\"',;&}}\]]+)"),
        r"\1\2" + REDACTED,
    ),
    (re.compile(r"\b(ya29\.|1//|4/0|GOCSPX-|sbx-(?:at|rt|code)-)[A-Za-z0-9._~+/-]+"), REDACTED),
)
_MIN_SECRET_LENGTH = 8

# The secrets of the request or event being handled; None outside one, where nothing is kept.
_request_secrets: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar(
    "request_secrets", default=None
)
_trace: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace", default=None)


def add_request_secret(*values: str | None) -> None:
    """Redact ``values`` from every line logged in the current request or event from now on.

    Outside a :func:`request_context` or :func:`event_context` this does nothing: there is no
    request for the values to belong to (and keeping them would keep them forever).
    """
    secrets = _request_secrets.get()
    if secrets is None:
        return
    secrets.update(value for value in values if value and len(value) >= _MIN_SECRET_LENGTH)


class RequestSecrets:
    """Values of the current request that must never reach a log line."""

    def add(self, value: str | None) -> None:
        """Redact ``value`` from every line logged in this request from now on."""
        add_request_secret(value)


def redact(text: str) -> str:
    """``text`` with the request's secrets and credential-shaped substrings replaced."""
    for secret in sorted(_request_secrets.get() or (), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


@contextlib.contextmanager
def request_context(request: Any, project: str | None) -> Iterator[RequestSecrets]:
    """Scope the trace ID and the secret registry to one HTTP request."""
    with _scope(_trace_name(getattr(request, "headers", None), project)) as secrets:
        yield secrets


@contextlib.contextmanager
def event_context(event: Any, project: str | None) -> Iterator[RequestSecrets]:
    """Scope the trace ID and the secret registry to one CloudEvent.

    The trace comes from the event's ``traceparent`` (the CloudEvents distributed-tracing
    extension), which Eventarc sets.
    """
    traceparent = event.get("traceparent") if hasattr(event, "get") else None
    headers = {"traceparent": traceparent} if isinstance(traceparent, str) else None
    with _scope(_trace_name(headers, project)) as secrets:
        yield secrets


@contextlib.contextmanager
def _scope(trace: str | None) -> Iterator[RequestSecrets]:
    secrets_token = _request_secrets.set(set())
    trace_token = _trace.set(trace)
    try:
        yield RequestSecrets()
    finally:
        _trace.reset(trace_token)
        _request_secrets.reset(secrets_token)


def _trace_name(headers: Any, project: str | None) -> str | None:
    """``projects/P/traces/T`` from ``traceparent`` (W3C) or ``X-Cloud-Trace-Context``."""
    if headers is None or not project:
        return None
    trace_id = None
    traceparent = headers.get("traceparent", "")
    match = re.fullmatch(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}", traceparent)
    if match:
        trace_id = match.group(1)
    else:
        match = re.match(r"([0-9a-fA-F]{32})(?:/|$)", headers.get("X-Cloud-Trace-Context", ""))
        trace_id = match.group(1).lower() if match else None
    return f"projects/{project}/traces/{trace_id}" if trace_id else None


class JsonFormatter(logging.Formatter):
    """Formats a record as a redacted Cloud Logging structured line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelname, "DEBUG"),
            "message": record.getMessage(),
            "logger": record.name,
        }
        trace = _trace.get()
        if trace:
            entry["logging.googleapis.com/trace"] = trace
        fields = getattr(record, "json_fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # Redact the values, not the serialized line: a pattern must never eat JSON escaping.
        return json.dumps(_redacted(entry), ensure_ascii=False)


def _redacted(value: Any) -> Any:
    """``value`` with every string in it redacted; other leaves become strings first."""
    if isinstance(value, dict):
        return {str(key): _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redacted(item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


def configure_logging(stream: Any = None, level: int = logging.INFO) -> logging.Handler:
    """Write every logger's records as redacted JSON lines to ``stream`` (stdout), once."""
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler.formatter, JsonFormatter):
            return handler
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(min(root.level or level, level))
    logging.getLogger("functions").setLevel(level)
    return handler
