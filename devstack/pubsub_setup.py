"""Topics and subscriptions on the Pub/Sub emulator, created idempotently.

Clients are built explicitly against the emulator (insecure gRPC channel, no credentials) instead
of through ``PUBSUB_EMULATOR_HOST``, so callers never depend on the process environment. These are
the typed GAPIC clients of google-cloud-pubsub; the batching wrapper adds nothing for setup.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import timedelta

import grpc  # type: ignore[import-untyped]
from google.api_core.exceptions import AlreadyExists
from google.pubsub_v1 import (
    DeadLetterPolicy,
    PublisherClient,
    PushConfig,
    RetryPolicy,
    SubscriberClient,
    Subscription,
)
from google.pubsub_v1.services.publisher.transports.grpc import PublisherGrpcTransport
from google.pubsub_v1.services.subscriber.transports.grpc import SubscriberGrpcTransport


@dataclass(frozen=True)
class DeliveryPolicy:
    """How a push subscription delivers, retries and gives up: ``infra/``'s defaults.

    Attributes:
        ack_deadline_seconds: how long a push may take before Pub/Sub counts it failed.
        minimum_backoff_seconds, maximum_backoff_seconds: the retry policy's bounds
            (``var.retry_minimum_backoff``/``var.retry_maximum_backoff``).
        max_delivery_attempts: deliveries before the dead-letter topic
            (``var.max_delivery_attempts``).
    """

    ack_deadline_seconds: int = 600
    minimum_backoff_seconds: int = 10
    maximum_backoff_seconds: int = 600
    max_delivery_attempts: int = 5


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
    subscriber: SubscriberClient,
    project: str,
    topic_id: str,
    sub_id: str,
    endpoint: str,
    *,
    dead_letter_topic: str,
    policy: DeliveryPolicy | None = None,
) -> str:
    """Create a push subscription to ``endpoint`` as ``infra/`` does, or re-point one there.

    The emulator posts each message as the Pub/Sub push envelope (``{"message": {...},
    "subscription": ...}``, not the unwrapped form), which functions-framework turns into a
    ``google.cloud.pubsub.topic.v1.messagePublished`` CloudEvent; the endpoint's path names the
    topic, which becomes the event's source. Retries follow ``policy``, and a message that
    failed ``policy.max_delivery_attempts`` times moves to ``dead_letter_topic``.

    Returns:
        The subscription's full name.
    """
    policy = policy or DeliveryPolicy()
    subscription = Subscription(
        name=subscriber.subscription_path(project, sub_id),
        topic=SubscriberClient.topic_path(project, topic_id),
        push_config=PushConfig(push_endpoint=endpoint),
        ack_deadline_seconds=policy.ack_deadline_seconds,
        retry_policy=RetryPolicy(
            minimum_backoff=timedelta(seconds=policy.minimum_backoff_seconds),
            maximum_backoff=timedelta(seconds=policy.maximum_backoff_seconds),
        ),
        dead_letter_policy=DeadLetterPolicy(
            dead_letter_topic=SubscriberClient.topic_path(project, dead_letter_topic),
            max_delivery_attempts=policy.max_delivery_attempts,
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
