"""Secret Manager v1 `versions.access`, where google-cloud-secret-manager's REST transport calls it.

`GET /v1/projects/*/secrets/*/versions/*:access`; no auth check, since tests use
AnonymousCredentials. `dataCrc32c` is left out (optional in the API).
"""

from __future__ import annotations

import base64

import flask

from sandbox.context import current_state
from sandbox.errors import ApiError

bp = flask.Blueprint("secretmanager", __name__)


@bp.get("/v1/projects/<project>/secrets/<secret>/versions/<version>:access")
def access(project: str, secret: str, version: str) -> flask.Response:
    """The payload of one secret version; `latest` resolves to the highest version."""
    state = current_state()
    state.count("secretmanager.access")
    name = f"projects/{project}/secrets/{secret}/versions/{version}"
    found = state.access_secret(name)
    if found is None:
        raise ApiError(
            404, "NOT_FOUND", f"Secret Version [{name}] not found or has no versions.", "notFound"
        )
    canonical, data = found
    payload = {"data": base64.b64encode(data).decode("ascii")}
    return flask.jsonify({"name": canonical, "payload": payload})
