"""Publishing load reports and watching the live cluster (issue 15), on a folder and on a real
three-member etcd cluster started on loopback ports of the test's own.

Publishers run as separate processes (tests/cluster_child.py) so that SIGKILL really kills one.
Deadlines are the issue's bounds (one interval to appear, TTL + one renewal to leave, 10 s to
resume after a new leader), plus the folder's polling period; everything else polls with
generous limits. The figures each fault test saw are printed (pytest -s shows them).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from etcd_cluster import ETCD, EtcdCluster

from danube_metrics.cluster import (
    ClusterView,
    DirectoryStore,
    EtcdStore,
    LoadPublisher,
    ReportStore,
)
from danube_metrics.report import UPSTREAM, LoadReport, ResourceType, SystemLoad

CHILD = Path(__file__).parent / "cluster_child.py"
INTERVAL = 1.0
TTL = 3.0
RENEW = TTL / 3
POLL = 0.2  # DirectoryStore's listing period


def fixed_report(cpu: float) -> Callable[[], LoadReport]:
    def make() -> LoadReport:
        usage = [SystemLoad(ResourceType.CPU, cpu), SystemLoad(ResourceType.Memory, 40.0)]
        return LoadReport(usage, 1, ["/default/t"])

    return make


class Child:
    """A publisher process; its ``published N`` lines are collected with their times."""

    def __init__(self, url: str, broker: int, cpu: float) -> None:
        self.broker = broker
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), url, str(broker), str(INTERVAL), str(TTL), str(cpu)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.published: list[float] = []
        self.final: dict[str, Any] = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("published "):
                self.published.append(time.monotonic())
            elif line.startswith("{"):
                self.final = json.loads(line)

    def published_after(self, t: float) -> bool:
        return any(p > t for p in self.published)

    def terminate(self) -> dict[str, Any]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        self._reader.join(timeout=10)
        return self.final

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)


def wait_for(condition: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        if child.proc.poll() is None:
            child.kill()


def start_three(url: str, children: list[Child]) -> list[Child]:
    """Brokers 1, 2, 3 at 10, 50 and 90 % CPU, each started and past its first publish."""
    for broker, cpu in ((1, 10.0), (2, 50.0), (3, 90.0)):
        children.append(Child(url, broker, cpu))
    assert wait_for(lambda: all(c.published for c in children), 60), [
        c.proc.stderr.read() if c.proc.poll() is not None and c.proc.stderr else ""
        for c in children
    ]
    return children


def live(view: ClusterView) -> set[int]:
    return set(view.reports())


# The folder -------------------------------------------------------------------------------


def dir_url(tmp_path: Path) -> str:
    return f"dir://{tmp_path / 'load'}"


def test_folder_three_publishers_appear_within_one_interval_ranked(
    tmp_path: Path, children: list[Child]
) -> None:
    store = DirectoryStore(tmp_path / "load", ttl=TTL, poll_interval=POLL)
    with ClusterView(store) as view:
        start_three(dir_url(tmp_path), children)
        first = max(c.published[0] for c in children)
        assert view.wait_until(lambda r: set(r) == {1, 2, 3}, INTERVAL + POLL)
        print(
            f"\nfolder: all three in the view {time.monotonic() - first:.3f} s after the last "
            "first publish"
        )
        assert [b for b, _ in view.rank("balanced")] == [1, 2, 3]
        assert view.select() == 1
        # A stopped publisher removes its file at once.
        children[1].terminate()
        assert not (tmp_path / "load" / "2.json").exists()
        assert view.wait_until(lambda r: set(r) == {1, 3}, 2 * POLL + 1)


def test_folder_sigkilled_publisher_leaves_after_ttl(tmp_path: Path, children: list[Child]) -> None:
    store = DirectoryStore(tmp_path / "load", ttl=TTL, poll_interval=POLL)
    with ClusterView(store) as view:
        start_three(dir_url(tmp_path), children)
        assert view.wait_until(lambda r: set(r) == {1, 2, 3}, 10)
        children[2].kill()
        killed = time.monotonic()
        assert view.wait_until(lambda r: set(r) == {1, 2}, TTL + RENEW + POLL)
        gone = time.monotonic() - killed
        # The live publishers remove the dead one's file once it is two TTLs old.
        assert wait_for(lambda: not (tmp_path / "load" / "3.json").exists(), 2 * TTL + RENEW + 2)
        removed = time.monotonic() - killed
        print(
            f"\nfolder SIGKILL: left the view after {gone:.2f} s, file removed after "
            f"{removed:.2f} s"
        )
        assert 3 not in view.reports() and set(view.reports()) == {1, 2}


def test_folder_malformed_files_are_skipped_and_counted(tmp_path: Path) -> None:
    folder = tmp_path / "load"
    store = DirectoryStore(folder, ttl=TTL, poll_interval=POLL)
    good = LoadPublisher(store, 5, interval=INTERVAL, make_report=fixed_report(20.0))
    with good, ClusterView(store) as view:
        # The publisher's first write makes the folder; the foreign files come after it.
        assert view.wait_until(lambda r: set(r) == {5}, 5)
        (folder / "6.json").write_text("{not json")
        (folder / "seven.json").write_text(fixed_report(1.0)().to_json())
        other = fixed_report(1.0)()
        other.broker_id = 9
        (folder / "8.json").write_text(other.to_json(schema=UPSTREAM))
        assert view.wait_until(lambda r: set(r) == {5}, 5)
        assert wait_for(lambda: len(view.skipped) == 3, 5), view.skipped
        assert view.malformed == 3
        assert "not a load report" in view.skipped["6"]
        assert "no broker id" in view.skipped["seven"]
        assert "names broker 9" in view.skipped["8"]
        assert view.rank()[0][0] == 5


# etcd -------------------------------------------------------------------------------------

needs_etcd = pytest.mark.skipif(
    ETCD is None and os.environ.get("CI") != "true",
    reason="etcd is not installed (Debian: apt-get install etcd-server)",
)


@pytest.fixture
def etcd() -> Iterator[EtcdCluster]:
    if os.environ.get("CI") != "true":
        pytest.importorskip("etcd3gw", reason="the etcd extra is not installed")
    cluster = EtcdCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


def etcd_keys(cluster: EtcdCluster) -> set[str]:
    store = EtcdStore(cluster.endpoints)
    try:
        _, snap = store.snapshot()
        return {f"load/{k}" for k in snap.loads} | {f"register/{k}" for k in snap.registered}
    finally:
        store.close()


@needs_etcd
def test_etcd_three_publishers_appear_within_one_interval_ranked(
    etcd: EtcdCluster, children: list[Child]
) -> None:
    with ClusterView(EtcdStore(etcd.endpoints)) as view:
        start_three(etcd.url, children)
        first = max(c.published[0] for c in children)
        assert view.wait_until(lambda r: set(r) == {1, 2, 3}, INTERVAL)
        print(
            f"\netcd: all three in the view {time.monotonic() - first:.3f} s after the last "
            "first publish"
        )
        assert [b for b, _ in view.rank("balanced")] == [1, 2, 3]
        assert [b for b, _ in view.rank("weighted_load")] == [1, 2, 3]
        children[0].terminate()  # revokes its lease: gone at once
        assert view.wait_until(lambda r: set(r) == {2, 3}, 2)
        assert "load/1" not in etcd_keys(etcd)


@needs_etcd
def test_etcd_sigkilled_publisher_leaves_within_ttl_and_one_renewal(
    etcd: EtcdCluster, children: list[Child]
) -> None:
    with ClusterView(EtcdStore(etcd.endpoints)) as view:
        start_three(etcd.url, children)
        assert view.wait_until(lambda r: set(r) == {1, 2, 3}, 10)
        children[1].kill()
        killed = time.monotonic()
        assert view.wait_until(lambda r: set(r) == {1, 3}, TTL + RENEW)
        gone = time.monotonic() - killed
        keys = etcd_keys(etcd)
        print(f"\netcd SIGKILL: left the view after {gone:.2f} s; keys left: {sorted(keys)}")
        assert "load/2" not in keys and "register/2" not in keys
        assert {"load/1", "register/1", "load/3", "register/3"} <= keys


@needs_etcd
def test_etcd_leader_killed_publishing_and_watching_resume(
    etcd: EtcdCluster, children: list[Child]
) -> None:
    changes: list[float] = []
    errors: list[BaseException] = []

    def on_change(view: ClusterView) -> None:
        changes.append(time.monotonic())

    with ClusterView(EtcdStore(etcd.endpoints), on_change=on_change) as view:
        start_three(etcd.url, children)
        assert view.wait_until(lambda r: set(r) == {1, 2, 3}, 10)
        leader = etcd.leader()
        assert leader is not None
        etcd.kill(leader)
        killed = time.monotonic()
        etcd.wait_for_leader(30, other_than=leader)
        elected = time.monotonic()
        before = {b: r.timestamp for b, r in view.reports().items()}
        # Each publisher writes again, and the view sees a newer report from each.
        assert wait_for(lambda: all(c.published_after(elected) for c in children), 10)
        published = time.monotonic() - elected
        assert view.wait_until(
            lambda r: set(r) == {1, 2, 3} and all(r[b].timestamp > before[b] for b in r), 10
        )
        watched = time.monotonic() - elected
        print(
            f"\netcd leader kill: new leader {elected - killed:.2f} s after the kill; every "
            f"publisher published {published:.2f} s and the view had a newer report from "
            f"each {watched:.2f} s after the election; view errors {view.errors}"
        )
    for child in children:
        final = child.terminate()
        assert child.proc.returncode == 0, child.proc.stderr.read() if child.proc.stderr else ""
        print(f"  broker {child.broker}: {final}")
    assert not errors


@needs_etcd
def test_etcd_every_member_stopped_publisher_backs_off_and_resumes(etcd: EtcdCluster) -> None:
    from danube_metrics.monitor import create_resource_monitor

    store = EtcdStore(etcd.endpoints, timeout=1.0)
    calls = [0]
    stop = threading.Event()
    with create_resource_monitor(min_interval=0) as mon:

        def sampler() -> None:
            while not stop.is_set():
                mon.read_all()
                calls[0] += 1

        publisher = LoadPublisher(store, 11, monitor=mon, interval=INTERVAL, ttl=TTL, topics=["/a"])
        thread = threading.Thread(target=sampler, daemon=True)
        with ClusterView(EtcdStore(etcd.endpoints, timeout=1.0)) as view:
            publisher.start()
            assert view.wait_until(lambda r: 11 in r, 10)
            thread.start()

            def rate(seconds: float) -> float:
                n0, t0 = calls[0], time.monotonic()
                time.sleep(seconds)
                return (calls[0] - n0) / (time.monotonic() - t0)

            up_rate = rate(2.0)
            for i in range(3):
                etcd.kill(i, signal.SIGTERM)
            down = time.monotonic()
            failed_before = publisher.failed
            published_before = publisher.published
            down_rate = rate(4.0)
            outage = time.monotonic() - down
            failures = publisher.failed - failed_before
            assert publisher.published == published_before
            assert failures >= 2 and publisher.last_error is not None
            outage_error = publisher.last_error
            # Backoff, not a busy retry loop: 0.1 s doubling to a third of the TTL.
            assert failures < outage / 0.1
            for i in range(3):
                etcd.start_member(i)
            etcd.wait_for_leader(30)
            back = time.monotonic()
            assert wait_for(lambda: publisher.published > published_before, 15)
            resumed = time.monotonic() - back
            assert view.wait_until(lambda r: 11 in r and r[11].timestamp > time.time() - 3, 15)
            seen = time.monotonic() - back
            publisher.stop()
            stop.set()
            thread.join()
            print(
                f"\netcd all members stopped {outage:.1f} s: {failures} failed attempts "
                f"(last: {outage_error}); read_all() {up_rate:.0f}/s before, "
                f"{down_rate:.0f}/s during ({down_rate / up_rate:.2f}x); published again "
                f"{resumed:.2f} s after a leader, seen by the view {seen:.2f} s after; "
                f"registrations {publisher.registrations}; view errors {view.errors}"
            )
    store.close()


@needs_etcd
def test_etcd_malformed_and_unregistered_values_are_skipped(etcd: EtcdCluster) -> None:
    store = EtcdStore(etcd.endpoints)
    publishers = [
        LoadPublisher(store, b, interval=INTERVAL, ttl=TTL, make_report=fixed_report(c))
        for b, c in ((1, 70.0), (2, 30.0))
    ]
    for p in publishers:
        p.start()
    try:
        with ClusterView(EtcdStore(etcd.endpoints)) as view:
            assert view.wait_until(lambda r: set(r) == {1, 2}, 10)
            orphan = fixed_report(1.0)()
            orphan.broker_id = 99
            store.call(
                "kv/put",
                {"key": _b64("/cluster/load/99"), "value": _b64(orphan.to_json(schema=UPSTREAM))},
            )
            store.call("kv/put", {"key": _b64("/cluster/load/3"), "value": _b64("{garbage")})
            store.call("kv/put", {"key": _b64("/cluster/register/3"), "value": _b64("{}")})
            store.call("kv/put", {"key": _b64("/cluster/load/x"), "value": _b64("{}")})
            assert wait_for(lambda: len(view.skipped) == 3, 5), view.skipped
            print(
                f"\netcd foreign values: skipped {view.skipped}; malformed {view.malformed}, "
                f"unregistered {view.unregistered}"
            )
            assert view.unregistered == 1 and view.malformed == 2
            assert "without a registration" in view.skipped["99"]
            assert set(view.reports()) == {1, 2}
            assert [b for b, _ in view.rank()] == [2, 1]
            # The orphan registers: now it counts.
            store.call("kv/put", {"key": _b64("/cluster/register/99"), "value": _b64("{}")})
            assert view.wait_until(lambda r: set(r) == {1, 2, 99}, 5)
            assert view.select() == 99
    finally:
        for p in publishers:
            p.stop()
        store.close()


def test_etcd_put_responses_take_the_watch_shortcut(
    etcd: EtcdCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    # tests/test_etcd_watch.py holds the shortcut to the JSON decode on responses made to
    # etcd's shape; this checks the shape is the one these members write.
    import danube_metrics.cluster as cluster_module

    seen = {"matched": 0, "not": 0}
    one_put = cluster_module._one_put

    def counting(line: bytes, decode: Any) -> Any:
        found = one_put(line, decode)
        seen["matched" if found is not None else "not"] += 1
        return found

    monkeypatch.setattr(cluster_module, "_one_put", counting)
    store = EtcdStore(etcd.endpoints)
    with ClusterView(EtcdStore(etcd.endpoints)) as view:
        assert view.wait_until(lambda r: True, 5)
        with LoadPublisher(
            store, 5, interval=0.2, ttl=TTL, make_report=fixed_report(10.0)
        ) as publisher:
            assert view.wait_until(lambda r: 5 in r, 10)
            assert wait_for(lambda: publisher.published >= 3 and seen["matched"] >= 4, 10)
    store.close()
    print(f"\netcd watch responses: {seen['matched']} took the shortcut, {seen['not']} not")
    # The registration's PUT and each report's; the one other is the watch's creation notice.
    assert seen["matched"] >= 4


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


def test_store_kinds_share_one_interface() -> None:
    assert issubclass(DirectoryStore, ReportStore) and issubclass(EtcdStore, ReportStore)


def test_command_line_publish_cluster_and_rank_on_a_folder(tmp_path: Path) -> None:
    from conftest import run_python

    url = f"dir://{tmp_path / 'load'}"
    publisher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "danube_metrics",
            "publish",
            "--store",
            url,
            "--broker-id",
            "4",
            "--interval",
            "0.5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tempfile_dir(),
    )
    try:
        assert wait_for(lambda: (tmp_path / "load" / "4.json").exists(), 30)
        report = LoadReport.from_json((tmp_path / "load" / "4.json").read_bytes())
        # The first report waits for the monitor's first rates: CPU is in it.
        assert report.broker_id == 4 and report.usage(ResourceType.CPU) is not None
        shown = run_python("-m", "danube_metrics", "cluster", "--store", url, "--refreshes", "1")
        assert shown.returncode == 0, shown.stderr
        assert "1 live broker" in shown.stdout and "saturated" in shown.stdout
        ranked = run_python("-m", "danube_metrics", "rank", "--store", url, "--json")
        assert ranked.returncode == 0, ranked.stderr
        assert json.loads(ranked.stdout)["strategies"]["balanced"]["chosen"] == 4
        both = run_python("-m", "danube_metrics", "rank", "--store", url, "r.json")
        assert both.returncode == 2 and "one of the two" in both.stderr
    finally:
        publisher.send_signal(signal.SIGTERM)
        publisher.wait(timeout=30)
    assert publisher.returncode == 0
    assert not (tmp_path / "load" / "4.json").exists()  # stopping removed it


def tempfile_dir() -> str:
    import tempfile

    return tempfile.gettempdir()
