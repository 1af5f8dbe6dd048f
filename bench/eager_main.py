"""The seed-style variant: every client library imported at module top, as Google's sample does.

The entry points are ours, so the only difference measured is when the libraries are imported.
"""

# ruff: noqa: F401
from google.cloud import firestore, pubsub_v1, secretmanager
from google_auth_oauthlib.flow import Flow
from googleapiclient.discovery import build

from main import (
    authorize,
    disconnect,
    gmail_push,
    list_messages,
    oauth2callback,
    renew_watches,
    security_events,
    watch,
)
