"""The cgroup v2 cases, run inside the VM (tests/test_vm_cgroup2.py boots it once for all).

As a script (``vm_cgroup2_cases.py [CASE...]``) it runs in the guest's root cgroup as root and
performs every case, or those named, one after the other: it makes the case's cgroups with
their limits (tests/vm_guest.py), forks a child that moves into them (and into a cgroup
namespace where the case says), and prints one line per case::

    CASE {"case": "cpu_quota", "setup": {...}, "child": {...}}

The child opens a monitor, loads CPU, memory or disk as
the case asks, and reports both the monitor's figure and the ground truth it read from the
kernel's own files around the same calls (cgroup ``cpu.stat``, ``memory.current`` and
``memory.stat``, ``io.stat``; /proc/stat, /proc/meminfo and /proc/diskstats for the host
monitor). The tests compare them; this script judges nothing, so a failing case still shows
its figures. Standard library and danube_metrics only; Python 3.9.
"""

from __future__ import annotations

import json
import mmap
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Mapping
from typing import Any, Callable, Optional

import vm_guest

from danube_metrics import DanubeMetricsError, create_resource_monitor

MiB = 1 << 20
PERIOD_US = 100_000
BUSY_LOOP = ["sh", "-c", "while :; do :; done"]
CPU_SECONDS = 3.0
LIMIT_REFRESH_SECONDS = 5.0  # the monitor re-reads limits this often (docs/semantics.md)
SCRATCH = "/var/tmp/danube-vm"  # on the overlay's upper layer: the scratch virtio disk
PAGE_CACHE_FILE = f"{SCRATCH}/page-cache.bin"
PAGE_CACHE_MIB = 64
DOCKER_ID = "4f3c" * 16

# ---- the child: one monitor, the kernel's own figures beside it ------------------------------


def _own_cgroup_dir() -> str:
    """This process's cgroup directory, from /proc/self/cgroup and the cgroup2 mount's root
    (independent of the monitor's own lookup)."""
    with open("/proc/self/cgroup") as f:
        path = next(ln.rstrip("\n")[3:] for ln in f if ln.startswith("0::"))
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[0] == "cgroup2":
                root, point = left.split()[3:5]
                return os.path.normpath(os.path.join(point, os.path.relpath(path, root)))
    raise RuntimeError("no cgroup2 mount")


def _kv(path: str) -> dict[str, int]:
    with open(path) as f:
        return {k: int(v) for k, v in (line.split()[:2] for line in f if line.strip())}


def _proc_stat_busy_total() -> tuple[float, float]:
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait


def _meminfo() -> dict[str, int]:
    with open("/proc/meminfo") as f:
        return {ln.split(":")[0]: int(ln.split()[1]) * 1024 for ln in f}


def _vda_numbers() -> str:
    return vm_guest.read("/sys/block/vda/dev").strip()


def _cgroup_disk_bytes() -> tuple[int, int]:
    """rbytes and wbytes of the scratch disk in this cgroup's io.stat."""
    device = _vda_numbers()
    with open(os.path.join(_own_cgroup_dir(), "io.stat")) as f:
        for line in f:
            fields = line.split()
            if fields and fields[0] == device:
                stat = dict(kv.split("=") for kv in fields[1:])
                return int(stat["rbytes"]), int(stat["wbytes"])
    return 0, 0


def _diskstats_bytes() -> tuple[int, int]:
    with open("/proc/diskstats") as f:
        for line in f:
            fields = line.split()
            if fields[2] == "vda":
                return int(fields[5]) * 512, int(fields[9]) * 512
    raise RuntimeError("no vda in /proc/diskstats")


def _cgroup_memory(limit: int) -> dict[str, Any]:
    d = _own_cgroup_dir()
    current = int(vm_guest.read(os.path.join(d, "memory.current")))
    stat = _kv(os.path.join(d, "memory.stat"))
    working_set = max(current - stat["inactive_file"], 0)
    return {
        "current": current,
        "anon": stat["anon"],
        "file": stat["file"],
        "inactive_file": stat["inactive_file"],
        "working_set": working_set,
        "limit": limit,
        "percent": working_set / limit * 100,
        "raw_usage_percent": current / limit * 100,
    }


def _host_memory() -> dict[str, Any]:
    info = _meminfo()
    used = info["MemTotal"] - info["MemAvailable"]
    return {"mem_total": info["MemTotal"], "used": used, "percent": used / info["MemTotal"] * 100}


