"""Topics and subscriptions on the Pub/Sub emulator, created idempotently.

Clients are built explicitly against the emulator (insecure gRPC channel, no credentials) instead
of through ``PUBSUB_EMULATOR_HOST``, so callers never depend on the process environment. These are
the typed GAPIC clients of google-cloud-pubsub; the batching wrapper adds nothing for setup.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

import grpc  # type: ignore[import-untyped]
from google.api_core.exceptions import AlreadyExists
from google.pubsub_v1 import (
    PublisherClient,
    PushConfig,
    RetryPolicy,
    SubscriberClient,
    Subscription,
)
from google.pubsub_v1.services.publisher.transports.grpc import PublisherGrpcTransport
from google.pubsub_v1.services.subscriber.transports.grpc import SubscriberGrpcTransport

PUSH_ACK_DEADLINE_SECONDS = 10
"""The shortest deadline Pub/Sub allows: an unacknowledged push is retried soon."""
PUSH_MIN_BACKOFF_SECONDS = 1
PUSH_MAX_BACKOFF_SECONDS = 10


def _channel(emulator_host: str) -> grpc.Channel:
    # The emulator is local: never route it through an HTTP proxy from the environment.
    return grpc.insecure_channel(emulator_host, options=[("grpc.enable_http_proxy", 0)])


def publisher_client(emulator_host: str) -> PublisherClient:
    """A publisher (topic admin and publish) talking to the emulator at ``host:port``."""
    return PublisherClient(transport=PublisherGrpcTransport(channel=_channel(emulator_host)))


def subscriber_client(emulator_host: str) -> SubscriberClient:
    """A subscriber (subscription admin, pull, ack) talking to the emulator at ``host:port``."""
    return SubscriberClient(transport=SubscriberGrpcTransport(channel=_channel(emulator_host)))


def ensure_topic(publisher: PublisherClient, project: str, topic_id: str) -> str:
    """Create the topic unless it exists.

    Returns:
        The topic's full name, ``projects/P/topics/T``.
    """
    name = publisher.topic_path(project, topic_id)
    with contextlib.suppress(AlreadyExists):
        publisher.create_topic(name=name)
    return name


def ensure_push_subscription(
    subscriber: SubscriberClient, project: str, topic_id: str, sub_id: str, endpoint: str
) -> str:
    """Create a push subscription to ``endpoint``, or re-point an existing one there.

    The emulator posts each message as the Pub/Sub push envelope
    (``{"message": {...}, "subscription": ...}``), which functions-framework turns into a
    ``google.cloud.pubsub.topic.v1.messagePublished`` CloudEvent. The short ack deadline and
    1 s minimum backoff make retries of failed deliveries quick enough for tests.

    Returns:
        The subscription's full name.
    """
    subscription = Subscription(
        name=subscriber.subscription_path(project, sub_id),
        topic=SubscriberClient.topic_path(project, topic_id),
        push_config=PushConfig(push_endpoint=endpoint),
        ack_deadline_seconds=PUSH_ACK_DEADLINE_SECONDS,
        retry_policy=RetryPolicy(
            minimum_backoff=timedelta(seconds=PUSH_MIN_BACKOFF_SECONDS),
            maximum_backoff=timedelta(seconds=PUSH_MAX_BACKOFF_SECONDS),
        ),
    )
    try:
        subscriber.create_subscription(request=subscription)
    except AlreadyExists:
        # An earlier stack on the same emulator may have pushed elsewhere: point it here now.
        subscriber.modify_push_config(
            subscription=subscription.name, push_config=subscription.push_config
        )
    return subscription.name


def ensure_pull_subscription(
    subscriber: SubscriberClient, project: str, topic_id: str, sub_id: str
) -> str:
    """Create a pull subscription unless it exists.

    Returns:
        The subscription's full name.
    """
    subscription = Subscription(
        name=subscriber.subscription_path(project, sub_id),
        topic=SubscriberClient.topic_path(project, topic_id),
    )
    with contextlib.suppress(AlreadyExists):
        subscriber.create_subscription(request=subscription)
    return subscription.name
