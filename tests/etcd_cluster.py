"""A three-member etcd cluster on loopback ports of its own, for the tests and benchmarks.

Debian's ``etcd-server`` package provides ``etcd`` (``.ci/run`` installs it). Members listen on
free ports picked at start, keep their data in a temporary folder, and log to a file there.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Optional

ETCD = shutil.which("etcd") or ("/usr/bin/etcd" if os.path.exists("/usr/bin/etcd") else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EtcdCluster:
    def __init__(self, members: int = 3) -> None:
        if ETCD is None:
            raise RuntimeError("etcd is not installed (Debian: apt-get install etcd-server)")
        self.dir = Path(tempfile.mkdtemp(prefix="danube-etcd-"))
        self.names = [f"m{i}" for i in range(members)]
        self.client_ports = [free_port() for _ in self.names]
        self.peer_ports = [free_port() for _ in self.names]
        self.procs: list[Optional[subprocess.Popen[bytes]]] = [None] * members

    @property
    def endpoints(self) -> list[str]:
        return [f"127.0.0.1:{p}" for p in self.client_ports]

    @property
    def url(self) -> str:
        return "etcd://" + ",".join(self.endpoints)

    def _command(self, i: int) -> list[str]:
        assert ETCD is not None
        cluster = ",".join(f"{n}=http://127.0.0.1:{p}" for n, p in zip(self.names, self.peer_ports))
        client = f"http://127.0.0.1:{self.client_ports[i]}"
        peer = f"http://127.0.0.1:{self.peer_ports[i]}"
        return [
            ETCD,
            "--name",
            self.names[i],
            "--data-dir",
            str(self.dir / self.names[i]),
            "--listen-client-urls",
            client,
            "--advertise-client-urls",
            client,
            "--listen-peer-urls",
            peer,
            "--initial-advertise-peer-urls",
            peer,
            "--initial-cluster",
            cluster,
            "--initial-cluster-state",
            "new",
            "--initial-cluster-token",
            self.dir.name,
            "--heartbeat-interval",
            "100",
            "--election-timeout",
            "1000",
        ]

    def start_member(self, i: int) -> None:
        log = open(self.dir / f"{self.names[i]}.log", "ab")  # noqa: SIM115 (the member's)
        self.procs[i] = subprocess.Popen(
            self._command(i), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()

    def start(self, timeout: float = 30.0) -> EtcdCluster:
        for i in range(len(self.names)):
            self.start_member(i)
        self.wait_for_leader(timeout)
        return self

    def status(self, i: int) -> Optional[dict]:  # type: ignore[type-arg]
        req = urllib.request.Request(
            f"http://{self.endpoints[i]}/v3/maintenance/status", data=b"{}", method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=1.0) as r:
                return json.loads(r.read())  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return None

    def leader(self) -> Optional[int]:
        """The index of the member that leads, as the running members see it."""
        ids = {}
        leaders = set()
        for i, proc in enumerate(self.procs):
            if proc is None or proc.poll() is not None:
                continue
            st = self.status(i)
            if st is None:
                continue
            ids[str(st["header"]["member_id"])] = i
            if st.get("leader") and str(st["leader"]) != "0":
                leaders.add(str(st["leader"]))
        for leader in leaders:
            if leader in ids:
                return ids[leader]
        return None

    def wait_for_leader(self, timeout: float, other_than: Optional[int] = None) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader = self.leader()
            if leader is not None and leader != other_than:
                return leader
            time.sleep(0.1)
        raise TimeoutError(f"no etcd leader within {timeout} s (logs in {self.dir})")

    def kill(self, i: int, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[i]
        if proc is not None:
            proc.send_signal(sig)
            proc.wait(timeout=30)
            self.procs[i] = None

    def stop(self) -> None:
        for i in range(len(self.names)):
            self.kill(i, signal.SIGTERM)
        shutil.rmtree(self.dir, ignore_errors=True)
