"""Live cross-checks of the Linux host monitor against the running machine.

Each test makes a known load (busy processes, memory, file writes, TCP traffic), measures it
with :class:`NativeResourceMonitor` and compares with an independent figure: psutil, /proc
arithmetic done here, the byte count the test itself produced. The machine may be shared and
noisy, so nothing asserts how long anything took; tolerances are on measured quantities.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

import pytest

from danube_metrics import (
    DiskIOStats,
    NativeResourceMonitor,
    NetworkIOStats,
    NotReadyError,
    Sample,
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the host monitor reads Linux /proc"
)

psutil = pytest.importorskip("psutil")

REPO = Path(__file__).resolve().parent.parent
MiB = 1 << 20
T = TypeVar("T")


# ---- helpers ----------------------------------------------------------------------------------


def meminfo_percent() -> float:
    """(MemTotal - MemAvailable) / MemTotal * 100, straight from /proc/meminfo."""
    fields: dict[str, int] = {}
    with open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            key, _, rest = line.partition(":")
            fields[key] = int(rest.split()[0])
    return (fields["MemTotal"] - fields["MemAvailable"]) / fields["MemTotal"] * 100.0


def mem_total_bytes() -> int:
    with open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal in /proc/meminfo")


def timed(read: Callable[[], T]) -> tuple[T, float]:
    """A reading and the monotonic time it was taken at (the midpoint of the call).

    Both time.monotonic and the C core use CLOCK_MONOTONIC, so differences of these midpoints
    approximate the monitor's own interval to a few microseconds.
    """
    before = time.monotonic()
    value = read()
    after = time.monotonic()
    return value, (before + after) / 2


def check_sample_in_range(s: Sample) -> None:
    assert 0.0 <= s.cpu_percent <= 100.0, s
    assert 0.0 <= s.memory_percent <= 100.0, s
    for rate in (*s.disk, *s.network):
        assert math.isfinite(rate) and rate >= 0.0, s


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[Any]]]:
    """Child processes a test starts; all are killed at teardown, pass or fail."""
    started: list[subprocess.Popen[Any]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)
        for stream in (p.stdin, p.stdout, p.stderr):
            if stream is not None:
                stream.close()


# ---- 1. CPU -----------------------------------------------------------------------------------

BUSY_LOOP = "while True: pass"


def test_cpu_rises_under_load_and_agrees_with_psutil(
    procs: list[subprocess.Popen[Any]],
) -> None:
    ncpu = os.cpu_count() or 1
    with NativeResourceMonitor(min_interval=0) as mon:
        # Start both intervals at the same moment, so both measure the same ticks. (Right
        # after creation no tick may have passed yet, and the first reading would not be ready.)
        time.sleep(0.2)
        mon.get_cpu_usage()
        psutil.cpu_percent(None)
        time.sleep(1.0)
        idle = mon.get_cpu_usage()
        idle_ps = psutil.cpu_percent(None)

        # One busy process: 100 / ncpu points on an otherwise idle machine.
        procs.append(subprocess.Popen([sys.executable, "-c", BUSY_LOOP]))
        time.sleep(1.5)
        busy = mon.get_cpu_usage()
        busy_ps = psutil.cpu_percent(None)

    print(f"cpu: idle {idle:.1f}% (psutil {idle_ps:.1f}%), busy {busy:.1f}% (psutil {busy_ps:.1f}%)")
    assert abs(idle - idle_ps) <= 5.0
    assert abs(busy - busy_ps) <= 5.0
    one_core = 100.0 / ncpu
    assert busy >= 0.8 * one_core
    # Well above idle, unless other load already saturates the machine.
    assert busy >= 95.0 or busy - idle >= 0.5 * one_core