def _environment(mon: Any) -> dict[str, Any]:
    env = mon.environment
    keys = (
        "kind",
        "cgroup_version",
        "cgroup_path",
        "cpu_limit_cores",
        "memory_limit_bytes",
        "cpu_capacity_cores",
        "memory_capacity_bytes",
        "signals",
    )
    return {k: getattr(env, k) for k in keys}


def _pressure_counters() -> list[float]:
    """The counters behind the cgroup's pressure figures: cpu.stat's nr_periods, nr_throttled
    and throttled_usec, and the total= of cpu.pressure's "some" line (microseconds)."""
    d = _own_cgroup_dir()
    stat = _kv(os.path.join(d, "cpu.stat"))
    with open(os.path.join(d, "cpu.pressure")) as f:
        some = next(line for line in f if line.startswith("some "))
    total = int(some.split("total=")[1])
    return [stat["nr_periods"], stat["nr_throttled"], stat["throttled_usec"], total]


def _measure_cpu(mon: Any, busy: int, host: bool, pressure: bool = False) -> dict[str, Any]:
    """A busy load of `busy` shell loops (in this cgroup: they are children) for CPU_SECONDS;
    the monitor's figure and the kernel's usage over the same interval.

    The kernel's counter is read just before and just after each of the monitor's calls, and
    the loops run at nice 19: under a quota the whole cgroup stops when its share of a period
    is spent, so a reader that waited behind the loops would see the counter a period late.
    """
    counters: Callable[[], tuple[float, float]]
    if host:
        counters = _proc_stat_busy_total
    else:
        stat = os.path.join(_own_cgroup_dir(), "cpu.stat")
        counters = lambda: (_kv(stat)["usage_usec"] / 1e6, 0.0)  # noqa: E731

    def bracketed(call: Callable[[], float]) -> tuple[float, float, list[float], float]:
        c_before, t_before = counters(), time.monotonic()
        value = call()
        t_after, c_after = time.monotonic(), counters()
        mid = [(a + b) / 2 for a, b in zip(c_before, c_after)]
        return value, (t_before + t_after) / 2, mid, t_after - t_before

    loops = [subprocess.Popen(["nice", "-n", "19", *BUSY_LOOP]) for _ in range(busy)]
    try:
        time.sleep(0.5)
        # This call closes the interval since the last one: the next call's is ours.
        _, t0, c0, spread0 = bracketed(mon.get_cpu_usage)
        if pressure:
            p0 = _pressure_counters(), time.monotonic(), mon.get_pressure(), time.monotonic()
        time.sleep(CPU_SECONDS)
        figure, t1, c1, spread1 = bracketed(mon.get_cpu_usage)
        if pressure:
            p1 = _pressure_counters(), time.monotonic(), mon.get_pressure(), time.monotonic()
    finally:
        for loop in loops:
            loop.send_signal(signal.SIGKILL)
            loop.wait()
    # spread: how long the bracketed calls took (the truth's uncertainty at each end).
    out: dict[str, Any] = {"figure": figure, "seconds": t1 - t0, "spread": spread0 + spread1}
    if host:
        out["truth_percent"] = (c1[0] - c0[0]) / (c1[1] - c0[1]) * 100
    else:
        cores = (c1[0] - c0[0]) / (t1 - t0)
        out["usage_cores"] = cores
        out["truth_percent"] = cores / mon.environment.cpu_capacity_cores * 100
    if pressure:
        # The monitor's interval runs from the first get_pressure() to the second.
        seconds = (p1[1] + p1[3]) / 2 - (p0[1] + p0[3]) / 2
        periods, throttled, throttled_us, some_us = (b - a for a, b in zip(p0[0], p1[0]))
        out["pressure"] = {
            "figures": p1[2]._asdict(),
            "truth": {
                "cpu_throttled_percent": throttled / periods * 100 if periods else None,
                "cpu_throttled_seconds_per_second": throttled_us / 1e6 / seconds,
                "cpu_some_percent": some_us / 1e6 / seconds * 100,
                "periods": periods,
                "seconds": seconds,
            },
        }
    return out


