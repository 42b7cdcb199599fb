"""Zero heap allocations per sample in the C core, and no memory growth from Python.

The C harness tests/c/sample_main.c runs under an LD_PRELOAD counter of malloc, calloc and
realloc (benchmarks/alloc_count.c): the count after 10 samples must equal the count after
10,000, for the host and the cgroup monitor.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from cbuild import CC, core_command
from conftest import REPO

from danube_metrics import (
    NativeResourceMonitor,
    NotReadyError,
    NotSupportedError,
    create_resource_monitor,
)

pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler to build the harness")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("alloc")
    counter = out / "alloc_count.so"
    harness = out / "sample_main"
    control = out / "control"
    assert CC is not None
    subprocess.run(
        [CC, "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
         str(REPO / "benchmarks/alloc_count.c"), "-o", str(counter), "-ldl"],
        check=True,
    )  # fmt: skip
    subprocess.run(
        core_command(str(REPO / "tests/c/sample_main.c"), "-o", str(harness)), check=True
    )
    # A negative control: a loop that does allocate, so the counter is seen to count.
    (out / "control.c").write_text(
        "#include <stdlib.h>\n"
        "int main(int c, char **v) { long n = strtol(v[1], 0, 10);\n"
        "  for (long i = 0; i < n; i++) { void *volatile p = malloc(64); free(p); }\n"
        "  (void)c; return 0; }\n"
    )
    subprocess.run([CC, "-O0", str(out / "control.c"), "-o", str(control)], check=True)
    return {"counter": counter, "harness": harness, "control": control}


def allocations(built: dict[str, Path], program: str, *args: str, mode: str = "host") -> int:
    env = {**os.environ, "LD_PRELOAD": str(built["counter"]), "DANUBE_METRICS_MODE": mode}
    proc = subprocess.run(
        [str(built[program]), *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    found = re.findall(r"^allocations (\d+)$", proc.stderr, re.M)
    assert found, f"no count printed: {proc.stderr!r}"
    if program == "harness":
        lines = proc.stdout.splitlines()
        assert len(lines) == int(args[0])
        # The last sample was taken (CPU may still lack a clock tick at interval 0).
        assert '"memory_percent": null' not in lines[-1], lines[-1]
    return int(found[-1])


def test_the_counter_counts(built: dict[str, Path]) -> None:
    assert allocations(built, "control", "10000") - allocations(built, "control", "10") >= 9990


@pytest.mark.parametrize("mode", ["host", "cgroup"])
def test_no_allocation_per_sample(built: dict[str, Path], mode: str) -> None:
    few = allocations(built, "harness", "10", "0", mode=mode)
    many = allocations(built, "harness", "10000", "0", mode=mode)
    print(f"{mode}: {few} allocations with 10 samples, {many} with 10,000")
    assert few > 0  # opening the monitor allocates: the counter is live in this process
    assert many == few


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.parametrize("mode", ["host", "cgroup"])
def test_rss_stays_flat_over_many_samples(mode: str) -> None:
    mon = create_resource_monitor(mode=mode, min_interval=0)
    if mode == "host":
        assert isinstance(mon, NativeResourceMonitor)
    time.sleep(0.05)  # a clock tick, so that CPU has a value
    # Where v1 blkio does not count (this project's machines), the cgroup monitor's disk
    # reading raises NotSupportedError once the disks have moved: sample() then raises it at
    # every call, and that path must not grow either.
    unsupported: tuple[type[Exception], ...] = (NotSupportedError,) if mode == "cgroup" else ()
    with mon:
        for _ in range(20_000):  # warm-up: caches, free lists, the first exceptions
            with contextlib.suppress(NotReadyError, *unsupported):
                mon.sample()
        before = rss_bytes()
        for _ in range(100_000):
            with contextlib.suppress(*unsupported):
                mon.sample()
        after = rss_bytes()
    print(f"{mode}: RSS {before / 2**20:.2f} MiB -> {after / 2**20:.2f} MiB")
    assert after - before <= 2**20
