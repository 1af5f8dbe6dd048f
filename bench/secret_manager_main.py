"""Our entry points as they started before deployments mounted their secrets as files: with the
Secret Manager client imported to read them.

Only the import is measured: there is no Secret Manager here, so the secrets are still read from
files, as a mounted secret is (its read is a fetch from Secret Manager too).
"""

# ruff: noqa: F401
from google.cloud import secretmanager

from main import authorize
