"""Per-sample cost of danube-metrics against psutil, measured in one run on this machine.

    python benchmarks/bench_sample.py [--seconds S]

Prints microseconds per call (best of several rounds) and the ratio psutil / ours.
"""

from __future__ import annotations

import argparse
import platform
import time
from typing import Callable

import psutil

from danube_metrics import NativeResourceMonitor


def per_call_us(fn: Callable[[], object], seconds: float, rounds: int = 5) -> float:
    """Best round's mean cost of one call, in microseconds."""
    n = 1
    while True:  # calibrate: enough calls to fill a round
        t = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t > seconds / rounds / 4:
            break
        n *= 2
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t) / n)
    return best * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = ap.parse_args()

    mon = NativeResourceMonitor(min_interval=0)  # never cached: every call reads the files
    psutil.cpu_percent(None)
    time.sleep(0.05)  # let a clock tick pass, so the CPU reading has an interval

    def psutil_all() -> None:
        psutil.cpu_percent(None)
        psutil.virtual_memory()
        psutil.disk_io_counters()
        psutil.net_io_counters()

    rows = [
        ("sample() / 4 psutil calls", mon.sample, psutil_all),
        ("get_cpu_usage / cpu_percent", mon.get_cpu_usage, lambda: psutil.cpu_percent(None)),
        ("get_memory_usage / virtual_memory", mon.get_memory_usage, psutil.virtual_memory),
        ("get_disk_io / disk_io_counters", mon.get_disk_io, psutil.disk_io_counters),
        ("get_network_io / net_io_counters", mon.get_network_io, psutil.net_io_counters),
    ]
    print(
        f"# {platform.machine()}, {psutil.cpu_count()} CPUs, Linux {platform.release()}, "
        f"Python {platform.python_version()}, psutil {psutil.__version__}"
    )
    print(f"{'operation':<36} {'ours us':>9} {'psutil us':>10} {'psutil/ours':>12}")
    for name, ours, theirs in rows:
        a = per_call_us(ours, args.seconds)
        b = per_call_us(theirs, args.seconds)
        print(f"{name:<36} {a:9.2f} {b:10.2f} {b / a:11.1f}x")
    mon.close()


if __name__ == "__main__":
    main()
