"""The subset of Gmail's search syntax (the `q` parameter) that the sandbox understands.

See https://support.google.com/mail/answer/7190. Terms are ANDed; a leading `-` negates one.
Syntax the sandbox does not implement (OR, braces, parentheses, unknown operators) is rejected
with "Invalid query" rather than silently given a different meaning.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sandbox.mailbox import Message

Predicate = Callable[[Message], bool]

_TERM = re.compile(r'(-?)(?:([A-Za-z_]+):)?(?:"([^"]*)"|([^\s"]+))(?=\s|$)')
_RELATIVE = re.compile(r"^(\d+)([dmy])$")
_UNIT_DAYS = {"d": 1, "m": 30, "y": 365}
_DAY_MS = 86_400_000
_IS = {"unread": "UNREAD", "starred": "STARRED", "important": "IMPORTANT"}
_CATEGORY = {
    name: "CATEGORY_" + ("PERSONAL" if name == "primary" else name.upper())
    for name in ("primary", "social", "forums", "promotions", "updates")
}
_SPAM_TRASH = frozenset({"SPAM", "TRASH"})


class QueryError(ValueError):
    """The query uses syntax outside the supported subset."""


@dataclass(frozen=True)
class GmailQuery:
    """A parsed query: all terms must hold; `names_spam_trash` lifts the default exclusion."""

    terms: tuple[Predicate, ...] = ()
    names_spam_trash: bool = False

    def matches(self, message: Message) -> bool:
        """True when every term holds for `message`."""
        return all(term(message) for term in self.terms)


def parse(q: str, now: float) -> GmailQuery:
    """Parse `q`; relative dates (newer_than, older_than) count back from `now` (epoch seconds).

    Raises:
        QueryError: for anything outside the supported subset.
    """
    terms: list[Predicate] = []
    names_spam_trash = False
    position, text = 0, q.strip()
    while position < len(text):
        match = _TERM.match(text, position)
        if match is None:
            raise QueryError(f"cannot parse query at {text[position:]!r}")
        negated, operator, quoted, bare = match.groups()
        value = quoted if quoted is not None else bare
        position = match.end()
        while position < len(text) and text[position].isspace():
            position += 1
        if operator is None and quoted is None:
            if value == "AND" and not negated:
                continue
            if value == "OR" or any(c in value for c in "(){}:"):
                raise QueryError(f"unsupported query syntax {value!r}")
        predicate, label = _term(operator.lower() if operator else None, value, now)
        if label in _SPAM_TRASH or label == "*":
            names_spam_trash = names_spam_trash or not negated
        terms.append(_negate(predicate) if negated else predicate)
    return GmailQuery(tuple(terms), names_spam_trash)


def _term(operator: str | None, value: str, now: float) -> tuple[Predicate, str | None]:
    """One predicate, and the label it names (for the spam/trash rule); "*" is in:anywhere."""
    lowered = value.lower()
    if operator is None:
        return (lambda m: lowered in f"{m.subject}\n{m.sender}\n{m.snippet}".lower()), None
    if operator in ("from", "to", "subject"):
        field = {"from": "sender", "to": "to", "subject": "subject"}[operator]
        return (lambda m: lowered in getattr(m, field).lower()), None
    if operator == "in" and lowered == "anywhere":
        return (lambda m: True), "*"
    if operator in ("label", "in", "is", "category"):
        label = _label(operator, lowered)
        if operator == "is" and lowered == "read":
            return (lambda m: "UNREAD" not in m.label_ids), None
        return (lambda m: label in m.label_ids), label
    if operator in ("after", "before"):
        bound = _date_ms(value)
        if operator == "after":
            return (lambda m: m.internal_date >= bound), None
        return (lambda m: m.internal_date < bound), None
    if operator in ("newer_than", "older_than"):
        relative = _RELATIVE.match(lowered)
        if relative is None:
            raise QueryError(f"bad relative date {value!r}")
        cutoff = int(now * 1000) - int(relative[1]) * _UNIT_DAYS[relative[2]] * _DAY_MS
        if operator == "newer_than":
            return (lambda m: m.internal_date >= cutoff), None
        return (lambda m: m.internal_date < cutoff), None
    raise QueryError(f"unsupported operator {operator!r}")


def _label(operator: str, value: str) -> str:
    """The label ID a label:/in:/is:/category: term refers to."""
    if operator == "is":
        if value == "read":
            return "UNREAD"
        if value not in _IS:
            raise QueryError(f"unsupported is:{value}")
        return _IS[value]
    if operator == "category":
        if value not in _CATEGORY:
            raise QueryError(f"unknown category {value!r}")
        return _CATEGORY[value]
    return value.upper().replace("-", "_").replace(" ", "_")


def _date_ms(value: str) -> int:
    """after:/before: take YYYY/MM/DD (or YYYY-MM-DD, UTC midnight) or epoch seconds."""
    if value.isdigit():
        return int(value) * 1000
    parts = value.replace("-", "/").split("/")
    try:
        year, month, day = (int(p) for p in parts)
        return int(datetime(year, month, day, tzinfo=UTC).timestamp() * 1000)
    except ValueError as exc:
        raise QueryError(f"bad date {value!r}") from exc


def _negate(predicate: Predicate) -> Predicate:
    return lambda m: not predicate(m)
