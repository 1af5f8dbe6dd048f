"""`POST /batch/gmail/v1`: Gmail's batch endpoint, each part dispatched through this same app.

https://developers.google.com/workspace/gmail/api/guides/batch: at most 100 calls per batch;
outer headers other than Content-* apply to every part unless the part sets its own. Each part
runs as a full request (auth, scopes, quota and its refusals, counters) but skips the
`latency_ms` delay, which the batch itself paid once: one round trip per batch.

googleapiclient derives its batch URL from the discovery document's rootUrl, not from
`api_endpoint`, so callers pass `BatchHttpRequest(batch_uri=base_url + "/batch/gmail/v1")`.
`/batch` (the discovery document's batchPath) is accepted too.
"""

from __future__ import annotations

import flask
from flask.testing import FlaskClient
from werkzeug.datastructures import Headers

from sandbox import batch
from sandbox.context import current_state
from sandbox.errors import invalid_argument

bp = flask.Blueprint("batch", __name__)
MAX_PARTS = 100
#: WSGI environ key marking a request dispatched from inside a batch (no header can set it).
PART_ENVIRON_KEY = "sandbox.batch_part"
_GMAIL_PREFIX = "/gmail/v1/"
_NOT_INHERITED = ("content-", "host", "transfer-encoding")


@bp.post("/batch/gmail/v1")
@bp.post("/batch")
def gmail_batch() -> flask.Response:
    """Run every part in order and answer with their responses as one multipart/mixed body."""
    current_state().count("gmail.batch")
    request = flask.request
    try:
        parts = batch.parse(request.content_type or "", request.get_data())
    except batch.BatchFormatError as exc:
        raise invalid_argument(str(exc)) from exc
    if not parts:
        raise invalid_argument("A batch request needs at least one part")
    if len(parts) > MAX_PARTS:
        raise invalid_argument(f"A batch request may hold at most {MAX_PARTS} calls")
    if not all(p.target.startswith(_GMAIL_PREFIX) for p in parts):
        raise invalid_argument("Every call in a Gmail batch must be a Gmail API call")
    shared = [(k, v) for k, v in request.headers if not k.lower().startswith(_NOT_INHERITED)]
    client = flask.current_app.test_client()
    content_type, body = batch.render([_dispatch(client, part, shared) for part in parts])
    return flask.Response(body, content_type=content_type)


def _dispatch(
    client: FlaskClient, part: batch.PartRequest, shared: list[tuple[str, str]]
) -> batch.PartResponse:
    """One part as a request of its own; its headers override the batch's."""
    headers = Headers(shared)
    for name, value in part.headers:
        if name.lower() not in ("host", "content-length"):
            headers.set(name, value)
    response = client.open(
        part.target,
        base_url=flask.request.host_url,
        method=part.method,
        headers=headers,
        data=part.body,
        environ_overrides={
            PART_ENVIRON_KEY: True,
            "REMOTE_ADDR": flask.request.remote_addr or "127.0.0.1",
        },
    )
    return batch.PartResponse(
        part.content_id, response.status_code, tuple(response.headers.items()), response.get_data()
    )