def _measure_memory(mon: Any, touch_mib: int, page_cache: bool, host: bool) -> dict[str, Any]:
    """Touches `touch_mib` MiB, takes the monitor's memory figure and the kernel's; then,
    with `page_cache`, reads PAGE_CACHE_FILE (uncached until now) and takes both again."""
    limit = mon.environment.memory_capacity_bytes
    block = bytearray(touch_mib * MiB)
    for i in range(0, len(block), mmap.PAGESIZE):  # every page: bytearray's zeros are lazy
        block[i] = 1
    time.sleep(0.2)  # past min_interval since any earlier memory reading
    out: dict[str, Any] = {"figure": mon.get_memory_usage()}
    out["truth"] = _host_memory() if host else _cgroup_memory(limit)
    if page_cache:
        with open(PAGE_CACHE_FILE, "rb") as f:
            while f.read(MiB):
                pass
        time.sleep(0.2)
        out["figure_after_page_cache"] = mon.get_memory_usage()
        out["truth_after_page_cache"] = _cgroup_memory(limit)
    del block
    return out


def _measure_disk(mon: Any, write_mib: int, host: bool) -> dict[str, Any]:
    """Writes `write_mib` MiB with O_DIRECT (past the page cache, so the bytes reach the disk
    now, in this cgroup) between two disk readings; the bytes the figure implies and the
    kernel's count over the same interval."""
    buf = mmap.mmap(-1, MiB)  # page-aligned, as O_DIRECT needs
    buf.write(b"\xa5" * MiB)
    path = f"{SCRATCH}/direct-{os.getpid()}.bin"
    truth: Callable[[], tuple[int, int]] = _diskstats_bytes if host else _cgroup_disk_bytes
    time.sleep(0.2)
    before = time.monotonic()
    mon.get_disk_io()
    after = time.monotonic()
    b0 = truth()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT, 0o644)
    try:
        for _ in range(write_mib):
            os.write(fd, buf)
        os.fsync(fd)
    finally:
        os.close(fd)
    time.sleep(0.3)
    before1 = time.monotonic()
    figure = mon.get_disk_io()
    after1 = time.monotonic()
    b1 = truth()
    os.unlink(path)
    rate = figure.write_bytes_per_sec
    return {
        "written_bytes": write_mib * MiB,
        "write_bytes_per_sec": rate,
        "read_bytes_per_sec": figure.read_bytes_per_sec,
        # The monitor's interval lies between these two bounds (the calls' own durations).
        "figure_bytes_low": rate * (before1 - after),
        "figure_bytes_high": rate * (after1 - before),
        "truth_written_bytes": b1[1] - b0[1],
    }


def child(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Opens the monitor(s) the spec asks for and measures; returns what it saw."""
    out: dict[str, Any] = {"cgroup_dir": _own_cgroup_dir()}
    with open("/proc/self/cgroup") as f:
        out["proc_self_cgroup"] = f.read()
    for mode in spec.get("also_open", []):
        # Only whether it opens, and what it says: the v2 root case.
        try:
            other = create_resource_monitor(mode=mode)
        except DanubeMetricsError as exc:
            out[f"open_{mode}"] = {"error": type(exc).__name__, "message": str(exc)}
        else:
            out[f"open_{mode}"] = {
                "type": type(other).__name__,
                "selection_reason": other.selection_reason,
                "environment": _environment(other),
            }
            other.close()
    if not spec.get("measure", True):
        return out
    mon = create_resource_monitor(mode=spec.get("mode"))
    host = type(mon).__name__ == "NativeResourceMonitor"
    out["type"] = type(mon).__name__
    out["selection_reason"] = mon.selection_reason
    out["describe"] = mon.describe()
    out["environment"] = _environment(mon)
    if "cpu_busy" in spec:
        out["cpu"] = _measure_cpu(mon, spec["cpu_busy"], host, spec.get("pressure", False))
    if "rewrite_cpu_max" in spec:
        vm_guest.write(os.path.join(_own_cgroup_dir(), "cpu.max"), spec["rewrite_cpu_max"])
        out["cpu_max_rewritten"] = vm_guest.read(os.path.join(_own_cgroup_dir(), "cpu.max"))
        time.sleep(LIMIT_REFRESH_SECONDS + 0.5)
        out["cpu_after_rewrite"] = _measure_cpu(mon, spec["cpu_busy"], host)
        out["environment_after_rewrite"] = _environment(mon)
    if "touch_mib" in spec:
        out["memory"] = _measure_memory(mon, spec["touch_mib"], spec.get("page_cache", False), host)
    if "write_mib" in spec:
        out["disk"] = _measure_disk(mon, spec["write_mib"], host)
    mon.close()
    return out


# ---- the orchestrator: one case, one cgroup, one child ---------------------------------------


def _run_child(
    spec: Mapping[str, Any],
    *,
    cgroup: Optional[str],
    cgroupns: bool = False,
    env: Optional[Mapping[str, str]] = None,
) -> dict[str, Any]:
    """Runs child(spec) in a forked process placed in `cgroup` (None: stay in the root),
    optionally in a cgroup namespace, with `env` added; returns what it reported.

    A fork of this interpreter, which has imported the package already: a new interpreter
    would start and import for seconds, and inside a CPU quota several times longer.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: place itself, measure, report, leave without cleanup
        status = 0
        try:
            os.close(read_end)
            if cgroup:
                vm_guest.join_cgroup(cgroup)
            if cgroupns:
                vm_guest.enter_cgroup_namespace()
            for key in [k for k in os.environ if k.startswith("KUBERNETES_")]:
                del os.environ[key]
            os.environ.update(env or {})
            report: dict[str, Any] = {"result": child(spec)}
        except BaseException:
            report = {"error": traceback.format_exc()}
            status = 1
        with os.fdopen(write_end, "w") as f:
            f.write(json.dumps(report))
        os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end) as f:
        text = f.read()  # until the child exits (or closes the pipe)
    _, wait_status = os.waitpid(pid, 0)
    if not text:
        raise RuntimeError(f"the child reported nothing (wait status {wait_status})")
    got = json.loads(text)
    if "error" in got:
        raise RuntimeError(f"in the child:\n{got['error']}")
    result: dict[str, Any] = got["result"]
    return result


