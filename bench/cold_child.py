"""One cold start: a fresh interpreter loads a function with functions-framework and serves one
request (and then any further ones, warm). Run by ``bench.cold_start`` as
``python -m bench.cold_child TARGET SOURCE KIND REQUEST [REQUEST...]``.

Its last line of output is ``REPORT_PREFIX`` and a JSON object: each request's time in ms, the
process's CPU time in ms and its peak resident memory in KiB (``VmHWM``: ``ru_maxrss`` would carry
the high-water mark of the process it was forked from across ``exec``).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

REPORT_PREFIX = "cold-child-report "


def main() -> None:
    """Serve the requests described by argv; exit non-zero unless each succeeded."""
    target, source, kind, *requests = sys.argv[1:]
    import functions_framework

    client = functions_framework.create_app(target, source, kind).test_client(use_cookies=False)
    times = []
    for request in requests:
        spec = json.loads(request)
        started = time.perf_counter()
        if spec["method"] == "get":
            response = client.get(spec["path"], headers=spec.get("headers", {}))
        elif "data" in spec:
            response = client.post(spec["path"], headers=spec.get("headers", {}), data=spec["data"])
        else:
            response = client.post(spec["path"], headers=spec.get("headers", {}), json=spec["json"])
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code >= 400 and response.status_code != spec.get("expect"):
            sys.exit(f"{target}: {response.status_code} {response.get_data(as_text=True)[:300]}")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report = {
        "requests_ms": times,
        "cpu_ms": (usage.ru_utime + usage.ru_stime) * 1000,
        "maxrss_kib": _peak_rss_kib(),
    }
    print(REPORT_PREFIX + json.dumps(report), flush=True)


def _peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


if __name__ == "__main__":
    main()
