"""A small evaluator of the Logging query language subset infra/log_metrics.json uses, so the
log-based metrics can be held against the JSON lines the functions really write, offline.

Cloud Logging's reference: https://cloud.google.com/logging/docs/view/logging-query-language
(filters) and the ``LogMetric`` reference (``label_extractors``: ``EXTRACT(field)`` and
``REGEXP_EXTRACT(field, "RE2 regex with exactly one capture group")``).

The subset understood, and nothing else (anything outside it raises :class:`Unsupported`, so a
filter the evaluator cannot read fails the contract test instead of silently matching nothing):

- a comparison ``FIELD = VALUE`` or ``FIELD =~ "REGEX"``; FIELD a dotted path of plain names
  (``resource.type``, ``resource.labels.service_name``, ``jsonPayload.reason``, ``severity``);
  VALUE a double-quoted string (``\\"`` and ``\\\\`` escapes), ``true``/``false`` or an integer;
- ``NOT`` a term, ``(`` ... ``)``, and ``AND`` / ``OR`` between terms. Logging gives OR a higher
  precedence than AND, unlike most languages: a group that mixes the two without parentheses is
  refused rather than guessed. Implicit AND (terms side by side) is refused too;
- regular expressions (``=~`` and ``REGEXP_EXTRACT``) anchored ``^...$``, so search and full-match
  semantics agree, and free of what RE2 lacks (look-arounds, back-references).

Semantics, as strict as Logging's or stricter: a comparison on a missing field is false; ``=``
between a string field and a string is exact (case-sensitive); a JSON boolean equals ``true`` /
``false``; a number equals an integer. ``EXTRACT`` gives a string, boolean or number as text
(``true``, ``42``) and nothing for a missing field or an object.

:func:`log_entry` turns one line our formatter writes into the LogEntry Cloud Logging makes of
it (https://cloud.google.com/logging/docs/structured-logging): ``severity``, the trace, span and
labels are lifted out, every other key stays under ``jsonPayload`` (``message`` included), and
the resource is the function's Cloud Run revision.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

LIFTED = {
    "severity": "severity",
    "logging.googleapis.com/labels": "labels",
    "logging.googleapis.com/trace": "trace",
    "logging.googleapis.com/spanId": "spanId",
    "logging.googleapis.com/trace_sampled": "traceSampled",
    "logging.googleapis.com/insertId": "insertId",
    "logging.googleapis.com/sourceLocation": "sourceLocation",
}


class Unsupported(ValueError):
    """A construct outside the subset this evaluator understands."""


def log_entry(
    line: Mapping[str, Any],
    service_name: str,
    *,
    project: str = "p-1",
    region: str = "europe-west1",
) -> dict[str, Any]:
    """The LogEntry Cloud Logging makes of one JSON line a Cloud Run function wrote."""
    entry: dict[str, Any] = {
        "resource": {
            "type": "cloud_run_revision",
            "labels": {
                "project_id": project,
                "location": region,
                "service_name": service_name,
                "configuration_name": service_name,
                "revision_name": f"{service_name}-00001-abc",
            },
        },
        "jsonPayload": {},
    }
    for key, value in line.items():
        if key in LIFTED:
            entry[LIFTED[key]] = value
        else:
            entry["jsonPayload"][key] = value
    return entry


# --- filters --------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lparen>\()|(?P<rparen>\))
        |(?P<op>=~|!=|!~|>=|<=|=|:|<|>)
        |(?P<string>"(?:[^"\\]|\\.)*")
        |(?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*|-?[0-9]+)
    )""",
    re.VERBOSE,
)
_SUPPORTED_OPS = ("=", "=~")
_KEYWORDS = ("AND", "OR", "NOT")

