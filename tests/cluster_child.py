"""A publisher in a process of its own, for the cluster tests and benchmarks.

    python cluster_child.py STORE_URL BROKER_ID INTERVAL TTL CPU

publishes a report with CPU ``CPU`` % (memory 40 %) every INTERVAL seconds until SIGTERM, then
stops (removing its registration) and prints its counters as one JSON line. SIGKILL leaves its
registration to expire. Each publish prints ``published N`` so the parent can follow it.
"""

from __future__ import annotations

import json
import signal
import sys
import threading

from danube_metrics.cluster import DirectoryStore, LoadPublisher, open_store
from danube_metrics.report import LoadReport, ResourceType, SystemLoad


def main() -> int:
    url, broker, interval, ttl, cpu = sys.argv[1:6]
    store = open_store(url)
    if isinstance(store, DirectoryStore):
        store = DirectoryStore(store.path, ttl=float(ttl))

    def make_report() -> LoadReport:
        usage = [SystemLoad(ResourceType.CPU, float(cpu)), SystemLoad(ResourceType.Memory, 40.0)]
        return LoadReport(usage, 1, ["/default/t"])

    def said(publisher: LoadPublisher, report: LoadReport) -> None:
        print(f"published {publisher.published}", flush=True)

    publisher = LoadPublisher(
        store,
        int(broker),
        interval=float(interval),
        ttl=float(ttl),
        make_report=make_report,
        on_publish=said,
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    publisher.start()
    done.wait()
    publisher.stop()
    counters = {
        "published": publisher.published,
        "failed": publisher.failed,
        "registrations": publisher.registrations,
        "last_error": publisher.last_error,
    }
    print(json.dumps(counters), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
