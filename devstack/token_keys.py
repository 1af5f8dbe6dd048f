"""Local key files, so ``make dev`` and the tests work without Secret Manager secrets.

The formats are the ones docs/design.md §3 names: ``TOKEN_ENCRYPTION_KEYS`` holds the private
token keys (``{"primary", "private_keys"}``), ``TOKEN_PUBLIC_KEYS`` their public keys (made from
them, as ``python -m functions.cli token-keys public`` does), and ``COOKIE_KEYS`` the AES keys of
the consent cookies (``{"primary", "keys"}``). Each file is readable by its owner only.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

KEY_ID = "dev-1"
COOKIE_KEY_ID = "dev-cookie-1"


def ensure_token_keys(path: Path) -> Path:
    """Write a fresh token key to ``path`` unless one is there.

    An existing file is kept, so tokens sealed in an earlier run stay readable; one in the format
    before HPKE (AES keys only) gains a token key and keeps its keys as legacy keys, so
    ``python -m functions.cli reseal`` can migrate what they sealed.
    """
    from functions.crypto import with_new_token_key

    if path.is_file():
        document = json.loads(path.read_text(encoding="utf-8"))
        if "private_keys" in document:
            return path
        upgraded = with_new_token_key(path.read_bytes(), KEY_ID + "-hpke", primary=True)
        path.unlink()
        return _write(path, upgraded)
    return _write(path, with_new_token_key(None, KEY_ID, primary=True))


def write_public_keys(private: Path, path: Path) -> Path:
    """Write the public keys of the token keys at ``private`` to ``path`` (always afresh)."""
    from functions.crypto import parse_token_keys

    path.unlink(missing_ok=True)
    return _write(path, parse_token_keys(private.read_bytes()).public.as_json())


def ensure_cookie_keys(path: Path) -> Path:
    """Write a fresh 256-bit cookie key to ``path`` unless one is there."""
    if path.is_file():
        return path
    key = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    return _write(path, json.dumps({"primary": COOKIE_KEY_ID, "keys": {COOKIE_KEY_ID: key}}))


def key_files(folder: Path) -> dict[str, str]:
    """All three key files in ``folder``, by the variable that names each (for tests and the
    benchmark, which set one environment for every function)."""
    private = ensure_token_keys(folder / "token-keys.json")
    return {
        "TOKEN_ENCRYPTION_KEYS": str(private),
        "TOKEN_PUBLIC_KEYS": str(write_public_keys(private, folder / "token-public-keys.json")),
        "COOKIE_KEYS": str(ensure_cookie_keys(folder / "cookie-keys.json")),
    }


def _write(path: Path, document: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(document + "\n")
    return path