def _quota(cores: float) -> str:
    return f"{round(cores * PERIOD_US)} {PERIOD_US}"


def _files(path: str) -> dict[str, str]:
    """The limit files of cgroup `path` as the kernel shows them (the setup's ground truth)."""
    d = vm_guest.cgroup_dir(path)
    names = ("cpu.max", "memory.max", "cpuset.cpus.effective")
    return {n: vm_guest.read(os.path.join(d, n)).strip() for n in names}


def case_cpu_quota() -> dict[str, Any]:
    path = "/danube/cpu-quota"
    vm_guest.make_cgroup(path, {"cpu.max": _quota(0.5)})
    child_out = _run_child({"mode": "cgroup", "cpu_busy": 2, "pressure": True}, cgroup=path)
    return {"setup": {"limit_cores": 0.5, "files": _files(path)}, "child": child_out}


def case_cpu_parent_tighter() -> dict[str, Any]:
    parent, leaf = "/danube/cpu-parent", "/danube/cpu-parent/leaf"
    vm_guest.make_cgroup(parent, {"cpu.max": _quota(0.3)})
    vm_guest.make_cgroup(leaf, {"cpu.max": _quota(0.8)})
    child_out = _run_child({"mode": "cgroup", "cpu_busy": 2}, cgroup=leaf)
    return {
        "setup": {"limit_cores": 0.3, "files": _files(leaf), "parent_files": _files(parent)},
        "child": child_out,
    }


def case_cpuset_one_cpu() -> dict[str, Any]:
    path = "/danube/cpuset-one"
    vm_guest.make_cgroup(path, {"cpuset.cpus": "1"})
    child_out = _run_child({"mode": "cgroup", "cpu_busy": 2}, cgroup=path)
    return {"setup": {"limit_cores": 1.0, "files": _files(path)}, "child": child_out}


def _make_page_cache_file() -> None:
    """A file of PAGE_CACHE_MIB MiB on the scratch disk, written from the root cgroup and then
    dropped from the page cache, so that a child reading it is charged its cache."""
    os.makedirs(SCRATCH, exist_ok=True)
    with open(PAGE_CACHE_FILE, "wb") as f:
        chunk = b"\x5a" * MiB
        for _ in range(PAGE_CACHE_MIB):
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
    vm_guest.write("/proc/sys/vm/drop_caches", "1")


def case_memory_working_set() -> dict[str, Any]:
    path = "/danube/memory"
    vm_guest.make_cgroup(path, {"memory.max": str(256 * MiB)})
    _make_page_cache_file()
    child_out = _run_child({"mode": "cgroup", "touch_mib": 128, "page_cache": True}, cgroup=path)
    return {
        "setup": {
            "limit_bytes": 256 * MiB,
            "page_cache_bytes": PAGE_CACHE_MIB * MiB,
            "files": _files(path),
        },
        "child": child_out,
    }


def case_memory_tightest() -> dict[str, Any]:
    parent, leaf = "/danube/mem-parent", "/danube/mem-parent/leaf"
    vm_guest.make_cgroup(parent, {"memory.max": str(192 * MiB)})
    vm_guest.make_cgroup(leaf, {"memory.max": str(512 * MiB)})
    child_out = _run_child({"mode": "cgroup", "touch_mib": 64}, cgroup=leaf)
    return {
        "setup": {"limit_bytes": 192 * MiB, "files": _files(leaf), "parent_files": _files(parent)},
        "child": child_out,
    }


