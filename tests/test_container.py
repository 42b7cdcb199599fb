"""The cgroup-aware monitor in real containers (runc): figures against the container's limits.

Each test starts a container with a CPU quota of 0.5 cores and a 256 MiB memory limit (see
tests/container.py) and runs a Python script in it that loads the CPU with a busy process and
allocates memory, then checks what ``create_resource_monitor()`` reports there. A host monitor
would see a quarter of this 2-core machine busy; the cgroup monitor must see its limit full.

The scripts also read the cgroup files themselves (the "raw" figures: cpuacct usage, memory
usage minus inactive_file), so a failure shows whether the container or the monitor is off.
Needs root and runc; skipped otherwise, except in CI as root, where they must run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from container import Container, find_runc, run_in_container, runc_available

from danube_metrics import LoadReport, ResourceType

MiB = 1 << 20
CPU_CORES = 0.5
MEMORY_LIMIT = 256 * MiB
TIMEOUT = 60.0  # seconds per container run; a run takes about 3 s


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def _require_runc() -> None:
    """Skips without root or runc; in CI as root, fails instead (called in each test body so
    that it reports as a failure, not a setup error)."""
    reason = runc_available()
    if reason is None:
        return
    if _in_ci() and sys.platform.startswith("linux") and os.geteuid() == 0:
        # CI runs as root on Linux: a missing runc is a broken CI setup, not a reason to skip.
        hint = "runc must be installed by .ci/run" if find_runc() is None else "runc is broken"
        pytest.fail(f"{hint}: {reason}", pytrace=False)
    pytest.skip(reason)


# Runs inside the container. Prints one "RESULT {json}" line, again after each stage, so a
# failure part-way still shows what was measured before it.
MEASURE_SCRIPT = textwrap.dedent(
    """
    import json, os, subprocess, sys, time

    MiB = 1 << 20
    out = {}

    def emit():
        print("RESULT " + json.dumps(out), flush=True)

    def cgroup_view():
        # Independent of the monitor: which cgroup mounts and paths this process sees.
        mounts = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fstype = right.split()[0]
                if fstype in ("cgroup", "cgroup2"):
                    fields = left.split()
                    mounts.append((fstype, fields[3], fields[4], right.split()[2]))
        paths = {}
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, controllers, path = line.rstrip("\\n").split(":", 2)
                paths[controllers] = path
        return mounts, paths

    def cgroup_dir(controller):
        # mount point + (own path relative to the mount's root), as the monitor must do.
        mounts, paths = cgroup_view()
        for fstype, root, point, opts in mounts:
            if fstype == "cgroup" and controller in opts.split(","):
                own = next(p for c, p in paths.items() if controller in c.split(","))
                rel = os.path.relpath(own, root)
                return os.path.normpath(os.path.join(point, rel))
        for fstype, root, point, opts in mounts:
            if fstype == "cgroup2":
                return os.path.normpath(os.path.join(point, os.path.relpath(paths[""], root)))
        raise RuntimeError("no cgroup mount")

    def cpu_usage_ns():
        try:
            with open(os.path.join(cgroup_dir("cpuacct"), "cpuacct.usage")) as f:
                return int(f.read())
        except (OSError, RuntimeError, StopIteration):
            with open(os.path.join(cgroup_dir("cpu"), "cpu.stat")) as f:
                stat = dict(line.split() for line in f)
            return int(stat["usage_usec"]) * 1000

    def memory_raw():
        d = cgroup_dir("memory")
        v1 = os.path.exists(os.path.join(d, "memory.usage_in_bytes"))
        with open(os.path.join(d, "memory.usage_in_bytes" if v1 else "memory.current")) as f:
            usage = int(f.read())
        with open(os.path.join(d, "memory.stat")) as f:
            stat = dict(line.split() for line in f)
        inactive = int(stat["total_inactive_file" if v1 else "inactive_file"])
        with open(os.path.join(d, "memory.limit_in_bytes" if v1 else "memory.max")) as f:
            limit = int(f.read())
        ws = usage - inactive
        return {"dir": d, "limit": limit, "usage": usage, "inactive_file": inactive,
                "working_set": ws, "percent": ws / limit * 100}

    def cpu_quota_raw():
        d = cgroup_dir("cpu")
        try:
            with open(os.path.join(d, "cpu.cfs_quota_us")) as q, open(
                    os.path.join(d, "cpu.cfs_period_us")) as p:
                return {"dir": d, "quota_us": int(q.read()), "period_us": int(p.read())}
        except OSError:
            with open(os.path.join(d, "cpu.max")) as f:
                quota, period = f.read().split()
            return {"dir": d, "cpu.max": quota + " " + period}

    mounts, paths = cgroup_view()
    out["cgroup_paths"] = sorted(set(paths.values()))
    out["seen_cgroup_version"] = 1 if any(m[0] == "cgroup" for m in mounts) else 2
    out["raw_cpu_quota"] = cpu_quota_raw()
    emit()

    from danube_metrics import CgroupResourceMonitor, create_resource_monitor

    mon = create_resource_monitor()
    env = mon.environment
    out["type"] = type(mon).__name__
    out["is_cgroup_monitor"] = isinstance(mon, CgroupResourceMonitor)
    out["selection_reason"] = mon.selection_reason
    out["describe"] = mon.describe()
    keys = ("kind", "cgroup_version", "cgroup_path", "cpu_limit_cores", "memory_limit_bytes")
    out["environment"] = {k: getattr(env, k) for k in keys}
    emit()

    # The busy loop is a second process: the limit is the container's, not one thread's.
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        mon.get_cpu_usage()
        t0, u0 = time.monotonic(), cpu_usage_ns()
        time.sleep(2)
        out["cpu_percent"] = mon.get_cpu_usage()
        t1, u1 = time.monotonic(), cpu_usage_ns()
        out["raw_cpu_cores"] = (u1 - u0) / 1e9 / (t1 - t0)
    finally:
        busy.kill()
        busy.wait()
    emit()

    block = bytearray(128 * MiB)
    for i in range(0, len(block), 4096):  # touch every page: bytearray's zero pages are lazy
        block[i] = 1
    time.sleep(0.2)  # past the monitor's min_interval since the last reading
    out["memory_percent"] = mon.get_memory_usage()
    out["raw_memory"] = memory_raw()
    out["raw_memory_percent"] = out["raw_memory"]["percent"]
    emit()
    mon.close()
    """
)


def _result(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :]) if lines else {}
    return result


def _measure(*, cgroupns: bool, env: dict[str, str]) -> dict[str, Any]:
    proc = run_in_container(
        MEASURE_SCRIPT,
        cpu_quota_cores=CPU_CORES,
        memory_limit_bytes=MEMORY_LIMIT,
        cgroupns=cgroupns,
        env=env,
        timeout=TIMEOUT,
    )
    result = _result(proc)
    print(f"\ncontainer (cgroupns={cgroupns}) exit {proc.returncode}: {json.dumps(result)}")
    if proc.stderr:
        print(f"stderr:\n{proc.stderr}")
    if proc.returncode != 0:
        pytest.fail(f"script failed (exit {proc.returncode}) after {result}:\n{proc.stderr}")
    return result


def _check_limits_and_readings(r: dict[str, Any]) -> None:
    env = r["environment"]
    msg = json.dumps(r, indent=1)
    assert r["type"] == "CgroupResourceMonitor" and r["is_cgroup_monitor"], msg
    assert env["cpu_limit_cores"] == pytest.approx(CPU_CORES), msg
    assert env["memory_limit_bytes"] == MEMORY_LIMIT, msg
    # 1 on this project's hybrid VM (runc mounts the v1 hierarchies only); 2 on a v2 host.
    assert env["cgroup_version"] == r["seen_cgroup_version"], msg
    assert env["cgroup_path"] in r["cgroup_paths"], msg

    # The container really was held at its quota (else "100 %" would prove nothing).
    assert 0.4 <= r["raw_cpu_cores"] <= 0.6, f"quota not in force: {msg}"
    # Near 100 % of 0.5 cores; a host figure would be about 25 % of 2 cores.
    assert 85.0 <= r["cpu_percent"] <= 100.0, f"cpu {r['cpu_percent']:.1f} %: {msg}"
    # 128 MiB touched + interpreter against 256 MiB.
    assert 45.0 <= r["memory_percent"] <= 65.0, f"memory {r['memory_percent']:.1f} %: {msg}"
    assert r["memory_percent"] == pytest.approx(r["raw_memory_percent"], abs=3.0), msg


def test_docker_like_container_measures_against_its_limits() -> None:
    _require_runc()
    r = _measure(cgroupns=False, env={})
    print(
        f"docker-like: cpu {r['cpu_percent']:.1f} % (raw {r['raw_cpu_cores']:.3f} cores), "
        f"memory {r['memory_percent']:.1f} % (raw {r['raw_memory_percent']:.1f} %), "
        f"environment {r['environment']}"
    )
    _check_limits_and_readings(r)
    msg = json.dumps(r, indent=1)
    # Our rootfs has no /.dockerenv and the env has no KUBERNETES_*: a plain container.
    assert r["environment"]["kind"] == "container", msg
    # Without a cgroup namespace the host's path shows (runc names the cgroup after the id).
    assert r["environment"]["cgroup_path"] != "/", msg
    assert "danube-test-" in r["environment"]["cgroup_path"], msg


def test_pod_like_container_with_cgroup_namespace() -> None:
    _require_runc()
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    r = _measure(cgroupns=True, env=env)
    print(
        f"pod-like: cpu {r['cpu_percent']:.1f} % (raw {r['raw_cpu_cores']:.3f} cores), "
        f"memory {r['memory_percent']:.1f} % (raw {r['raw_memory_percent']:.1f} %), "
        f"environment {r['environment']}"
    )
    _check_limits_and_readings(r)
    msg = json.dumps(r, indent=1)
    assert r["environment"]["kind"] == "kubernetes", msg
    # Inside its own cgroup namespace the container is at the root of every hierarchy.
    assert r["cgroup_paths"] == ["/"], msg
    assert r["environment"]["cgroup_path"] == "/", msg


def test_cli_in_container_shows_the_limits_and_reports_json() -> None:
    _require_runc()
    with Container(cpu_quota_cores=CPU_CORES, memory_limit_bytes=MEMORY_LIMIT) as box:
        live = box.run(
            [sys.executable, "-m", "danube_metrics", "--count", "2", "--interval", "0.5"],
            timeout=TIMEOUT,
        )
        report = box.run(
            [sys.executable, "-m", "danube_metrics", "report", "--interval", "0.5"],
            timeout=TIMEOUT,
        )
    print(f"\nlive view (exit {live.returncode}):\n{live.stdout}{live.stderr}")
    print(f"report (exit {report.returncode}):\n{report.stdout}{report.stderr}")

    assert live.returncode == 0, live.stderr
    assert re.search(r"0\.5\d* ?cores", live.stdout), live.stdout
    assert re.search(r"256(\.0+)? ?MiB", live.stdout), live.stdout

    assert report.returncode == 0, report.stderr
    parsed = LoadReport.from_json(report.stdout)
    usage = {load.resource: load.usage for load in parsed.resources_usage}
    assert ResourceType.CPU in usage, report.stdout
    assert 0.0 <= usage[ResourceType.CPU] <= 100.0, report.stdout
    assert ResourceType.Memory in usage, report.stdout
