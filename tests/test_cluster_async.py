"""LoadPublisher.run_async (issue 15's asyncio form): it publishes, never runs a store call on
the event loop's thread, keeps going through a store that fails, and removes its report when
cancelled. On a folder store, so no etcd is needed.

No test here waits on a clock for its verdict: a store call made on the loop's thread would
deadlock the gate below (the loop could not open it), which the gate's own limit turns into
a counted failure that the test then sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path
from typing import Callable, Optional

from danube_metrics.cluster import DirectoryStore, LoadPublisher, Registration
from danube_metrics.report import LoadReport, ResourceType, SystemLoad

TTL = 3.0


def make_report() -> LoadReport:
    usage = [SystemLoad(ResourceType.CPU, 20.0), SystemLoad(ResourceType.Memory, 30.0)]
    return LoadReport(usage, 1, ["/default/t"])


class GatedStore(DirectoryStore):
    """A folder whose publishes wait for a gate the event loop opens, and note their thread."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, ttl=TTL, poll_interval=0.05)
        self.gate = threading.Event()
        self.publish_threads: list[int] = []

    def register(self, broker_id: int, ttl: float) -> Registration:
        registration = super().register(broker_id, ttl)
        publish = registration.publish

        def gated_publish(report_json: str) -> None:
            self.publish_threads.append(threading.get_ident())
            if not self.gate.wait(5):
                raise OSError("the gate was never opened: the event loop was blocked")
            publish(report_json)

        registration.publish = gated_publish  # type: ignore[method-assign]
        return registration


async def until(condition: Callable[[], bool], limit: float = 30.0) -> bool:
    """Polls on the loop (the loop stays free for everything else meanwhile)."""
    for _ in range(int(limit / 0.01)):
        if condition():
            return True
        await asyncio.sleep(0.01)
    return condition()


def test_run_async_publishes_off_the_loop_and_withdraws_when_cancelled(tmp_path: Path) -> None:
    store = GatedStore(tmp_path / "load")
    publisher = LoadPublisher(store, 7, interval=0.05, ttl=TTL, make_report=make_report)
    seen: dict[str, object] = {}

    async def main() -> None:
        loop_thread = threading.get_ident()
        task = asyncio.create_task(publisher.run_async())
        # The first publish waits for the gate: only a loop that is free can open it.
        assert await until(lambda: bool(store.publish_threads))
        store.gate.set()
        assert await until(lambda: publisher.published >= 3)
        seen["file"] = store.file_of(7).exists()
        seen["report"] = LoadReport.from_json(store.file_of(7).read_text())
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            seen["cancelled"] = True
        seen["threads"] = set(store.publish_threads)
        seen["loop"] = loop_thread

    asyncio.run(main())
    assert publisher.failed == 0, publisher.last_error
    assert seen["file"] is True
    assert isinstance(seen["report"], LoadReport)
    assert seen["report"].broker_id == 7  # type: ignore[attr-defined]
    assert seen["cancelled"] is True
    assert seen["loop"] not in seen["threads"]  # type: ignore[operator]
    assert not store.file_of(7).exists()  # withdrawn on cancel


def test_run_async_counts_a_failing_store_and_recovers(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder should be\n")
    store = DirectoryStore(blocker / "load", ttl=TTL)
    publisher = LoadPublisher(store, 3, interval=0.05, ttl=TTL, make_report=make_report)
    ticks = 0
    failed_before: Optional[int] = None

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async def main() -> None:
        nonlocal failed_before
        task = asyncio.create_task(publisher.run_async())
        beat = asyncio.create_task(ticker())
        assert await until(lambda: publisher.failed >= 2)
        assert publisher.published == 0
        assert "cannot create the folder" in (publisher.last_error or "")
        failed_before = publisher.failed
        blocker.unlink()  # the folder can be made now: the next retry succeeds
        assert await until(lambda: publisher.published >= 1)
        task.cancel()
        beat.cancel()
        await asyncio.gather(task, beat, return_exceptions=True)

    asyncio.run(main())
    assert failed_before is not None and failed_before >= 2
    assert publisher.last_error is None  # cleared by the publish that succeeded
    assert ticks > 0  # the loop ran other tasks while the store failed
    assert not store.file_of(3).exists()


def test_cancelled_during_a_publish_withdraws_after_it(tmp_path: Path) -> None:
    """A publish in its worker thread when the task is cancelled still runs to its end; the
    withdraw comes after it, so the report does not stay behind."""
    store = GatedStore(tmp_path / "load")
    publisher = LoadPublisher(store, 8, interval=0.05, ttl=TTL, make_report=make_report)

    async def main() -> None:
        task = asyncio.create_task(publisher.run_async())
        assert await until(lambda: bool(store.publish_threads))  # waiting at the gate
        task.cancel()
        # The gate opens a little after the cancel, from a thread: a withdraw that did not
        # wait for the publish would run in between, and the publish would then write.
        threading.Timer(0.2, store.gate.set).start()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert publisher.published == 1 and publisher.failed == 0, publisher.last_error
    assert not store.file_of(8).exists()
