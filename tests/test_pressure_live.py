"""get_pressure() live: the host's CPU pressure under more busy processes than CPUs against
the kernel's own total= delta, and CFS throttling in a real runc container held to 0.2 cores.
The machine is shared and noisy: tolerances are on measured quantities, never on time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest
from container import run_in_container
from test_container import _require_runc, _result

from danube_metrics import NativeResourceMonitor

PSI_CPU = "/proc/pressure/cpu"


def kernel_cpu_some_us() -> int:
    with open(PSI_CPU, encoding="ascii") as f:
        return int(f.readline().rsplit("total=", 1)[1])


@pytest.mark.skipif(not os.path.exists(PSI_CPU), reason="no /proc/pressure on this kernel")
def test_host_cpu_pressure_rises_under_load_and_agrees_with_the_kernel() -> None:
    cpus = os.cpu_count() or 1
    # One runnable task more than there are CPUs: one CPU always has a task waiting, so about
    # 1/cpus of the (non-idle weighted) time has some task stalled: a figure below 100 %.
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cpus + 1)]
    try:
        time.sleep(0.3)  # all running
        with NativeResourceMonitor(min_interval=0) as mon:
            k0, t0 = kernel_cpu_some_us(), time.monotonic()
            time.sleep(1.5)
            p = mon.get_pressure()
            k1, t1 = kernel_cpu_some_us(), time.monotonic()
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()
    kernel = (k1 - k0) / ((t1 - t0) * 1e6) * 100
    print(f"\nhost cpu some: ours {p.cpu_some_percent:.2f} %, kernel total= delta {kernel:.2f} %")
    assert p.cpu_some_percent is not None
    assert p.cpu_some_percent >= 100 / cpus / 2, p  # rises: at least half the expected share
    assert p.cpu_some_percent == pytest.approx(kernel, abs=5.0), p
    assert p.cpu_throttled_percent is None  # the host monitor has no quota to be throttled by


CPU_CORES = 0.2

# Runs inside the container: a busy loop under a 0.2-core quota, the monitor's figures over
# two seconds, and the raw cpu.stat counters of the same file over the same interval.
THROTTLE_SCRIPT = textwrap.dedent(
    """
    import json, subprocess, sys, time
    from danube_metrics import create_resource_monitor, _binding

    def counters(path):
        with open(path) as f:
            return dict((k, int(v)) for k, v in (line.split() for line in f))

    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.5)
    mon = create_resource_monitor(min_interval=0)
    out = {"type": type(mon).__name__, "environment": mon.environment.__dict__}
    path = mon._handle.sample_files(_binding.PRESSURE)[-1]
    before = counters(path)
    time.sleep(2.0)
    cpu = mon.get_cpu_usage()
    p = mon.get_pressure()
    after = counters(path)
    busy.kill()
    out.update(cpu_percent=cpu, pressure=p._asdict(), cpu_stat=path,
               raw_periods=after["nr_periods"] - before["nr_periods"],
               raw_throttled=after["nr_throttled"] - before["nr_throttled"])
    print("RESULT " + json.dumps(out))
    """
)


def test_container_at_its_quota_is_throttled_nearly_every_period() -> None:
    _require_runc()
    proc = run_in_container(
        THROTTLE_SCRIPT, cpu_quota_cores=CPU_CORES, memory_limit_bytes=256 << 20, timeout=120
    )
    r: dict[str, Any] = _result(proc)
    msg = f"exit {proc.returncode}: {json.dumps(r, indent=1)}\n{proc.stderr}"
    assert proc.returncode == 0 and r, msg
    p = r["pressure"]
    print(
        f"\ncontainer at {CPU_CORES} cores: cpu {r['cpu_percent']:.1f} % of the limit, "
        f"throttled {p['cpu_throttled_percent']:.1f} % of periods "
        f"({p['cpu_throttled_seconds_per_second']:.3f} s/s); raw {r['raw_throttled']} of "
        f"{r['raw_periods']} periods; PSI {p['cpu_some_percent']}; "
        f"notes {r['environment']['pressure_note']!r}"
    )
    assert r["type"] == "CgroupResourceMonitor", msg
    assert r["environment"]["cpu_limit_cores"] == pytest.approx(CPU_CORES), msg
    assert r["cpu_percent"] >= 85.0, msg  # the busy loop uses its whole quota
    assert p["cpu_throttled_percent"] >= 85.0, msg  # and runs out of it nearly every period
    raw = 100 * r["raw_throttled"] / max(r["raw_periods"], 1)
    assert p["cpu_throttled_percent"] == pytest.approx(raw, abs=10.0), msg
    # Throttled time moved, as the periods did. Its size depends on when in each period the
    # host let the container run its 20 ms (0.8 s/s on a quiet machine, less when busy), and
    # it is summed over the CPUs the cgroup was throttled on: one busy thread, at most one.
    assert 0.0 < p["cpu_throttled_seconds_per_second"] <= 1.05, msg
    if r["environment"]["cgroup_version"] == 1:
        assert p["cpu_some_percent"] is None, msg  # no per-cgroup PSI on v1
        assert "cgroup v1" in r["environment"]["pressure_note"], msg
