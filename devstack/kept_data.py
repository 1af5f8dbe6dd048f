"""Emulator data kept across ``make dev`` restarts, under ``.dev/data/`` (``make dev-reset``).

The Firestore emulator is exported through its HTTP endpoint just before it stops, and imported
with ``--import-data`` when it starts. Its own ``--export-on-exit`` is not used: with gcloud 528
it writes nothing when its process group is stopped by a signal, which is how the stack stops.

The Pub/Sub emulator keeps nothing: it holds topics, subscriptions and messages in memory (its
``--data-dir`` receives only an ``env.yaml``). The stack creates its topics and subscriptions at
every start, so only messages still unacknowledged at a stop are lost.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import requests

log = logging.getLogger(__name__)

_EXPORT_TIMEOUT = 60.0


class KeptData:
    """The kept data of one state directory.

    Args:
        directory: where it is kept (``.dev/data``); created on the first save.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def firestore_dir(self) -> Path:
        """The latest Firestore export (one ``firestore_export_*`` folder within)."""
        return self.directory / "firestore"

    def firestore_import(self) -> Path | None:
        """The export's metadata file, for ``--import-data``; None when nothing is kept."""
        found = sorted(self.firestore_dir.glob("*/*.overall_export_metadata"))
        return found[-1] if found else None

    def save_firestore(self, host_port: str, project: str) -> None:
        """Export every document of the running emulator, replacing the kept export.

        The export goes to a sibling folder first, so a failed export leaves the kept one whole.

        Raises:
            requests.RequestException: when the emulator does not export.
        """
        staging = self.directory / "firestore.saving"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        with requests.Session() as session:
            session.trust_env = False
            session.post(
                f"http://{host_port}/emulator/v1/projects/{project}:export",
                json={
                    "database": f"projects/{project}/databases/(default)",
                    "export_directory": str(staging),
                },
                timeout=_EXPORT_TIMEOUT,
            ).raise_for_status()
        previous = self.directory / "firestore.previous"
        shutil.rmtree(previous, ignore_errors=True)
        if self.firestore_dir.exists():
            os.replace(self.firestore_dir, previous)
        os.replace(staging, self.firestore_dir)
        shutil.rmtree(previous, ignore_errors=True)

    def reset(self) -> bool:
        """Delete everything kept; whether there was anything."""
        existed = self.directory.is_dir() and any(self.directory.iterdir())
        shutil.rmtree(self.directory, ignore_errors=True)
        return existed
