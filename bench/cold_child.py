"""One cold start: a fresh interpreter loads a function with functions-framework and serves one
request. Run by ``bench.cold_start`` as ``python -m bench.cold_child TARGET SOURCE KIND REQUEST``.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    """Serve the request described by argv; exit non-zero unless it succeeded."""
    target, source, kind, request = sys.argv[1:5]
    import functions_framework

    client = functions_framework.create_app(target, source, kind).test_client(use_cookies=False)
    spec = json.loads(request)
    if spec["method"] == "get":
        response = client.get(spec["path"], headers=spec.get("headers", {}))
    else:
        response = client.post(spec["path"], headers=spec.get("headers", {}), json=spec["json"])
    if response.status_code >= 400:
        sys.exit(f"{target}: {response.status_code} {response.get_data(as_text=True)[:300]}")


if __name__ == "__main__":
    main()
