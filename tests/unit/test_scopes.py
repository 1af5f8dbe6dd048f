"""A requested Gmail scope is satisfied by itself or a broader one; others are not required."""

from __future__ import annotations

import json
from pathlib import Path

import googleapiclient
import pytest

from functions.scopes import FULL_MAIL, GMAIL_SCOPES, METADATA, MODIFY, READONLY, missing_scopes

REQUESTED = ("openid", "email", READONLY)


@pytest.mark.parametrize(
    ("granted", "missing"),
    [
        (("openid", "https://www.googleapis.com/auth/userinfo.email", READONLY), ()),
        ((READONLY,), ()),
        ((MODIFY,), ()),
        ((FULL_MAIL,), ()),
        (("openid", "https://www.googleapis.com/auth/userinfo.email"), (READONLY,)),
        ((METADATA,), (READONLY,)),
        ((), (READONLY,)),
    ],
)
def test_gmail_read_access_is_what_is_required(granted, missing):
    assert missing_scopes(REQUESTED, granted) == missing


def test_the_gmail_scopes_are_the_discovery_documents():
    discovery = Path(googleapiclient.__file__).parent / "discovery_cache/documents/gmail.v1.json"

    assert set(json.loads(discovery.read_text())["auth"]["oauth2"]["scopes"]) == GMAIL_SCOPES
