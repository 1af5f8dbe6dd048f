"""Generated demo mailboxes: thousands of plausible messages, deterministic and fast.

A mailbox depends only on (e-mail, seed, day): the same inputs give the same ids, labels and
dates, so tests can assert on them. Dates spread over the two years before the start of the
current (UTC) day of the state's clock; ids are 16 hex digits that grow with the date, like
Gmail's, and a reply shares its thread's id, which is the id of the thread's first message.

History (https://developers.google.com/workspace/gmail/api/guides/sync): each message carries the
history id of the change that added it, and a mailbox keeps the records of changes after its
`history_floor`. Generated messages predate the records: they get history ids up to the floor.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from functools import cached_property

MAX_MESSAGES = 1_000_000
_DAY_MS = 86_400_000
_SPAN_MS = 730 * _DAY_MS

_FIRST = ("Ada", "Alan", "Grace", "Linus", "Margaret", "Edsger", "Barbara", "Donald", "Ken", "Tim")
_LAST = ("Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Dijkstra", "Liskov", "Knuth")
_DOMAINS = ("example.com", "example.org", "example.net")
_TOPICS = ("budget", "roadmap", "garden", "move", "conference", "launch", "recipe", "quiz")
_DAYS = ("Monday", "Tuesday", "Friday", "Saturday", "the weekend")

_SENDERS = {
    "CATEGORY_PROMOTIONS": (
        "Shopco Deals <deals@shopco.example>",
        "Bookhaven <news@bookhaven.example>",
    ),
    "CATEGORY_SOCIAL": (
        "Friendbook <notify@friendbook.example>",
        "Pixgram <no-reply@pixgram.example>",
    ),
    "CATEGORY_UPDATES": (
        "First Bank <alerts@firstbank.example>",
        "Parcelpost <track@parcel.example>",
    ),
    "SPAM": ("Prize Desk <winner@lucky-prize.example>", "Pharma <sales@cheap-meds.example>"),
}
_SUBJECTS = {
    "CATEGORY_PERSONAL": ("Lunch on {day}?", "Photos from {day}", "Question about the {topic}",
                          "Notes on the {topic}", "Can you review the {topic} draft?"),
    "CATEGORY_PROMOTIONS": ("{n}% off everything this weekend", "Last chance: free shipping",
                            "New arrivals you'll love", "Members save {n}% today"),
    "CATEGORY_SOCIAL": ("{name} mentioned you in a comment", "{name} shared a photo",
                        "You have {n} new friend suggestions"),
    "CATEGORY_UPDATES": ("Your order #{n} has shipped", "Your statement is ready",
                         "Security alert for your account", "Reminder: appointment on {day}"),
    "SPAM": ("You have WON a prize!!!", "URGENT: verify your account", "Make $$$ from home"),
}  # fmt: skip
_CATEGORIES = ("CATEGORY_PERSONAL", "CATEGORY_PROMOTIONS", "CATEGORY_SOCIAL", "CATEGORY_UPDATES")
_CATEGORY_WEIGHTS = (40, 25, 15, 20)


@dataclass(frozen=True, slots=True)
class Message:
    """The part of a Gmail message that listing and searching need."""

    id: str
    thread_id: str
    label_ids: frozenset[str]
    internal_date: int  # epoch milliseconds, as Gmail's internalDate
    sender: str
    to: str
    subject: str
    snippet: str
    history_id: int = 0  # the history record that added the message


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """One change to a mailbox; the sandbox records one kind, a message being added."""

    id: int
    message: Message
    kind: str = "messageAdded"


@dataclass(frozen=True)
class Mailbox:
    """One user's messages, newest first (descending internal_date, then id), and their history.

    `history` holds the records with ids in (`history_floor`, `history_id`], oldest first; a
    sync from a history id below the floor cannot be answered (Gmail's 404 for stale history).
    """

    email: str
    messages: tuple[Message, ...]
    history_id: int
    history: tuple[HistoryRecord, ...] = ()
    history_floor: int = 0

    @property
    def threads_total(self) -> int:
        """How many distinct threads the mailbox holds."""
        return len({m.thread_id for m in self.messages})

    def message(self, message_id: str) -> Message | None:
        """The message with this id, or None."""
        return self._by_id.get(message_id)

    @cached_property
    def _by_id(self) -> dict[str, Message]:
        return {m.id: m for m in self.messages}


def generate(
    email: str, count: int, seed: int | None, now: float, *, first_history_id: int = 1
) -> tuple[Message, ...]:
    """`count` messages for `email`, newest first; the same arguments give the same messages.

    The oldest message gets history id `first_history_id`, each newer one the next id.
    """
    if not 0 <= count <= MAX_MESSAGES:
        raise ValueError(f"count must be between 0 and {MAX_MESSAGES}")
    if seed is None:
        seed = int.from_bytes(hashlib.sha256(email.encode()).digest()[:8], "big")
    rng = random.Random(seed)  # noqa: S311 - demo data, reproducible on purpose
    anchor = int(now * 1000) // _DAY_MS * _DAY_MS
    contacts = []
    for _ in range(24):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        address = f"{first}.{last}@{rng.choice(_DOMAINS)}".lower()
        contacts.append(f"{first} {last} <{address}>")
    dates = sorted(anchor - rng.randrange(60_000, _SPAN_MS) for _ in range(count))
    threads: list[tuple[str, str, str]] = []  # (thread id, subject, counterpart) of recent threads
    out: list[Message] = []
    for index, date in enumerate(dates):
        msg_id = f"{date % 16**11:011x}{index % 16**5:05x}"
        roll = rng.random()
        kind = "SENT" if roll < 0.08 else "SPAM" if roll < 0.11 else "TRASH" if roll < 0.15 else ""
        category = rng.choices(_CATEGORIES, _CATEGORY_WEIGHTS)[0]
        if kind in ("SENT", "SPAM"):
            category = "CATEGORY_PERSONAL" if kind == "SENT" else "SPAM"
        personal = category == "CATEGORY_PERSONAL"
        pool = _SENDERS.get(category, contacts)
        fill = {"day": rng.choice(_DAYS), "topic": rng.choice(_TOPICS), "n": rng.randrange(2, 90)}
        subject = rng.choice(_SUBJECTS[category]).format(name=rng.choice(_FIRST), **fill)
        counterpart, thread_id = rng.choice(pool), msg_id
        if personal and threads and rng.random() < 0.35:
            thread_id, base, counterpart = rng.choice(threads[-20:])
            subject = "Re: " + base
        elif personal:
            threads.append((thread_id, subject, counterpart))
        labels = {kind} if kind in ("SENT", "SPAM") else {category}
        if kind == "TRASH":
            labels.add("TRASH")
        elif not kind:
            labels.update(_received_labels(rng, personal))
        sender, to = (email, counterpart) if kind == "SENT" else (counterpart, email)
        snippet = f"{subject.removeprefix('Re: ')} — sent {fill['day']} about the {fill['topic']}."
        out.append(
            Message(
                msg_id,
                thread_id,
                frozenset(labels),
                date,
                sender,
                to,
                subject,
                snippet,
                first_history_id + index,
            )
        )
    out.reverse()
    return tuple(out)


def _received_labels(rng: random.Random, personal: bool) -> set[str]:
    """INBOX/UNREAD/STARRED/IMPORTANT for a received, non-spam, non-trash message."""
    labels = set()
    if rng.random() < 0.8:
        labels.add("INBOX")
    if rng.random() < 0.3:
        labels.add("UNREAD")
    if rng.random() < (0.12 if personal else 0.02):
        labels.add("STARRED")
    if rng.random() < (0.35 if personal else 0.08):
        labels.add("IMPORTANT")
    return labels
