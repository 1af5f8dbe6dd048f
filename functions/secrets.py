"""Reading secret material: a file, or a Secret Manager version.

Deployed functions read files: Terraform and ``scripts/deploy.sh`` mount each secret as a Cloud
Run secret volume, which fetches the version from Secret Manager when the file is read, so the
value never sits in the environment or the source and no function pays for importing the Secret
Manager client on cold start (about 180-210 ms on top of ``authorize``'s own start here). Callers
read each secret once per instance (``functions.services``). A version name
(``projects/P/secrets/S/versions/V``) is still read, through the client library, imported only
then: that is how the CLI runs from a laptop against a deployment. Callers may inject the client
(tests pass a REST client pointed at the sandbox's ``:access`` stand-in).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from functions.errors import ConfigError

if TYPE_CHECKING:
    from google.cloud.secretmanager import SecretManagerServiceClient

logger = logging.getLogger(__name__)

_VERSION_NAME = re.compile(r"^projects/[^/\s]+/secrets/[^/\s]+/versions/[^/\s]+$")


def is_secret_version(reference: str) -> bool:
    """Whether ``reference`` is a Secret Manager version name rather than a file path."""
    return bool(_VERSION_NAME.match(reference))


def read_secret(
    reference: str, *, variable: str, client: SecretManagerServiceClient | None = None
) -> bytes:
    """Return the bytes behind a Secret Manager version name or a file path.

    Args:
        reference: ``projects/P/secrets/S/versions/V`` or a path.
        variable: the configuration variable it came from, to name in errors.
        client: a Secret Manager client; the default one is built when needed.

    Raises:
        ConfigError: the secret or file cannot be read.
    """
    if not is_secret_version(reference):
        try:
            return Path(reference).read_bytes()
        except OSError as error:
            raise ConfigError(
                f"{variable} points at a file that cannot be read: {reference} "
                f"({error.strerror or type(error).__name__})."
            ) from None
    if client is None:
        from google.cloud import secretmanager

        client = secretmanager.SecretManagerServiceClient()
    from google.api_core import exceptions

    try:
        response = client.access_secret_version(name=reference)
    except exceptions.GoogleAPICallError as error:
        raise ConfigError(
            f"{variable} names a Secret Manager version that cannot be read: {reference} "
            f"({type(error).__name__})."
        ) from None
    logger.info("read secret version", extra={"json_fields": {"secret": response.name}})
    return bytes(response.payload.data)
