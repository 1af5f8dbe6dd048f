"""Secret Manager's data plane, reduced to what `versions.access` needs.

https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions/access:
a version is named `projects/P/secrets/S/versions/N`, and `latest` means the highest N.
"""

from __future__ import annotations

import re

_NAME = re.compile(r"^projects/([^/]+)/secrets/([^/]+)/versions/([^/]+)$")


class SecretStore:
    """Secret versions by name. Not thread-safe on its own."""

    def __init__(self) -> None:
        self._versions: dict[tuple[str, str], dict[int, bytes]] = {}

    def set(self, name: str, data: bytes) -> None:
        """Store `data` as version `name`, which must end in a number (not `latest`).

        Raises:
            ValueError: `name` is not `projects/P/secrets/S/versions/N` with N ≥ 1.
        """
        match = _NAME.match(name)
        if match is None or not match[3].isdigit() or int(match[3]) < 1:
            raise ValueError(f"expected projects/P/secrets/S/versions/N, got {name!r}")
        self._versions.setdefault((match[1], match[2]), {})[int(match[3])] = bytes(data)

    def access(self, name: str) -> tuple[str, bytes] | None:
        """The canonical version name and its data, or None when there is no such version."""
        match = _NAME.match(name)
        if match is None:
            return None
        versions = self._versions.get((match[1], match[2]), {})
        wanted = match[3]
        if wanted == "latest":
            if not versions:
                return None
            number = max(versions)
        elif wanted.isdigit() and int(wanted) in versions:
            number = int(wanted)
        else:
            return None
        return f"projects/{match[1]}/secrets/{match[2]}/versions/{number}", versions[number]
