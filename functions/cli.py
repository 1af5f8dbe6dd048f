"""Operate the Gmail authorization service: read a mailbox, inspect users, replay dead letters.

Examples:
  python -m functions.cli read-mailbox USER_ID --query is:unread --max 50
  python -m functions.cli show-user USER_ID
  python -m functions.cli list-users
  python -m functions.cli status
  python -m functions.cli dead-letters list
  python -m functions.cli dead-letters replay
  python -m functions.cli disconnect USER_ID
  python -m functions.cli reseal
  python -m functions.cli token-keys add --id tk-2 > new-keys.json
  python -m functions.cli token-keys public
  python -m functions.cli watch USER_ID
  python -m functions.cli renew-watches
  python -m functions.cli smoke --local .dev
  python -m functions.cli risc status --impersonate risc-admin@PROJECT.iam.gserviceaccount.com

The CLI talks to whatever the standard variables point at: the local stack after
`source .dev/env` (PUBSUB_EMULATOR_HOST, FIRESTORE_EMULATOR_HOST, GOOGLE_CLOUD_PROJECT), or a real
project with Application Default Credentials. A user ID is the Google account's stable ID, shown
on the success page after consent and by list-users.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from functions import config
from functions.errors import AppError, ConfigError
from functions.logging_setup import redact, redacted

if TYPE_CHECKING:
    from functions.grants.store import StoredCredentials
    from functions.pipeline.watch import WatchState

DEFAULT_REQUESTS_TOPIC = "mailbox-requests"
DEFAULT_RESULTS_SUBSCRIPTION = "mailbox-results-cli"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit status says whether it worked."""
    parser = _parser()
    args = parser.parse_args(argv)
    project = os.environ.get(config.GOOGLE_CLOUD_PROJECT, "").strip()
    if not project and args.run not in (smoke, token_keys):
        print(
            f"{config.GOOGLE_CLOUD_PROJECT} is not set: run `source .dev/env` for the local stack "
            "(start it with `make dev`), or export it with your project ID.",
            file=sys.stderr,
        )
        return 2
    try:
        if args.run not in (smoke, token_keys):
            _check_reachable()
        return int(args.run(args, project))
    except StackDown as error:
        print(error, file=sys.stderr)
        return 2
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    except AppError as error:
        print(f"{error.code}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        if type(error).__name__ != "DefaultCredentialsError":
            raise
        print(
            "No Google credentials found: for the local stack run `source .dev/env` (it points "
            "the clients at the emulators); for a project run `gcloud auth application-default "
            "login`.",
            file=sys.stderr,
        )
        return 2


PROBE_SECONDS = 1.0
EMULATOR_HOSTS = ("PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST")


class StackDown(Exception):
    """An emulator the environment points at does not answer."""


def _check_reachable(timeout: float = PROBE_SECONDS) -> None:
    """A short TCP connect to each emulator named in the environment, before any client call
    (a client would otherwise retry for minutes).

    Raises:
        StackDown: one does not answer; the message says how to start the stack.
    """
    for variable in EMULATOR_HOSTS:
        address = os.environ.get(variable, "").strip()
        if not address:
            continue
        host, _, port = address.rpartition(":")
        try:
            with socket.create_connection((host or "localhost", int(port)), timeout=timeout):
                pass
        except (OSError, ValueError):
            raise StackDown(
                f"The local stack is not running: nothing answers at {address} "
                f"({variable}). Start it with `make dev`, then `source .dev/env` again."
            ) from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(
            f"must be at least 1 (got {value}); leave --max out to read every message"
        )
    return value


def read_mailbox(args: argparse.Namespace, project: str) -> int:
    """Publish a mailbox request, then print its results as they arrive."""
    from google.cloud import pubsub_v1

    request: dict[str, Any] = {"user_id": args.user_id, "request_id": uuid.uuid4().hex}
    if args.query:
        request["query"] = args.query
    if args.label:
        request["label_ids"] = args.label
    if args.max:
        request["max_messages"] = args.max
    if args.include_spam_trash:
        request["include_spam_trash"] = True
    publisher = pubsub_v1.PublisherClient()
    topic = config.topic_path(args.topic, project, "--topic")
    publisher.publish(topic, json.dumps(request).encode()).result(timeout=30)
    print(f"published request {request['request_id']} for user {args.user_id} to {topic}")

    subscriber = pubsub_v1.SubscriberClient()
    subscription = subscriber.subscription_path(project, args.results_subscription)
    deadline = time.monotonic() + args.timeout
    shown = pages = 0
    complete: dict[str, Any] | None = None
    progress = _Progress(enabled=args.progress)
    while time.monotonic() < deadline:
        response = subscriber.pull(
            request={"subscription": subscription, "max_messages": 100}, timeout=30
        )
        ours: list[Any] = []
        others: list[Any] = []
        for received in response.received_messages:
            attributes = received.message.attributes
            mine = attributes.get("request_id") == request["request_id"]
            (ours if mine else others).append(received)
        if others:  # someone else's results: hand them back at once
            subscriber.modify_ack_deadline(
                request={
                    "subscription": subscription,
                    "ack_ids": [m.ack_id for m in others],
                    "ack_deadline_seconds": 0,
                }
            )
        if ours:
            subscriber.acknowledge(
                request={"subscription": subscription, "ack_ids": [m.ack_id for m in ours]}
            )
        for received in ours:
            body = json.loads(received.message.data)
            if body["type"] == "messages":
                ids = [item["id"] for item in body["messages"]]
                preview = ", ".join(ids[: max(0, 10 - shown)])
                shown += len(ids)
                pages += 1
                print(f"page {body['page']}: {len(ids)} messages {preview}".rstrip())
                progress.show(f"{pages} page(s), {shown} messages so far")
            elif body["type"] == "complete":
                complete = body  # Pub/Sub keeps no order: pages may still be on their way
            else:
                progress.done()
                reason = f" ({body['reason']})" if body.get("reason") else ""
                print(f"error: {body['error']}: {body.get('message', '')}{reason}", file=sys.stderr)
                return 1
        if complete is not None and shown >= complete["total"]:
            progress.done()
            print(f"complete: {complete['total']} messages in {complete['pages']} page(s)")
            return 0
    print(f"no completion within {args.timeout} s", file=sys.stderr)
    return 1


def show_user(args: argparse.Namespace, project: str) -> int:
    """Print one user's stored grant and watch, never a token."""
    from functions.services import get_services

    services = get_services()
    found = services.watch_positions.find_user(args.user_id)
    if found is None:
        print(f"no user with user ID {args.user_id}", file=sys.stderr)
        return 1
    user, watch = found
    shown = {**user.as_json(), "grant": _grant(user, services.now()), "watch": _watch_json(watch)}
    print(json.dumps(redacted(shown), indent=2))
    return 0


def list_users(args: argparse.Namespace, project: str) -> int:
    """Print one line per stored user: ID, e-mail, status, then the grant's age in days, last
    use, expiry and last security event (``-`` for none)."""
    from functions.services import get_services

    services = get_services()
    now = services.now()
    count = 0
    for user in services.token_store.users():
        if not count:
            print("user_id\temail\tstatus\tage_days\tlast_used\texpires\tlast_security_event")
        count += 1
        grant = _grant(user, now)
        event = grant["last_security_event"]
        columns = [
            user.user_id,
            user.email,
            user.status.value,
            grant["age_days"],
            grant["last_used_at"],
            grant["expires_at"],
            f"{event['type']}@{event['at']}" if event else None,
        ]
        print(redact("\t".join("-" if value is None else str(value) for value in columns)))
    if not count:
        print("no users stored yet (a user appears after consenting at the authorize URL)")
    return 0


def disconnect(args: argparse.Namespace, project: str) -> int:
    """Revoke a user's grant and delete their document, as the ``disconnect`` function does."""
    from functions.grants.disconnect import disconnect_user
    from functions.services import get_services

    result = disconnect_user(get_services(), args.user_id)
    if not result.found:
        print(f"no user with user ID {args.user_id}: nothing to revoke or delete", file=sys.stderr)
        return 1
    print(json.dumps(result.as_json()))
    if result.pending:
        print(
            "revocation failed: the grant is kept as an unusable tombstone, retried daily by "
            "renew_watches and by running disconnect again",
            file=sys.stderr,
        )
        return 1
    return 0


def assign_pipeline(args: argparse.Namespace, project: str) -> int:
    """Grant ``args.pipeline`` to every user whose grant names no pipeline (written before
    pipelines existed): the upgrade step that keeps such users readable by that pipeline."""
    from functions.services import get_services

    services = get_services()
    if args.pipeline not in services.settings.pipelines:
        print(
            f"{args.pipeline!r} is not one of PIPELINES ({', '.join(services.settings.pipelines)})",
            file=sys.stderr,
        )
        return 2
    assigned = 0
    for user in services.token_store.users():
        if not user.pipelines:
            services.token_store.grant_pipeline(user.user_id, args.pipeline)
            assigned += 1
    print(f"assigned {args.pipeline} to {assigned} grant(s) that named no pipeline")
    return 0


def reseal(args: argparse.Namespace, project: str) -> int:
    """Re-seal every stored token under the primary key of ``TOKEN_ENCRYPTION_KEYS``."""
    from functions.services import get_services

    report = get_services().key_rotation.reseal_all()
    print(
        f"resealed {report.resealed}, already under the primary key {report.already_primary}, "
        f"unreadable {report.unreadable} (of the resealed: plain text {report.plain_text}, "
        f"legacy key {report.legacy})"
    )
    return 1 if report.unreadable else 0


def token_keys(args: argparse.Namespace, project: str) -> int:
    """Print a ``TOKEN_ENCRYPTION_KEYS`` document with a new key, or the public keyring of the
    current one (what ``TOKEN_PUBLIC_KEYS`` must hold); nothing is logged."""
    from functions.crypto import parse_token_keys, with_new_token_key
    from functions.secrets import read_secret

    reference = os.environ.get(config.TOKEN_ENCRYPTION_KEYS, "").strip()
    current = read_secret(reference, variable=config.TOKEN_ENCRYPTION_KEYS) if reference else None
    if args.action == "add":
        print(with_new_token_key(current, args.id, primary=args.primary))
        return 0
    if current is None:
        raise ConfigError(f"{config.TOKEN_ENCRYPTION_KEYS} is not set: it names the private keys.")
    print(parse_token_keys(current).public.as_json())
    return 0


def watch(args: argparse.Namespace, project: str) -> int:
    """Start (or renew) one user's Gmail push notifications, as the ``watch`` function does."""
    from functions.pipeline.watch import start_watch
    from functions.services import get_services

    state = start_watch(get_services(), args.user_id)
    print(json.dumps({"history_id": state.history_id, "expiration": state.expiration.isoformat()}))
    return 0


def renew_watches(args: argparse.Namespace, project: str) -> int:
    """Keep grants alive, then renew every active user's watch, as the daily ``renew_watches``
    function does."""
    from functions.grants.upkeep import keep_grants_alive
    from functions.pipeline.watch import renew_watches as renew
    from functions.services import get_services

    services = get_services()
    upkeep = keep_grants_alive(services)
    report = renew(services)
    print(json.dumps({**report.as_json(), "grants": upkeep.as_json()}))
    return 1 if report.failed or upkeep.failed else 0


def smoke(args: argparse.Namespace, project: str) -> int:
    """Check a deployment (or the local stack) end to end; one line per check (functions.smoke)."""
    from functions import smoke as checks

    if args.local is not None:
        target = checks.local_target(
            args.local,
            requests_topic=args.requests_topic or "mailbox-requests",
            dead_letter_subscription=args.dead_letter_subscription or "mailbox-dead-letter-hold",
            log_timeout=args.timeout or 30.0,
        )
    else:
        project = args.project or project
        if not (project and args.region):
            raise ConfigError("smoke needs --project and --region (or --local STATE_DIR).")
        environ = dict(os.environ)
        if args.requests_topic:
            environ["REQUESTS_TOPIC"] = args.requests_topic
        target = checks.deployed_target(project, args.region, environ)
        if args.dead_letter_subscription:
            target.dead_letter_subscription = args.dead_letter_subscription
        if args.timeout:
            target.log_timeout = args.timeout
    if args.callback_url:
        target.callback_url = args.callback_url
    return checks.run_checks(target)


WATCH_HORIZON = timedelta(hours=48)


def status(args: argparse.Namespace, project: str) -> int:
    """Print users by status, watches about to lapse, grants about to end (time-limited ones,
    within ``GRANT_EXPIRY_WARNING_DAYS``), dead letters, last errors."""
    from google.cloud import pubsub_v1

    from functions.pipeline import dead_letters
    from functions.services import get_services

    services = get_services()
    now = services.now()
    by_status: Counter[str] = Counter()
    expiring: list[tuple[datetime, str]] = []
    ending: list[tuple[datetime, str]] = []
    grant_horizon = now + timedelta(days=services.settings.grant_expiry_warning_days)
    for user, watch in services.watch_positions.users():
        by_status[user.status.value] += 1
        ends = user.grant_expires_at
        if user.status.value == "active" and ends is not None and ends < grant_horizon:
            ending.append((ends, user.user_id))
        if watch is not None and watch.expiration < now + WATCH_HORIZON:
            expiring.append((watch.expiration, user.user_id))
    counts = ", ".join(f"{name} {count}" for name, count in sorted(by_status.items()))
    print(f"users: {sum(by_status.values())} ({counts or 'none stored'})")
    print(f"watches expiring in the next 48 h: {len(expiring)}")
    for expiration, user_id in sorted(expiring):
        print(f"  {user_id}\t{expiration.isoformat()}")
    days = services.settings.grant_expiry_warning_days
    print(f"grants near expiry: {len(ending) or 'none recorded'} (ending within {days} days)")
    for ends, user_id in sorted(ending):
        print(f"  {user_id}\t{ends.isoformat()}")
    subscriber = pubsub_v1.SubscriberClient()
    subscription = subscriber.subscription_path(project, args.dead_letter_subscription)
    held = dead_letters.peek(subscriber, subscription)
    print(f"dead letters in {args.dead_letter_subscription}: {len(held)}")
    failures = services.event_ledger.recent_failures(limit=args.errors)
    print(f"last errors (events that failed for good, from the event ledger): {len(failures)}")
    for finished_at, code in failures:
        print(f"  {finished_at.isoformat()}\t{code}")
    return 0


def dead_letters_list(args: argparse.Namespace, project: str) -> int:
    """One line per dead letter, each left in place."""
    from google.cloud import pubsub_v1

    from functions.pipeline import dead_letters

    subscriber = pubsub_v1.SubscriberClient()
    subscription = subscriber.subscription_path(project, args.subscription)
    held = dead_letters.peek(subscriber, subscription)
    if not held:
        print(f"no dead letters in {args.subscription}")
    for letter in held:
        print(
            f"{letter.message_id}\t{letter.publish_time}\t{letter.source_subscription or '-'}"
            f"\t{len(letter.data)} bytes"
        )
    return 0


def dead_letters_show(args: argparse.Namespace, project: str) -> int:
    """One dead letter in full (its data redacted as logs are), left in place."""
    from google.cloud import pubsub_v1

    from functions.pipeline import dead_letters

    subscriber = pubsub_v1.SubscriberClient()
    subscription = subscriber.subscription_path(project, args.subscription)
    for letter in dead_letters.peek(subscriber, subscription):
        if letter.message_id == args.message_id:
            print(json.dumps(redacted(letter.as_json(with_data=True)), indent=2))
            return 0
    print(
        f"no dead letter with message ID {args.message_id} in {args.subscription}", file=sys.stderr
    )
    return 1


def dead_letters_replay(args: argparse.Namespace, project: str) -> int:
    """Publish every dead letter to its original topic, once (the event ledger sees to it)."""
    from google.cloud import pubsub_v1

    from functions.pipeline import dead_letters

    subscriber = pubsub_v1.SubscriberClient()
    subscription = subscriber.subscription_path(project, args.subscription)
    topic = config.topic_path(args.topic, project, "--topic") if args.topic else None
    report = dead_letters.replay(
        subscriber,
        pubsub_v1.PublisherClient(),
        subscription,
        project=project,
        topic=topic,
        limit=args.limit,
        progress=_progress_bar("replayed", sys.stderr),
    )
    print(f"replayed {report.replayed}, skipped {report.skipped} (no original topic; use --topic)")
    for message_id in report.skipped_ids:
        print(f"  skipped {message_id}")
    return 1 if report.skipped else 0


def _progress_bar(verb: str, stream: TextIO) -> Callable[[int, int], None]:
    """A bar redrawn in place on a terminal; elsewhere a plain line every tenth of the way."""
    tty = stream.isatty()

    def show(done: int, total: int) -> None:
        if tty:
            filled = 30 * done // max(total, 1)
            stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {verb} {done}/{total}")
            if done == total:
                stream.write("\n")
        elif done == total or done % max(total // 10, 1) == 0:
            stream.write(f"{verb} {done}/{total}\n")
        stream.flush()

    return show


def _watch_json(watch: WatchState | None) -> dict[str, object] | None:
    if watch is None:
        return None
    return {
        "history_id": watch.history_id,
        "expiration": watch.expiration.isoformat(),
        "topic": watch.topic,
        "label_ids": list(watch.label_ids),
    }


def _default_dead_letter_subscription() -> str:
    topic = os.environ.get("DEAD_LETTER_TOPIC") or "mailbox-dead-letter"
    return os.environ.get("DEAD_LETTER_SUBSCRIPTION") or f"{topic.rpartition('/')[2]}-hold"


class _Progress:
    """A line on stderr counting a long read: redrawn in place on a terminal, one line per
    update with ``--progress`` elsewhere, nothing otherwise (pipes stay clean)."""

    def __init__(self, *, enabled: bool) -> None:
        self._tty = sys.stderr.isatty()
        self._enabled = enabled or self._tty
        self._drawn = False

    def show(self, line: str) -> None:
        if not self._enabled:
            return
        if self._tty:
            sys.stderr.write(f"\r{line}")
            self._drawn = True
        else:
            sys.stderr.write(f"{line}\n")
        sys.stderr.flush()

    def done(self) -> None:
        if self._drawn:
            sys.stderr.write("\n")
            self._drawn = False


def _takes_user_id(command: argparse.ArgumentParser) -> None:
    """The one positional argument every per-user command takes, explained the same way."""
    command.add_argument(
        "user_id",
        metavar="USER_ID",
        help="the user ID: the Google account's stable ID, as list-users shows it",
    )


def _grant(user: StoredCredentials, now: datetime) -> dict[str, Any]:
    """What an operator asks of a grant: how old, last used, when it ends, what Google said."""
    event = user.last_security_event
    return {
        "age_days": (now - user.created_at).days if user.created_at else None,
        "last_used_at": _iso(user.last_used_at),
        "expires_at": _iso(user.grant_expires_at),
        "last_security_event": (
            {**event, "at": _iso(event.get("at"))} if isinstance(event, dict) else None
        ),
    }


def _iso(value: object) -> str | None:
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m functions.cli",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    add_parser = commands.add_parser

    def command(name: str, help: str, example: str) -> argparse.ArgumentParser:
        return add_parser(
            name,
            help=help,
            description=f"{help[0].upper()}{help[1:]}.",
            epilog=f"Example:\n  python -m functions.cli {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    read = command(
        "read-mailbox",
        "publish a mailbox request, show results",
        "read-mailbox USER_ID --query is:unread --max 50",
    )
    _takes_user_id(read)
    read.add_argument("--query", help="Gmail search query, e.g. 'is:unread'")
    read.add_argument("--label", action="append", help="label ID to require (repeatable)")
    read.add_argument(
        "--max",
        type=_positive,
        metavar="N",
        help="stop after N messages (at least 1; default: all)",
    )
    read.add_argument(
        "--include-spam-trash", action="store_true", help="also list messages in Spam and Trash"
    )
    read.add_argument(
        "--progress",
        action="store_true",
        help="count pages and messages so far on stderr, one line per page "
        "(on a terminal the count is always shown, redrawn in place)",
    )
    read.add_argument(
        "--topic",
        default=os.environ.get("MAILBOX_REQUESTS_TOPIC", DEFAULT_REQUESTS_TOPIC),
        help="topic the list_messages function is subscribed to",
    )
    read.add_argument(
        "--results-subscription",
        default=os.environ.get("RESULTS_SUBSCRIPTION", DEFAULT_RESULTS_SUBSCRIPTION),
        help="pull subscription on RESULTS_TOPIC to read results from",
    )
    read.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds to wait for the completion (default: %(default)s)",
    )
    read.set_defaults(run=read_mailbox)

    show = command("show-user", "print a stored user (token masked)", "show-user USER_ID")
    _takes_user_id(show)
    show.set_defaults(run=show_user)

    users = command("list-users", "one line per stored user", "list-users")
    users.set_defaults(run=list_users)

    drop = command("disconnect", "revoke a user's grant and delete it", "disconnect USER_ID")
    _takes_user_id(drop)
    drop.set_defaults(run=disconnect)

    assign = command(
        "assign-pipeline",
        "grant a pipeline to every user whose grant names none (upgrade step)",
        "assign-pipeline default",
    )
    assign.add_argument("pipeline", help="one of PIPELINES")
    assign.set_defaults(run=assign_pipeline)

    rotate = command("reseal", "re-seal every token under the primary key", "reseal")
    rotate.set_defaults(run=reseal)

    keys = command(
        "token-keys",
        "print token keys: TOKEN_ENCRYPTION_KEYS with a new key added, or its public keys",
        "token-keys add --id tk-2 > new-keys.json",
    )
    keys.add_argument(
        "action",
        choices=("add", "public"),
        help="add: TOKEN_ENCRYPTION_KEYS (or a new keyring) with a fresh key; "
        "public: its public keys",
    )
    keys.add_argument("--id", default="tk-1", help="the new key's ID (add; default: %(default)s)")
    keys.add_argument(
        "--primary",
        action="store_true",
        help="make the new key the primary at once (add; the first key always is)",
    )
    keys.set_defaults(run=token_keys)

    watching = command("watch", "have Gmail push a user's changes", "watch USER_ID")
    _takes_user_id(watching)
    watching.set_defaults(run=watch)

    renewing = command(
        "renew-watches",
        "keep idle and time-limited grants in hand, then renew every active user's watch",
        "renew-watches",
    )
    renewing.set_defaults(run=renew_watches)

    stat = command("status", "users, watches, dead letters and errors at a glance", "status")
    stat.add_argument(
        "--dead-letter-subscription",
        default=_default_dead_letter_subscription(),
        help="the dead-letter pull subscription (default: %(default)s)",
    )
    stat.add_argument("--errors", type=int, default=5, help="how many last errors to show")
    stat.set_defaults(run=status)

    dead = command(
        "dead-letters",
        "inspect and replay dead letters",
        "dead-letters replay --subscription mailbox-dead-letter-hold",
    )
    dead_commands = dead.add_subparsers(required=True, metavar="ACTION")
    dead_list = dead_commands.add_parser("list", help="one line per dead letter (left in place)")
    dead_list.set_defaults(run=dead_letters_list)
    dead_show = dead_commands.add_parser("show", help="one dead letter in full (left in place)")
    dead_show.add_argument("message_id", metavar="MESSAGE_ID", help="as `dead-letters list` shows")
    dead_show.set_defaults(run=dead_letters_show)
    dead_replay = dead_commands.add_parser(
        "replay", help="publish every dead letter to its original topic, then drop it"
    )
    dead_replay.add_argument(
        "--topic", help="the topic to replay to when a dead letter does not name its subscription"
    )
    dead_replay.add_argument(
        "--limit", type=int, default=10_000, help="replay at most this many (default: %(default)s)"
    )
    dead_replay.set_defaults(run=dead_letters_replay)
    for sub in (dead_list, dead_show, dead_replay):
        sub.add_argument(
            "--subscription",
            default=_default_dead_letter_subscription(),
            help="the dead-letter pull subscription (default: %(default)s)",
        )

    smoking = command("smoke", "check a deployment end to end (make smoke)", "smoke --local .dev")
    smoking.add_argument("--project", help="the deployed project (default: $GOOGLE_CLOUD_PROJECT)")
    smoking.add_argument("--region", help="the deployed functions' region")
    smoking.add_argument(
        "--local",
        type=Path,
        metavar="STATE_DIR",
        help="check the local stack whose env file and logs are in STATE_DIR (make dev: .dev)",
    )
    smoking.add_argument(
        "--requests-topic",
        help="default: $REQUESTS_TOPIC for $PIPELINE, else mailbox-requests-default",
    )
    smoking.add_argument(
        "--dead-letter-subscription", help="default: ${DEAD_LETTER_TOPIC}-hold, as infra/ names it"
    )
    smoking.add_argument(
        "--callback-url", help="the callback authorize must name (default: as infra/ derives it)"
    )
    smoking.add_argument("--timeout", type=float, help="seconds to wait for the log line")
    smoking.set_defaults(run=smoke)

    from functions.risc_cli import add_commands as add_risc_commands

    add_risc_commands(commands)
    return parser


if __name__ == "__main__":
    sys.exit(main())