def case_disk_io_stat() -> dict[str, Any]:
    path = "/danube/disk"
    vm_guest.make_cgroup(path)
    os.makedirs(SCRATCH, exist_ok=True)
    child_out = _run_child({"mode": "cgroup", "write_mib": 32}, cgroup=path)
    return {"setup": {"device": _vda_numbers()}, "child": child_out}


POD_LIMITS = {"cpu.max": _quota(0.5), "memory.max": str(256 * MiB)}
POD_LOAD = {"cpu_busy": 2, "touch_mib": 128}


def case_pod_namespace() -> dict[str, Any]:
    pod, app = "/kubepods/burstable/pod-6d1e", "/kubepods/burstable/pod-6d1e/app"
    vm_guest.make_cgroup(pod, {"memory.max": str(512 * MiB)})
    vm_guest.make_cgroup(app, POD_LIMITS)
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    child_out = _run_child(POD_LOAD, cgroup=app, cgroupns=True, env=env)
    return {
        "setup": {"limit_cores": 0.5, "limit_bytes": 256 * MiB, "files": _files(app)},
        "child": child_out,
    }


def case_docker_path() -> dict[str, Any]:
    path = f"/system.slice/docker-{DOCKER_ID}.scope"
    vm_guest.make_cgroup(path, POD_LIMITS)
    child_out = _run_child(POD_LOAD, cgroup=path)
    return {
        "setup": {
            "limit_cores": 0.5,
            "limit_bytes": 256 * MiB,
            "path": path,
            "files": _files(path),
        },
        "child": child_out,
    }


def case_no_limits() -> dict[str, Any]:
    path = "/danube/unlimited"
    vm_guest.make_cgroup(path)
    child_out = _run_child({"mode": "cgroup", "cpu_busy": 1, "touch_mib": 64}, cgroup=path)
    return {
        "setup": {
            "online": vm_guest.read("/sys/devices/system/cpu/online").strip(),
            "mem_total": _meminfo()["MemTotal"],
            "files": _files(path),
        },
        "child": child_out,
    }


def case_v2_root() -> dict[str, Any]:
    # The root cgroup: this orchestrator's own, so the child stays there.
    child_out = _run_child({"also_open": ["cgroup", None], "measure": False}, cgroup=None)
    return {"setup": {}, "child": child_out}


def case_host_monitor() -> dict[str, Any]:
    os.makedirs(SCRATCH, exist_ok=True)
    spec = {"mode": "host", "cpu_busy": 1, "touch_mib": 64, "write_mib": 16}
    child_out = _run_child(spec, cgroup=None)
    return {"setup": {"mem_total": _meminfo()["MemTotal"]}, "child": child_out}


def case_limit_rewritten() -> dict[str, Any]:
    path = "/danube/resize"
    vm_guest.make_cgroup(path, {"cpu.max": _quota(0.5)})
    spec = {"mode": "cgroup", "cpu_busy": 2, "rewrite_cpu_max": _quota(0.25)}
    child_out = _run_child(spec, cgroup=path)
    return {
        "setup": {"limit_cores": 0.5, "limit_cores_after": 0.25, "files": _files(path)},
        "child": child_out,
    }


CASES: dict[str, Callable[[], dict[str, Any]]] = {
    "cpu_quota": case_cpu_quota,
    "cpu_parent_tighter": case_cpu_parent_tighter,
    "cpuset_one_cpu": case_cpuset_one_cpu,
    "memory_working_set": case_memory_working_set,
    "memory_tightest": case_memory_tightest,
    "disk_io_stat": case_disk_io_stat,
    "pod_namespace": case_pod_namespace,
    "docker_path": case_docker_path,
    "no_limits": case_no_limits,
    "v2_root": case_v2_root,
    "host_monitor": case_host_monitor,
    "limit_rewritten": case_limit_rewritten,
}


def main(names: list[str]) -> int:
    kernel = os.uname().release
    for name in names or list(CASES):
        started = time.monotonic()
        line: dict[str, Any] = {"case": name, "kernel": kernel}
        try:
            line.update(CASES[name]())
        except Exception:
            line["error"] = traceback.format_exc()
        line["seconds"] = round(time.monotonic() - started, 2)
        print("CASE " + json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