Predicate = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise Unsupported(f"cannot read the filter at {text[position : position + 30]!r}")
        kind = match.lastgroup or ""
        tokens.append(_Token(kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise Unsupported(f"the filter ends too early: {self.text!r}")
        self.index += 1
        return token

    def parse(self) -> Predicate:
        predicate = self.group()
        if self.peek() is not None:
            raise Unsupported(f"unexpected {self.peek().text!r} in {self.text!r}")  # type: ignore[union-attr]
        return predicate

    def group(self) -> Predicate:
        terms = [self.term()]
        joiners: set[str] = set()
        while (token := self.peek()) is not None and token.kind != "rparen":
            if token.kind != "word" or token.text not in ("AND", "OR"):
                raise Unsupported(
                    f"terms side by side (implicit AND) or an unknown operator at {token.text!r}"
                    f" in {self.text!r}"
                )
            joiners.add(self.take().text)
            terms.append(self.term())
        if len(joiners) > 1:
            raise Unsupported(
                f"AND and OR mixed without parentheses (Logging binds OR tighter): {self.text!r}"
            )
        if joiners == {"OR"}:
            return lambda entry: any(term(entry) for term in terms)
        return lambda entry: all(term(entry) for term in terms)

    def term(self) -> Predicate:
        token = self.take()
        if token.kind == "lparen":
            inner = self.group()
            if self.take().kind != "rparen":
                raise Unsupported(f"unbalanced parentheses in {self.text!r}")
            return inner
        if token.kind == "word" and token.text == "NOT":
            negated = self.term()
            return lambda entry: not negated(entry)
        if token.kind != "word" or token.text in _KEYWORDS or token.text[0].isdigit():
            raise Unsupported(f"expected a field at {token.text!r} in {self.text!r}")
        operator = self.take()
        if operator.kind != "op" or operator.text not in _SUPPORTED_OPS:
            raise Unsupported(f"operator {operator.text!r} is outside the subset ({self.text!r})")
        value = self.take()
        return _comparison(token.text, operator.text, value, self.text)


def _string(token: _Token) -> str:
    body = token.text[1:-1]
    if re.search(r"\\[^\"\\]", body):
        raise Unsupported(f'escape other than \\" or \\\\ in {token.text}')
    return re.sub(r"\\(.)", r"\1", body)


def _comparison(path: str, operator: str, value: _Token, text: str) -> Predicate:
    if operator == "=~":
        if value.kind != "string":
            raise Unsupported(f"=~ takes a quoted regular expression ({text!r})")
        pattern = _regex(_string(value), groups=None)
        return lambda entry: (
            (found := field(entry, path)) is not _MISSING
            and (shown := _as_text(found)) is not None
            and pattern.search(shown) is not None
        )
    if value.kind == "string":
        expected: object = _string(value)
        return lambda entry: field(entry, path) == expected
    if value.kind == "word" and value.text in ("true", "false"):
        flag = value.text == "true"
        return lambda entry: field(entry, path) is flag
    if value.kind == "word" and re.fullmatch(r"-?[0-9]+", value.text):
        number = int(value.text)
        return lambda entry: (
            isinstance(found := field(entry, path), int | float)
            and not isinstance(found, bool)
            and found == number
        )
    raise Unsupported(f"value {value.text!r} is outside the subset ({text!r})")


_MISSING = object()


def field(entry: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path of a LogEntry, or a sentinel when it is missing."""
    value: Any = entry
    for name in path.split("."):
        if not isinstance(value, Mapping) or name not in value:
            return _MISSING
        value = value[name]
    return value


def _as_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return None


def _regex(pattern: str, *, groups: int | None) -> re.Pattern[str]:
    if not (pattern.startswith("^") and pattern.endswith("$")):
        raise Unsupported(f"regular expression {pattern!r} is not anchored ^...$")
    if re.search(r"\(\?[=!<]|\\[1-9]", pattern):
        raise Unsupported(f"regular expression {pattern!r} uses what RE2 lacks")
    compiled = re.compile(pattern)
    if groups is not None and compiled.groups != groups:
        raise Unsupported(f"{pattern!r} must have exactly {groups} capture group")
    return compiled


def parse_filter(text: str) -> Predicate:
    """A predicate over LogEntry dicts; raises :class:`Unsupported` outside the subset."""
    return _Parser(text).parse()


def fields_of(text: str) -> set[str]:
    """The field paths a filter compares (after checking it is inside the subset)."""
    parse_filter(text)
    tokens = _tokens(text)
    return {
        token.text
        for token, after in itertools.pairwise(tokens)
        if token.kind == "word" and after.kind == "op"
    }


# --- label extractors -------------------------------------------------------------------------

_EXTRACT = re.compile(r"^EXTRACT\(([A-Za-z_][A-Za-z0-9_.]*)\)$")
_REGEXP_EXTRACT = re.compile(
    r'^REGEXP_EXTRACT\(([A-Za-z_][A-Za-z0-9_.]*),\s*("(?:[^"\\]|\\.)*")\)$'
)


def parse_extractor(text: str) -> tuple[str, Callable[[Mapping[str, Any]], str | None]]:
    """The field an extractor reads, and the extraction (None when nothing is extracted)."""
    if match := _EXTRACT.match(text):
        path = match.group(1)

        def extract(entry: Mapping[str, Any]) -> str | None:
            found = field(entry, path)
            return None if found is _MISSING else _as_text(found)

        return path, extract
    if match := _REGEXP_EXTRACT.match(text):
        path = match.group(1)
        pattern = _regex(_string(_Token("string", match.group(2))), groups=1)

        def regexp_extract(entry: Mapping[str, Any]) -> str | None:
            found = field(entry, path)
            shown = None if found is _MISSING else _as_text(found)
            hit = pattern.search(shown) if shown is not None else None
            return hit.group(1) if hit else None

        return path, regexp_extract
    raise Unsupported(f"label extractor {text!r} is neither EXTRACT(field) nor REGEXP_EXTRACT")


# --- the contract -----------------------------------------------------------------------------


def metric_problems(metric: Mapping[str, Any], entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """What is wrong with one metric of infra/log_metrics.json against real LogEntries.

    It must count at least one entry; each label must extract a non-empty value from every entry
    the metric counts (an ``optional`` label: from at least one). Outside the subset: raises.
    """
    name = metric["name"]
    matches = parse_filter(metric["filter"])
    counted = [entry for entry in entries if matches(entry)]
    if not counted:
        return [f"{name}: its filter matches none of the {len(entries)} lines the functions wrote"]
    problems = []
    for label, spec in metric.get("labels", {}).items():
        path, extract = parse_extractor(spec["extractor"])
        values = [extract(entry) for entry in counted]
        empty = sum(1 for value in values if not value)
        if empty == len(values) or (empty and not spec.get("optional")):
            problems.append(
                f"{name}: label {label} ({path}) extracts nothing from {empty} of the "
                f"{len(counted)} lines it counts"
            )
    return problems
