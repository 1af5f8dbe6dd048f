"""Sandbox users: an e-mail address is the whole identity.

Google's account IDs (the OIDC `sub`) are 21-digit numbers that never change for an account; the
sandbox derives one from the e-mail so the same address always maps to the same user ID.
"""

from __future__ import annotations

import hashlib
import re

_EMAIL = re.compile(r"^[^@\s<>\"']+@[^@\s<>\"']+\.[^@\s<>\"'.]+$")
_SUB_SPAN = 9 * 10**20


def normalize_email(value: str) -> str | None:
    """Lower-cased address, or None when `value` does not look like an e-mail address."""
    email = value.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        return None
    return email


def user_id(email: str) -> str:
    """A stable 21-digit numeric ID for `email`, shaped like a Google account ID."""
    digest = hashlib.sha256(email.lower().encode()).digest()
    return str(10**20 + int.from_bytes(digest[:12], "big") % _SUB_SPAN)


def display_name(email: str) -> str:
    """A plausible full name from the local part: `ada.lovelace@x` → `Ada Lovelace`."""
    local = email.split("@", 1)[0]
    words = [w for w in re.split(r"[._+\-]+", local) if w]
    return " ".join(w.capitalize() for w in words) or email
