"""The cluster view's CPU per change without etcd: a stand-in for etcd's JSON gateway on a
loopback socket answers the snapshot (``/v3/kv/range``: 1,000 registered brokers and their
reports) and streams a watch (``/v3/watch``) of report writes, each write one HTTP chunk of one
watch response as etcd sends them, at a steady rate (1,000 a second by default). The view runs
in a process of its own, as in benchmarks/cluster.py, and counts all its CPU (user + sys) over
the window; the gateway's stand-in runs in another process.

Steadier than the live row (no etcd members or writers sharing the two cores), so a change to
the view's read path shows here first; ``--against REV`` runs the view of another revision's
``danube_metrics`` in the same run, interleaved with this tree's (its Python files: with this
tree's C extension where the install is editable, else without one, so a revision's C readers
are compared only in an editable install)::

    python benchmarks/view_replay.py [--against REV] [--rounds 3] [--seconds 5]
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from cluster import VIEW_CHILD, report, view_child_settings  # noqa: E402

from danube_metrics.report import UPSTREAM  # noqa: E402

BROKERS = 1000
# Distinct reports per broker in the stream (a second's apart): the stream repeats after
# this many seconds, and each write still differs from the broker's previous one.
SECONDS_RECORDED = 10
_LEASE = "3779261383641203460"


def _header(revision: int) -> dict[str, str]:
    return {
        "cluster_id": "964765729658847716",
        "member_id": "3310316254574818418",
        "revision": str(revision),
        "raft_term": "2",
    }


def _json(document: Any) -> bytes:
    # As etcd's gateway writes it: compact, fields in the protobuf's order.
    return json.dumps(document, separators=(",", ":")).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _report(broker: int, stamp: int) -> bytes:
    # The live benchmark's writers' report: CPU and memory, three topics.
    return report(broker, float(broker % 100), stamp).to_json(schema=UPSTREAM).encode()


def _kv(kind: str, broker: int, value: bytes, revision: int) -> dict[str, str]:
    return {
        "key": _b64(f"/cluster/{kind}/{broker}".encode()),
        "create_revision": str(1 + broker),
        "mod_revision": str(revision),
        "version": "2",
        "value": _b64(value),
        "lease": _LEASE,
    }


def _snapshot(start: int) -> bytes:
    kvs = [_kv("load", b, _report(b, start), 1000 + b) for b in range(BROKERS)]
    kvs += [_kv("register", b, b"{}", b + 1) for b in range(BROKERS)]
    return _json({"header": _header(2000), "kvs": kvs, "count": str(len(kvs))})


def _stream(start: int) -> list[bytes]:
    """One watch response per write, each an HTTP chunk: every broker once a second."""
    chunks = []
    revision = 2000
    for second in range(1, SECONDS_RECORDED + 1):
        for b in range(BROKERS):
            revision += 1
            event = {"kv": _kv("load", b, _report(b, start + second), revision)}
            line = _json({"result": {"header": _header(revision), "events": [event]}}) + b"\n"
            chunks.append(b"%x\r\n%s\r\n" % (len(line), line))
    return chunks


def _serve(port_out: Any, rate: float) -> None:
    """The gateway's stand-in (a process of its own): a snapshot, and watches streamed at
    ``rate`` writes a second until the client goes."""
    start = int(time.time()) - SECONDS_RECORDED
    snapshot = _snapshot(start)
    chunks = _stream(start)

    class Gateway(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path == "/v3/kv/range":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(snapshot)))
                self.end_headers()
                self.wfile.write(snapshot)
                return
            if self.path != "/v3/watch":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            created = _json({"result": {"header": _header(2000), "created": True}}) + b"\n"
            sock = self.connection
            sock.sendall(b"%x\r\n%s\r\n" % (len(created), created))
            # Paced by a clock: behind it, the writes go out back to back until caught up.
            began, sent = time.monotonic(), 0
            try:
                while True:
                    due = began + sent / rate
                    wait = due - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    sock.sendall(chunks[sent % len(chunks)])
                    sent += 1
            except OSError:
                return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    server.daemon_threads = True
    port_out.put(server.server_address[1])
    server.serve_forever()


def danube_at(revision: str, into: Path) -> Path:
    """``danube_metrics`` as it was at ``revision``, unpacked under ``into``."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "danube_metrics"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def view_cost(port: int, seconds: float, package_root: Path) -> dict[str, float]:
    """The view process's CPU over ``seconds`` of the stream, with ``package_root``'s
    danube_metrics (benchmarks/cluster.py's view child)."""
    child = subprocess.run(
        [sys.executable, "-c", VIEW_CHILD, f"127.0.0.1:{port}", str(BROKERS), str(seconds)],
        capture_output=True,
        text=True,
        timeout=120 + seconds,
        **view_child_settings(package_root),
    )
    if child.returncode != 0:
        raise RuntimeError(child.stderr)
    figures: dict[str, float] = json.loads(child.stdout)
    return figures


def replay_rows(
    seconds: float = 5.0, rounds: int = 3, rate: float = 1000.0, against: Sequence[str] = ()
) -> dict[str, list[dict[str, float]]]:
    context = multiprocessing.get_context("fork")
    ports = context.Queue()
    server = context.Process(target=_serve, args=(ports, rate), daemon=True)
    server.start()
    results: dict[str, list[dict[str, float]]] = {"this tree": []}
    try:
        port = ports.get(timeout=120)
        with tempfile.TemporaryDirectory() as tmp:
            roots = {"this tree": ROOT}
            for revision in against:
                roots[revision] = danube_at(revision, Path(tmp) / revision)
                results[revision] = []
            for _ in range(rounds):
                for name, root in roots.items():
                    results[name].append(view_cost(port, seconds, root))
    finally:
        server.terminate()
        server.join()
    for name, runs in results.items():
        per_change = ", ".join(f"{r['cpu_ms_per_change']:.3f}" for r in runs)
        rates = ", ".join(f"{r['changes_per_s']:.0f}" for r in runs)
        print(
            f"cluster: view of {BROKERS} brokers, replayed watch at {rate:.0f} writes/s "
            f"({name}): {per_change} ms of CPU a change ({rates} changes/s seen; "
            "target < 0.1 ms)"
        )
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="each measurement's window")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate", type=float, default=1000.0, help="writes a second streamed")
    ap.add_argument(
        "--against", action="append", default=[], help="also run this revision's view (git rev)"
    )
    args = ap.parse_args()
    replay_rows(args.seconds, args.rounds, args.rate, args.against)


if __name__ == "__main__":
    main()
