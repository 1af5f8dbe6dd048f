"""Structured logs: one JSON object per line, as Cloud Logging reads them, and never a secret.

Cloud Logging lifts ``severity`` and ``message`` out of a JSON line, keeps the other keys as
``jsonPayload``, links ``logging.googleapis.com/trace`` to the request's trace and files
``logging.googleapis.com/labels`` as the entry's labels
(https://cloud.google.com/logging/docs/structured-logging). Extra fields travel in
``extra={"json_fields": {...}}``, the convention of google-cloud-logging.

Every line passes a redaction layer before it is written, whoever logged it (our code, oauthlib,
urllib3): the secrets of the current request or event (``state``, ``code``, PKCE verifier,
tokens), registered where they appear, are replaced wherever they appear, and so is anything
shaped like a credential (``Bearer`` headers, JWTs, ``*_token=``/``code=``/``client_secret=``
parameters, plain or URL-encoded, ``key: value`` lines and JSON fields, Google's token prefixes).

Living with functions-framework. With ``LOG_EXECUTION_ID=true`` (Cloud Functions' default),
``functions_framework.create_app`` runs ``logging.config.dictConfig``: the root logger's handlers
are replaced by one that writes each record's bare message to its execution-ID stream
(``functions_framework.execution_id.logging_stream``), the root level becomes ``WARNING`` and every
logger that exists by then is disabled. Left beside ours, that handler writes every record a
second time, without severity and without redaction. We cooperate with what functions-framework
means rather than with that handler: it tracks the execution ID (the
``Function-Execution-Id`` header, or one it generates) and span of the request being served in
``execution_id.execution_context_var``; :class:`JsonFormatter` reads that context and writes the
same ``logging.googleapis.com/labels`` → ``execution_id`` and ``logging.googleapis.com/spanId``
fields its stream would have added, so our one line carries everything both would have written.
Adopting its handler instead (our formatter on its stream) would not do: the stream re-parses
every line and, for a record logged outside a request (start-up, a client library's own thread),
writes an extra blank line. So :func:`configure_logging` makes our handler the only one on the
root logger that writes to the process's output, and :func:`request_context` and
:func:`event_context` check that again, cheaply, as each request or event starts: whether
functions-framework configures logging before importing ``main.py`` (as 3.10 does) or after,
the first request finds its handler and puts ours back in its place. Handlers that write
elsewhere (a file, a test's capture) are left alone: they are not a second copy on the output.
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
LABELS_FIELD = "logging.googleapis.com/labels"
SPAN_ID_FIELD = "logging.googleapis.com/spanId"
TRACE_FIELD = "logging.googleapis.com/trace"
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
    extension), which Eventarc sets, or else from the push request that carried the event: our
    push subscriptions deliver over HTTP, and Cloud Run puts the trace on every request.
    """
    traceparent = event.get("traceparent") if hasattr(event, "get") else None
    headers: Any = {"traceparent": traceparent} if isinstance(traceparent, str) else None
    flask = sys.modules.get("flask")
    if headers is None and flask is not None and flask.has_request_context():
        headers = flask.request.headers
    with _scope(_trace_name(headers, project)) as secrets:
        yield secrets


@contextlib.contextmanager
def _scope(trace: str | None) -> Iterator[RequestSecrets]:
    ensure_logging()
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


def _execution_context() -> tuple[str | None, str | None]:
    """The execution ID and span ID functions-framework holds for the request being served.

    functions-framework sets its context at the start of each request and never clears it, so
    a thread's context outlives its request: it counts only while Flask is serving one.
    """
    execution = sys.modules.get("functions_framework.execution_id")
    flask = sys.modules.get("flask")
    if execution is None or flask is None or not flask.has_request_context():
        return None, None
    variable = getattr(execution, "execution_context_var", None)
    context = variable.get() if variable is not None else None
    return getattr(context, "execution_id", None), getattr(context, "span_id", None)


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
            entry[TRACE_FIELD] = trace
        fields = getattr(record, "json_fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        execution_id, span_id = _execution_context()
        if execution_id:
            labels = entry.get(LABELS_FIELD)
            entry[LABELS_FIELD] = {
                **(labels if isinstance(labels, dict) else {}),
                "execution_id": execution_id,
            }
        if span_id:
            entry[SPAN_ID_FIELD] = span_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # Redact the values, not the serialized line: a pattern must never eat JSON escaping.
        return json.dumps(redacted(entry), ensure_ascii=False)


def redacted(value: Any) -> Any:
    """``value`` with every string in it redacted; other leaves become strings first."""
    if isinstance(value, dict):
        return {str(key): redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redacted(item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


_handler: logging.StreamHandler[Any] | None = None
_level = logging.INFO
_GOOGLE_LOGGER = "google"


def configure_logging(stream: Any = None, level: int = logging.INFO) -> logging.Handler:
    """Write every logger's records as redacted JSON lines to ``stream`` (stdout), once.

    Idempotent: calling again keeps one handler (a new one for a new stream) and takes over the
    root logger again. Python warnings are logged too (``py.warnings``): JSON lines as well.

    Args:
        stream: where lines go; ``sys.stdout`` as it is now when omitted.
        level: the lowest level written (``LOG_LEVEL``), for every logger.

    Returns:
        The handler.
    """
    global _handler, _level
    target = stream or sys.stdout
    if _handler is None or _handler.stream is not target:
        if _handler is not None:  # a new handler: the old stream may be closed by now
            logging.getLogger().removeHandler(_handler)
        _handler = logging.StreamHandler(target)
        _handler.setFormatter(JsonFormatter())
    _level = level
    logging.captureWarnings(True)
    _take_over(_handler)
    return _handler


def ensure_logging() -> None:
    """Put our handler back in sole charge if someone reconfigured logging since; else nothing.

    Does nothing before :func:`configure_logging` (a handler called directly, as in unit tests).
    """
    handler = _handler
    if handler is None:
        return
    root = logging.getLogger()
    if handler not in root.handlers or any(
        _writes_to_output(other) for other in root.handlers if other is not handler
    ):
        _take_over(handler)


def _take_over(handler: logging.Handler) -> None:
    """Make ``handler`` the root's only writer to the output, at ``_level``; wake loggers.

    ``dictConfig`` disables every logger that existed when it ran: the loggers of modules
    imported before then would stay silent for the life of the instance. And Google's client
    libraries stop the ``google`` logger's records from reaching the root (google-api-core's
    ``client_logging``) unless that logger is configured already: it is given our level, and
    handed back to the root if a client got there first. Otherwise a warning of theirs would
    reach the output only as Python's bare last-resort line.
    """
    root = logging.getLogger()
    for other in list(root.handlers):
        if other is not handler and _writes_to_output(other):
            root.removeHandler(other)
    if handler not in root.handlers:
        root.addHandler(handler)
    root.setLevel(_level)
    google = logging.getLogger(_GOOGLE_LOGGER)
    google.setLevel(_level)
    for other in list(google.handlers):
        if _writes_to_output(other):  # a client's own console handler: ours writes the line
            google.removeHandler(other)
    if not google.handlers:
        google.propagate = True
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger) and logger.disabled:
            logger.disabled = False


def _writes_to_output(handler: logging.Handler) -> bool:
    """Whether ``handler`` writes to this process's stdout or stderr (directly or not)."""
    stream = getattr(handler, "stream", None)
    if stream is None:
        return False
    outputs: list[object] = [sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__]
    execution = sys.modules.get("functions_framework.execution_id")
    if execution is not None:
        outputs.append(getattr(execution, "logging_stream", None))
    return any(stream is output for output in outputs)
