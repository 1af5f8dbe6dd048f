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
    python -m functions.cli risc register|status|verify --impersonate EMAIL  # Cross-Account
                                                    # Protection (functions.risc_cli)

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
from typing import Any

from functions import config
from functions.errors import AppError, ConfigError

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
    """Print one user's stored document, the refresh token masked."""
    document = _collection(project).document(args.user_id).get()
    if not document.exists:
        print(f"no user {args.user_id}", file=sys.stderr)
        return 1
    data = document.to_dict() or {}
    shown = {**_masked(document.id, data), "grant": _grant(data)}
    print(json.dumps(shown, indent=2, default=str))
    return 0


def list_users(args: argparse.Namespace, project: str) -> int:
    """Print one line per stored user: ID, e-mail, status, then the grant's age, last use,
    expiry and last security event (``-`` for none)."""
    print("user_id\temail\tstatus\tage_days\tlast_used\texpires\tlast_security_event")
    for document in _collection(project).stream():
        raw = document.to_dict() or {}
        data = _masked(document.id, raw)
        grant = _grant(raw)
        event = grant["last_security_event"]
        columns = [
            data["user_id"],
            data.get("email"),
            data.get("status"),
            grant["age_days"],
            grant["last_used_at"],
            grant["expires_at"],
            f"{event['type']}@{event['at']}" if event else None,
        ]
        print("\t".join("-" if value is None else str(value) for value in columns))
    return 0


def disconnect(args: argparse.Namespace, project: str) -> int:
    """Revoke a user's grant and delete their document, as the ``disconnect`` function does."""
    from functions.disconnect import disconnect_user
    from functions.services import get_services

    result = disconnect_user(get_services(), args.user_id)
    print(json.dumps(result.as_json()))
    return 0 if result.found else 1


def reseal(args: argparse.Namespace, project: str) -> int:
    """Re-seal every stored token under the primary key of ``TOKEN_ENCRYPTION_KEYS``."""
    from functions.services import get_services

    report = get_services().token_store.reseal_all()
    print(
        f"resealed {report.resealed}, already under the primary key {report.already_primary}, "
        f"unreadable {report.unreadable}"
    )
    return 1 if report.unreadable else 0


def watch(args: argparse.Namespace, project: str) -> int:
    """Start (or renew) one user's Gmail push notifications, as the ``watch`` function does."""
    from functions.services import get_services
    from functions.watch import start_watch

    state = start_watch(get_services(), args.user_id)
    print(json.dumps({"history_id": state.history_id, "expiration": state.expiration.isoformat()}))
    return 0


def renew_watches(args: argparse.Namespace, project: str) -> int:
    """Renew every active user's watch, as the daily ``renew_watches`` function does."""
    from functions.grant_upkeep import keep_grants_alive
    from functions.services import get_services
    from functions.watch import renew_watches as renew

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


def _collection(project: str) -> Any:
    from google.cloud import firestore

    name = os.environ.get(config.CREDENTIALS_COLLECTION) or config.DEFAULT_CREDENTIALS_COLLECTION
    return firestore.Client(project=project).collection(name)


def _grant(data: dict[str, Any]) -> dict[str, Any]:
    """What an operator asks of a grant: how old, last used, when it ends, what Google said."""
    from datetime import UTC, datetime

    created = data.get("created_at")
    event = data.get("last_security_event")
    return {
        "age_days": (datetime.now(UTC) - created).days if isinstance(created, datetime) else None,
        "last_used_at": _iso(data.get("last_used_at")),
        "expires_at": _iso(data.get("grant_expires_at")),
        "last_security_event": (
            {**event, "at": _iso(event.get("at"))} if isinstance(event, dict) else None
        ),
    }


def _iso(value: object) -> str | None:
    from datetime import datetime

    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else None


def _masked(user_id: str, data: dict[str, Any]) -> dict[str, Any]:
    shown = {key: value for key, value in data.items() if "token" not in key}
    shown["refresh_token"] = "stored" if data.get("refresh_token") else "none"
    return {"user_id": user_id, **shown}


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

    from functions.risc_cli import add_commands

    add_commands(commands)
    return parser


if __name__ == "__main__":
    sys.exit(main())
