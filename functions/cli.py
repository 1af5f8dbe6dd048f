"""Command line for operators: publish a mailbox request and watch its results, inspect users.

    python -m functions.cli read-mailbox USER_ID [--query Q] [--label INBOX] [--max N]
    python -m functions.cli show-user USER_ID
    python -m functions.cli list-users
    python -m functions.cli disconnect USER_ID      # revoke at the provider, then delete
    python -m functions.cli reseal                  # after adding a new primary token key
    python -m functions.cli watch USER_ID           # Gmail push notifications for a user
    python -m functions.cli renew-watches           # what Cloud Scheduler runs daily
    python -m functions.cli smoke --project P --region R   # check a deployment end to end
    python -m functions.cli smoke --local .dev      # the same against `make dev`'s stack

It talks to whatever the standard variables point at: the emulators on a laptop
(``PUBSUB_EMULATOR_HOST``, ``FIRESTORE_EMULATOR_HOST``; ``source .dev/env``) or the real project.
``disconnect`` and ``reseal`` read the functions' own configuration (``OAUTH_CLIENT_SECRETS``,
``TOKEN_ENCRYPTION_KEYS``, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from functions import config
from functions.errors import AppError, ConfigError
from functions.logging_setup import redact, redacted

if TYPE_CHECKING:
    from functions.pipeline.watch import WatchState

DEFAULT_REQUESTS_TOPIC = "mailbox-requests"
DEFAULT_RESULTS_SUBSCRIPTION = "mailbox-results-cli"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit status says whether it worked."""
    parser = _parser()
    args = parser.parse_args(argv)
    project = os.environ.get(config.GOOGLE_CLOUD_PROJECT, "").strip()
    if not project and args.run is not smoke:
        parser.error(f"{config.GOOGLE_CLOUD_PROJECT} is required (the project ID).")
    try:
        return int(args.run(args, project))
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    except AppError as error:
        print(f"{error.code}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


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
    shown = 0
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
                print(f"page {body['page']}: {len(ids)} messages {preview}".rstrip())
            elif body["type"] == "complete":
                print(f"complete: {body['total']} messages in {body['pages']} page(s)")
                return 0
            else:
                print(f"error: {body['error']}: {body['message']}", file=sys.stderr)
                return 1
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
    shown = {**user.as_json(), "watch": _watch_json(watch)}
    print(json.dumps(redacted(shown), indent=2))
    return 0


def list_users(args: argparse.Namespace, project: str) -> int:
    """Print one line per stored user."""
    from functions.services import get_services

    count = 0
    for user in get_services().token_store.users():
        count += 1
        print(redact(f"{user.user_id}\t{user.email}\t{user.status.value}"))
    if not count:
        print("no users stored yet (a user appears after consenting at the authorize URL)")
    return 0


def disconnect(args: argparse.Namespace, project: str) -> int:
    """Revoke a user's grant and delete their document, as the ``disconnect`` function does."""
    from functions.grants.disconnect import disconnect_user
    from functions.services import get_services

    result = disconnect_user(get_services(), args.user_id)
    print(json.dumps(result.as_json()))
    return 0 if result.found else 1


def reseal(args: argparse.Namespace, project: str) -> int:
    """Re-seal every stored token under the primary key of ``TOKEN_ENCRYPTION_KEYS``."""
    from functions.services import get_services

    report = get_services().key_rotation.reseal_all()
    print(
        f"resealed {report.resealed}, already under the primary key {report.already_primary}, "
        f"unreadable {report.unreadable}"
    )
    return 1 if report.unreadable else 0


def watch(args: argparse.Namespace, project: str) -> int:
    """Start (or renew) one user's Gmail push notifications, as the ``watch`` function does."""
    from functions.pipeline.watch import start_watch
    from functions.services import get_services

    state = start_watch(get_services(), args.user_id)
    print(json.dumps({"history_id": state.history_id, "expiration": state.expiration.isoformat()}))
    return 0


def renew_watches(args: argparse.Namespace, project: str) -> int:
    """Renew every active user's watch, as the daily ``renew_watches`` function does."""
    from functions.pipeline.watch import renew_watches as renew
    from functions.services import get_services

    report = renew(get_services())
    print(json.dumps(report.as_json()))
    return 1 if report.failed else 0


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


def _watch_json(watch: WatchState | None) -> dict[str, object] | None:
    if watch is None:
        return None
    return {
        "history_id": watch.history_id,
        "expiration": watch.expiration.isoformat(),
        "topic": watch.topic,
        "label_ids": list(watch.label_ids),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m functions.cli", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    read = commands.add_parser("read-mailbox", help="publish a mailbox request, show results")
    read.add_argument("user_id", help="the user's ID (the OIDC sub shown after consent)")
    read.add_argument("--query", help="Gmail search query, e.g. 'is:unread'")
    read.add_argument("--label", action="append", help="label ID to require (repeatable)")
    read.add_argument("--max", type=int, help="stop after this many messages")
    read.add_argument("--include-spam-trash", action="store_true")
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
    read.add_argument("--timeout", type=float, default=120.0, help="seconds to wait")
    read.set_defaults(run=read_mailbox)

    show = commands.add_parser("show-user", help="print a stored user (token masked)")
    show.add_argument("user_id")
    show.set_defaults(run=show_user)

    users = commands.add_parser("list-users", help="one line per stored user")
    users.set_defaults(run=list_users)

    drop = commands.add_parser("disconnect", help="revoke a user's grant and delete it")
    drop.add_argument("user_id")
    drop.set_defaults(run=disconnect)

    rotate = commands.add_parser("reseal", help="re-seal every token under the primary key")
    rotate.set_defaults(run=reseal)

    watching = commands.add_parser("watch", help="have Gmail push a user's changes")
    watching.add_argument("user_id")
    watching.set_defaults(run=watch)

    renewing = commands.add_parser("renew-watches", help="renew every active user's watch")
    renewing.set_defaults(run=renew_watches)

    smoking = commands.add_parser("smoke", help="check a deployment end to end (make smoke)")
    smoking.add_argument("--project", help="the deployed project (default: $GOOGLE_CLOUD_PROJECT)")
    smoking.add_argument("--region", help="the deployed functions' region")
    smoking.add_argument(
        "--local",
        type=Path,
        metavar="STATE_DIR",
        help="check the local stack whose env file and logs are in STATE_DIR (make dev: .dev)",
    )
    smoking.add_argument("--requests-topic", help="default: $REQUESTS_TOPIC, else mailbox-requests")
    smoking.add_argument(
        "--dead-letter-subscription", help="default: ${DEAD_LETTER_TOPIC}-hold, as infra/ names it"
    )
    smoking.add_argument(
        "--callback-url", help="the callback authorize must name (default: as infra/ derives it)"
    )
    smoking.add_argument("--timeout", type=float, help="seconds to wait for the log line")
    smoking.set_defaults(run=smoke)
    return parser


if __name__ == "__main__":
    sys.exit(main())
