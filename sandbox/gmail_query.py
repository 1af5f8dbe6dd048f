"""Gmail's search syntax (the `q` parameter), as far as the sandbox's messages can answer it.

See https://support.google.com/mail/answer/7190 ("Search operators you can use with Gmail"),
which `users.messages.list` documents `q` by. Terms are ANDed (`AND` may be written); `OR` and
braces `{a b}` mean either; parentheses group; a leading `-` negates a term or a group; an
operator may take a group, as in `subject:(dinner movie)` or `from:{amy david}`. `OR` binds
tighter than the implied AND, as in Gmail: `from:amy OR from:bob subject:x` is
`(from:amy OR from:bob) subject:x`.

Operators: from, to, subject, label, in, is, category, after, before, newer_than, older_than,
has, larger, smaller, size and rfc822msgid (the discovery document's own example of `q`).
Every sandbox message is one text/plain part, so `has:attachment` (and Drive or YouTube links)
matches nothing. Unknown operators and malformed syntax are refused with "Invalid query" rather
than silently given another meaning.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sandbox.gmail_message import rfc822, rfc822_message_id
from sandbox.mailbox import Message

Predicate = Callable[[Message], bool]

_RELATIVE = re.compile(r"^(\d+)([dmy])$")
_UNIT_DAYS = {"d": 1, "m": 30, "y": 365}
_SIZE = re.compile(r"^(\d+)([km]?)b?$")
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024 * 1024}
_DAY_MS = 86_400_000
_IS = {"unread": "UNREAD", "starred": "STARRED", "important": "IMPORTANT"}
_CATEGORY = {
    name: "CATEGORY_" + ("PERSONAL" if name == "primary" else name.upper())
    for name in ("primary", "social", "forums", "promotions", "updates")
}
_SPAM_TRASH = frozenset({"SPAM", "TRASH"})
_SYSTEM_LABELS = frozenset(
    {"INBOX", "UNREAD", "STARRED", "IMPORTANT", "SENT", "DRAFT", "SPAM", "TRASH", "CHAT"}
)
#: has: values no sandbox message can have (each is one text/plain part without links).
_HAS_NOTHING = frozenset(
    {"attachment", "drive", "document", "spreadsheet", "presentation", "youtube"}
)
_OPERATORS = frozenset(
    {
        "from",
        "to",
        "subject",
        "label",
        "in",
        "is",
        "category",
        "after",
        "before",
        "newer_than",
        "older_than",
        "has",
        "larger",
        "smaller",
        "size",
        "rfc822msgid",
    }
)
_OPERATOR = re.compile(r"([A-Za-z_0-9]+):")
_WORD_END = re.compile(r'[\s(){}"]')


class QueryError(ValueError):
    """The query uses syntax outside what the sandbox supports."""


@dataclass(frozen=True)
class GmailQuery:
    """A parsed query; `names_spam_trash` lifts the default spam and trash exclusion."""

    predicate: Predicate | None = None
    names_spam_trash: bool = False

    def matches(self, message: Message) -> bool:
        """True when the query holds for `message` (an empty query holds for every message)."""
        return self.predicate is None or self.predicate(message)


def parse(q: str, now: float) -> GmailQuery:
    """Parse `q`; relative dates (newer_than, older_than) count back from `now` (epoch seconds).

    Raises:
        QueryError: for anything outside the supported syntax.
    """
    parser = _Parser(q, now)
    predicate = parser.sequence(closing=None, operator=None)
    return GmailQuery(predicate, parser.names_spam_trash)


class _Parser:
    """Recursive descent over the query text: sequence → alternatives → unit → atom."""

    def __init__(self, text: str, now: float) -> None:
        self.text = text
        self.position = 0
        self.now = now
        self.names_spam_trash = False
        self._negations = 0

    # -- grammar -----------------------------------------------------------------------------
    def sequence(self, closing: str | None, operator: str | None) -> Predicate | None:
        """Units up to `closing` (or the end), ANDed; `operator` applies to bare terms inside."""
        terms: list[Predicate] = []
        while True:
            self._skip_space()
            if self._at_end() or self._peek() == closing:
                break
            if self._peek() in ")}":
                raise QueryError(f"unbalanced {self._peek()!r}")
            if self._keyword("AND"):
                if not terms:
                    raise QueryError("AND without a term before it")
                continue
            terms.append(self.alternatives(closing, operator))
        if closing is not None:
            if self._at_end():
                raise QueryError(f"missing {closing!r}")
            self.position += 1
        return _all(terms) if terms else None

    def alternatives(self, closing: str | None, operator: str | None) -> Predicate:
        """`unit OR unit OR …`."""
        options = [self.unit(operator)]
        while self._keyword("OR"):
            self._skip_space()
            if self._at_end() or self._peek() in (closing or "", ")", "}"):
                raise QueryError("OR without a term after it")
            options.append(self.unit(operator))
        return options[0] if len(options) == 1 else _any(options)

    def unit(self, operator: str | None) -> Predicate:
        """An atom, negated by a leading `-`."""
        self._skip_space()
        start = self.position
        if self._keyword("OR") or self._keyword("AND"):
            raise QueryError(f"{self.text[start : self.position]} without a term before it")
        negated = self._peek() == "-"
        if negated:
            self.position += 1
            self._negations += 1
        try:
            atom = self.atom(operator)
        finally:
            self._negations -= negated
        return _not(atom) if negated else atom

    def atom(self, operator: str | None) -> Predicate:
        """A group `( … )`, an either-group `{ … }`, or one (possibly operator) term."""
        char = self._peek()
        if char == "(":
            self.position += 1
            inner = self.sequence(")", operator)
            if inner is None:
                raise QueryError("empty group")
            return inner
        if char == "{":
            self.position += 1
            options = self._either(operator)
            return _any(options)
        named = _OPERATOR.match(self.text, self.position)
        if named and operator is None:
            name = named[1].lower()
            if name not in _OPERATORS:
                raise QueryError(f"unsupported operator {name!r}")
            self.position = named.end()
            if self._peek() in ("(", "{"):
                return self.atom(name)
            if self._at_end() or self._peek().isspace():
                # No value (the discovery document's own example of `q` has one such
                # "rfc822msgid:"): like the search box, read it as words to look for.
                return self._term(None, named[0])
            return self._term(name, self._value())
        return self._term(operator, self._value())

    def _either(self, operator: str | None) -> list[Predicate]:
        options: list[Predicate] = []
        while True:
            self._skip_space()
            if self._at_end():
                raise QueryError("missing '}'")
            if self._peek() == "}":
                self.position += 1
                break
            if options and self._keyword("OR"):  # `{a OR b}` says the same as `{a b}`
                continue
            options.append(self.unit(operator))
        if not options:
            raise QueryError("empty group")
        return options

    # -- terms -------------------------------------------------------------------------------
    def _value(self) -> str:
        """A quoted phrase or a bare word (a `+` prefix asks for the exact word)."""
        if self._peek() == '"':
            end = self.text.find('"', self.position + 1)
            if end < 0:
                raise QueryError("unbalanced quote")
            value = self.text[self.position + 1 : end]
            self.position = end + 1
        else:
            found = _WORD_END.search(self.text, self.position)
            end = found.start() if found else len(self.text)
            value = self.text[self.position : end]
            self.position = end
            if value.startswith("+"):
                value = value[1:]
        if not value:
            raise QueryError("empty term")
        if not self._at_end() and self._peek() == '"':
            raise QueryError("a quote inside a word")
        return value

    def _term(self, operator: str | None, value: str) -> Predicate:
        predicate, label = _term(operator, value, self.now)
        if (label in _SPAM_TRASH or label == "*") and self._negations % 2 == 0:
            self.names_spam_trash = True
        return predicate

    # -- scanning ----------------------------------------------------------------------------
    def _keyword(self, word: str) -> bool:
        """Consume `word` (upper case, as Gmail requires) when it stands alone here."""
        self._skip_space()
        end = self.position + len(word)
        if self.text[self.position : end] != word:
            return False
        if end < len(self.text) and not (self.text[end].isspace() or self.text[end] in "({"):
            return False
        self.position = end
        return True

    def _skip_space(self) -> None:
        while not self._at_end() and self.text[self.position].isspace():
            self.position += 1

    def _peek(self) -> str:
        return self.text[self.position] if not self._at_end() else ""

    def _at_end(self) -> bool:
        return self.position >= len(self.text)


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
    if operator == "has":
        return _has(lowered), None
    if operator in ("larger", "smaller", "size"):
        size = _size(lowered)
        if operator == "smaller":
            return (lambda m: len(rfc822(m)) < size), None
        return (lambda m: len(rfc822(m)) > size), None
    # rfc822msgid: the Message-ID header, with or without its angle brackets
    wanted = lowered.strip("<>")
    return (lambda m: rfc822_message_id(m).lower().strip("<>") == wanted), None


def _has(value: str) -> Predicate:
    if value in _HAS_NOTHING:
        return lambda m: False
    if value == "yellow-star":
        return lambda m: "STARRED" in m.label_ids
    if value in ("userlabels", "nouserlabels"):
        wanted = value == "userlabels"

        def user_labels(m: Message) -> bool:
            return any(not _is_system(label) for label in m.label_ids) is wanted

        return user_labels
    raise QueryError(f"unsupported has:{value}")


def _is_system(label: str) -> bool:
    return label in _SYSTEM_LABELS or label.startswith("CATEGORY_")


def _size(value: str) -> int:
    """larger:/smaller:/size: take bytes, or a number with K or M (Gmail: `larger:10M`)."""
    match = _SIZE.match(value)
    if match is None:
        raise QueryError(f"bad size {value!r}")
    return int(match[1]) * _SIZE_UNITS[match[2]]


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


def _all(terms: list[Predicate]) -> Predicate:
    if len(terms) == 1:
        return terms[0]
    return lambda m: all(term(m) for term in terms)


def _any(options: list[Predicate]) -> Predicate:
    if len(options) == 1:
        return options[0]
    return lambda m: any(option(m) for option in options)


def _not(predicate: Predicate) -> Predicate:
    return lambda m: not predicate(m)
