"""Structured logs: one JSON object per line, as Cloud Logging reads them from stdout.

Cloud Logging lifts ``severity`` and ``message`` out of a JSON line and keeps the other keys as
``jsonPayload``; ``logging.googleapis.com/trace`` links the line to the request's trace. Extra
fields travel in ``extra={"json_fields": {...}}``, the convention of google-cloud-logging. Only
this package's logger is configured, so the libraries' own logging is left as the platform set it.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

_SEVERITY = {"WARNING": "WARNING", "CRITICAL": "CRITICAL", "ERROR": "ERROR", "INFO": "INFO"}


class JsonFormatter(logging.Formatter):
    """Formats a record as a Cloud Logging structured line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelname, "DEBUG"),
            "message": record.getMessage(),
            "logger": record.name,
        }
        fields = getattr(record, "json_fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(stream: Any = None) -> None:
    """Send this package's logs to ``stream`` (stdout) as JSON lines, once per process."""
    logger = logging.getLogger("functions")
    if any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        return
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
