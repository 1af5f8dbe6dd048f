"""New mail arriving and history ageing out: the changes a syncing client has to notice.

Per https://developers.google.com/workspace/gmail/api/guides/sync every change gets a history
record with a larger id. A delivered message is newer than everything in the mailbox, starts its
own thread and is added by one `messageAdded` record whose id it carries as its `historyId`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

from sandbox.mailbox import HistoryRecord, Mailbox, Message

MAX_DELIVERY = 10_000
_SENDERS = (
    "Grace Hopper <grace.hopper@example.org>",
    "Alan Turing <alan.turing@example.net>",
    "Parcelpost <track@parcel.example>",
)
_TOPICS = ("budget", "roadmap", "garden", "launch")


def deliver(
    box: Mailbox, count: int, labels: Collection[str], first_history_id: int, now: float
) -> Mailbox:
    """`box` with `count` new messages on top, each added by its own history record.

    Args:
        box: the mailbox before delivery.
        count: how many messages arrive (0..MAX_DELIVERY).
        labels: the label ids every new message gets.
        first_history_id: the id of the first new record; the next ones follow it.
        now: epoch seconds; the messages are dated now, or just after the newest message.

    Raises:
        ValueError: `count` out of range or a label that is not a non-empty string.
    """
    if not 0 <= count <= MAX_DELIVERY:
        raise ValueError(f"count must be between 0 and {MAX_DELIVERY}")
    if isinstance(labels, str) or not all(isinstance(x, str) and x for x in labels):
        raise ValueError("labels must be a list of label ids")
    if count == 0:
        return box
    newest = box.messages[0].internal_date if box.messages else 0
    date = max(int(now * 1000), newest + 1)
    added: list[Message] = []
    for offset in range(count):
        history_id = first_history_id + offset
        msg_id = f"{date % 16**11:011x}{history_id % 16**5:05x}"  # date first, like Gmail's
        topic = _TOPICS[history_id % len(_TOPICS)]
        subject = f"New mail {history_id} about the {topic}"
        added.append(
            Message(
                id=msg_id,
                thread_id=msg_id,
                label_ids=frozenset(labels),
                internal_date=date,
                sender=_SENDERS[history_id % len(_SENDERS)],
                to=box.email,
                subject=subject,
                snippet=f"{subject} — just delivered.",
                history_id=history_id,
            )
        )
        date += 1
    return dataclasses.replace(
        box,
        messages=(*reversed(added), *box.messages),
        history_id=added[-1].history_id,
        history=(*box.history, *(HistoryRecord(m.history_id, m) for m in added)),
    )


def expire(box: Mailbox) -> Mailbox:
    """`box` having forgotten every history record: older start ids now get 404."""
    return dataclasses.replace(box, history=(), history_floor=box.history_id)
