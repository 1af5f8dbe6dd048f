"""A local token-encryption key file, so ``make dev`` works without a Secret Manager secret.

The format is the one ``TOKEN_ENCRYPTION_KEYS`` names in docs/design.md §3:
``{"primary": "<key id>", "keys": {"<key id>": "<base64 of 32 bytes>"}}``.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

KEY_ID = "dev-1"


def ensure_token_keys(path: Path) -> Path:
    """Write a fresh 256-bit key to ``path`` unless one is there; readable by the owner only.

    An existing file is kept, so tokens sealed in an earlier run stay readable.
    """
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    key = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    document = json.dumps({"primary": KEY_ID, "keys": {KEY_ID: key}}, indent=2)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(document + "\n")
    return path
