"""The cgroup monitor over fixture trees: v2 with and without a cgroup namespace, docker on v1,
a hybrid host, a nested pod, the v2 root. Exact readings, the limits found on the cgroup's path,
edge values, errors, and the factory's choice.

Each tree under tests/fixtures/cgroup-*/ is what a process sees in that setting (proc/self/cgroup,
proc/self/mountinfo, the cgroup files where the mounts put them); later/ is the same tree 2 s
after the baseline. Limits are read when a monitor opens and again once 5 s of its monotonic
clock have passed, so a limit written after opening shows only at a sample >= T0 + 5 s.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import shutil
import subprocess
import sys
from typing import Callable, NamedTuple, Optional

import pytest
from conftest import SECOND, T0, FixtureTree, assert_exact

from danube_metrics import (
    CgroupResourceMonitor,
    DanubeMetricsError,
    DiskIOStats,
    Environment,
    NativeResourceMonitor,
    NetworkIOStats,
    NotReadyError,
    NotSupportedError,
    ParseError,
    ReadingError,
    _binding,
    create_resource_monitor,
)

TreeFactory = Callable[[str], FixtureTree]

DOCKER_ID = "7f3c9a1e5b2d48c6a0e1f9b3d7c5a2e4f6b8d0c1a3e5f7b9d2c4e6a8f0b1c3d5"
KIB = 1024

# Where each tree keeps the files the tests edit.
K8S = "sys/fs/cgroup/"
DOCKER_CPU = "sys/fs/cgroup/cpu,cpuacct/"
DOCKER_MEM = "sys/fs/cgroup/memory/"
DOCKER_BLKIO = "sys/fs/cgroup/blkio/"
KUBEPODS = "sys/fs/cgroup/kubepods.slice/"
POD = KUBEPODS + "pod1/"
CTR = POD + "ctr1/"

# MemTotal of each tree, in bytes (proc/meminfo is in kB).
MEM_TOTAL = {
    "cgroup-k8s-v2-ns": 16384000 * KIB,
    "cgroup-docker-v1": 8000000 * KIB,
    "cgroup-hybrid-host": 8000000 * KIB,
    "cgroup-nested-v2": 4000000 * KIB,
}


@pytest.fixture(autouse=True)
def _no_outside_signs(monkeypatch: pytest.MonkeyPatch) -> None:
    # The factory and the container signs read these: the machine running the tests (a CI pod)
    # must not decide what a fixture tree looks like.
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("DANUBE_METRICS_MODE", raising=False)


def open_cgroup(tree: FixtureTree, **kwargs: object) -> CgroupResourceMonitor:
    return CgroupResourceMonitor(str(tree.root), _start_ns=T0, **kwargs)  # type: ignore[arg-type]


def open_host(tree: FixtureTree, **kwargs: object) -> NativeResourceMonitor:
    return NativeResourceMonitor(str(tree.root), _start_ns=T0, **kwargs)  # type: ignore[arg-type]


def without_signals(env: Environment) -> Environment:
    """The environment less what the cases leave out: the signals, and the pressure notes
    (tests/test_pressure.py checks those)."""
    return dataclasses.replace(env, signals=(), pressure_note=None, throttling_note=None)


# At open a v1 blkio file has not yet been seen to count (the kernel may not count it).
V1_NOT_YET_SEEN = (
    "cgroup v1 blkio not yet seen to count: the disks have moved less than 1 MiB since the "
    "monitor opened"
)


class Case(NamedTuple):
    cpu: float
    memory: float
    disk: DiskIOStats
    network: NetworkIOStats
    environment: Environment  # without signals
    cgroup_dir: str  # under the tree's root
    interfaces: list[str]


# The later/ snapshot is taken 2 s after the baseline; the arithmetic is spelled out from the
# files: CPU % = delta usage seconds / (2 s * limit cores) * 100, memory % = (usage -
# inactive_file) / capacity * 100, rates = delta bytes / 2 s.
CASES = {
    "cgroup-k8s-v2-ns": Case(
        # usage_usec +3 s against cpu.max 200000/100000 = 2 cores
        100 * (8000000 - 5000000) / 1e6 / (2 * (200000 / 100000)),
        # memory.current - inactive_file (not inactive_anon or active_file) of memory.max
        100 * (234881024 - 33554432) / 536870912,
        # io.stat summed over both devices
        DiskIOStats(
            ((3048576 - 1048576) + (45056 - 4096)) / 2, ((6097152 - 2097152) + (8192 - 0)) / 2
        ),
        # eth0 is a veth (under virtual/net): every interface but lo
        NetworkIOStats((120000 - 100000) / 2, (60000 - 50000) / 2),
        Environment("kubernetes", 2, "/", 2.0, 536870912, 2.0, 536870912),
        "sys/fs/cgroup",
        ["*"],
    ),
    "cgroup-docker-v1": Case(
        # cpuacct.usage ns against cfs 50000/100000 = 0.5 cores (cpuset 0-3, 8 online)
        100 * (124056789000 - 123456789000) / 1e9 / (2 * (50000 / 100000)),
        # total_inactive_file (hierarchical), not this cgroup's own inactive_file
        100 * (201326592 - 33554432) / 268435456,
        # the throttle file; the CFQ file beside it moved by 99999999 and must not count
        DiskIOStats((1458176 - 1048576) / 2, (1343488 - 524288) / 2),
        NetworkIOStats((9000 - 1000) / 2, (3000 - 1000) / 2),
        Environment(
            "docker",
            1,
            f"/docker/{DOCKER_ID}",
            0.5,
            268435456,
            0.5,
            268435456,
            disk_note=V1_NOT_YET_SEEN,
        ),
        # the mount root /docker/<id> stripped: not .../memory/docker/<id> (automaxprocs#85)
        "sys/fs/cgroup/memory",
        ["*"],
    ),
    "cgroup-hybrid-host": Case(
        # no quota (-1) at either level, cpuset 0-3, 4 online: 4 cores
        100 * (53200000000 - 50000000000) / 1e9 / (2 * 4),
        # limit_in_bytes 9223372036854771712 is none: against MemTotal
        100 * (2867200000 - 409600000) / (8000000 * KIB),
        DiskIOStats((3000000 - 2000000) / 2, (7000000 - 4000000) / 2),
        # a host: eth0 is physical, lo virtual
        NetworkIOStats((140000 - 100000) / 2, (210000 - 200000) / 2),
        Environment(
            "host", 1, "/user.slice", None, None, 4.0, 8000000 * KIB, disk_note=V1_NOT_YET_SEEN
        ),
        "sys/fs/cgroup/memory/user.slice",
        ["eth0"],
    ),
    "cgroup-nested-v2": Case(
        # ctr1 has no quota; pod1's 50000/100000 = 0.5 cores is under cpuset 0-1 and 4 online
        100 * (1800000 - 1000000) / 1e6 / (2 * (50000 / 100000)),
        # ctr1 memory.max is "max"; pod1's 268435456 is tighter than kubepods.slice's 3 GiB
        100 * (184549376 - 16777216) / 268435456,
        DiskIOStats(2048 / 2, 8192 / 2),
        NetworkIOStats((4500 - 500) / 2, (1700 - 700) / 2),
        Environment("kubernetes", 2, "/kubepods.slice/pod1/ctr1", 0.5, 268435456, 0.5, 268435456),
        "sys/fs/cgroup/kubepods.slice/pod1/ctr1",
        ["*"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fixture_readings_are_exact(tree_factory: TreeFactory, case: str) -> None:
    expected = CASES[case]
    tree = tree_factory(case)
    with open_cgroup(tree) as mon:
        assert mon.cgroup_dir == f"{tree.root}/{expected.cgroup_dir}"
        assert mon.interfaces == expected.interfaces
        tree.advance()
        r = mon._sample_at(T0 + 2 * SECOND)
        assert r.errors == {}
        assert r.cpu_percent == pytest.approx(expected.cpu, rel=1e-12)
        assert r.memory_percent == pytest.approx(expected.memory, rel=1e-12)
        assert r.disk == pytest.approx(expected.disk, rel=1e-12)
        assert r.network == pytest.approx(expected.network, rel=1e-12)


@pytest.mark.parametrize("case", sorted(CASES))
def test_environment_names_the_cgroup_and_its_limits(tree_factory: TreeFactory, case: str) -> None:
    tree = tree_factory(case)
    with open_cgroup(tree) as mon:
        env = mon.environment
    assert without_signals(env) == CASES[case].environment
    assert (env.signals == ()) == (env.kind == "host")


def test_docker_kind_comes_from_the_cgroup_path(tree_factory: TreeFactory) -> None:
    tree = tree_factory("cgroup-docker-v1")
    # No /.dockerenv in this tree: /docker/<id> in proc/self/cgroup is the sign.
    assert not (tree.root / ".dockerenv").exists()
    with open_cgroup(tree) as mon:
        env = mon.environment
        assert f"docker: cgroup path /docker/{DOCKER_ID}" in env.signals
        assert env.describe() == (
            f"docker, cgroup v1 /docker/{DOCKER_ID}, CPU limit 0.5 cores, memory limit 256 MiB"
            f"; disk: {V1_NOT_YET_SEEN}"
        )
        assert mon.describe() == (
            f"cgroup v1 monitor ({tree.root}/{DOCKER_MEM[:-1]}; interfaces: all but lo; "
            f"disk: {V1_NOT_YET_SEEN})"
        )


# ---- The factory -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "kind"),
    [
        ("cgroup-k8s-v2-ns", "kubernetes"),
        ("cgroup-docker-v1", "docker"),
        ("cgroup-nested-v2", "kubernetes"),
    ],
)
def test_factory_picks_the_cgroup_monitor_in_containers(
    tree_factory: TreeFactory, case: str, kind: str
) -> None:
    tree = tree_factory(case)
    with create_resource_monitor(str(tree.root)) as mon:
        assert isinstance(mon, CgroupResourceMonitor)
        assert mon.environment.kind == kind
        assert mon.selection_reason.startswith(f"cgroup monitor ({kind}): container signs: ")
        limit = CASES[case].environment.cpu_limit_cores
        assert f"CPU limit {limit:g} cores" in mon.selection_reason


def test_factory_on_a_hybrid_host_picks_the_host_monitor(tree_factory: TreeFactory) -> None:
    tree = tree_factory("cgroup-hybrid-host")
    # "/" is an ext4 mount of "/", no /.dockerenv, no runtime in the cgroup paths, no limits.
    with create_resource_monitor(str(tree.root)) as mon:
        assert isinstance(mon, NativeResourceMonitor)
        assert mon.selection_reason == "host monitor: no container signs and no CPU or memory limit"


def test_kubernetes_variable_makes_the_hybrid_host_a_container(
    tree_factory: TreeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = tree_factory("cgroup-hybrid-host")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    with create_resource_monitor(str(tree.root)) as mon:
        assert isinstance(mon, CgroupResourceMonitor)
        assert mon.environment.kind == "kubernetes"
        # No limit: the figures are the whole machine's, and the reason says so.
        assert "no CPU or memory limit" in mon.selection_reason


# The host monitor over the two host trees: (cpu %, memory %, disk, network, disks, interfaces).
HOST_CASES = {
    "cgroup-hybrid-host": (
        100 * (400 + 200) / ((400 + 200) + 400),
        100 * (8000000 - 5000000) / 8000000,
        DiskIOStats((10000 - 8000) * 512 / 2, (22000 - 16000) * 512 / 2),
        NetworkIOStats((140000 - 100000) / 2, (210000 - 200000) / 2),
        ["sda"],
        ["eth0"],
    ),
    "cgroup-v2-root": (
        # busy +300 user +100 system; idle +500 +100 iowait
        100 * 400 / (400 + 600),
        100 * (16000000 - 10000000) / 16000000,
        DiskIOStats((4400 - 4000) * 512 / 2, (9800 - 9000) * 512 / 2),
        NetworkIOStats((18000 - 10000) / 2, (21000 - 20000) / 2),
        ["nvme0n1"],
        ["enp3s0"],
    ),
}


@pytest.mark.parametrize("case", sorted(HOST_CASES))
def test_host_monitor_on_the_host_trees(tree_factory: TreeFactory, case: str) -> None:
    cpu, mem, disk, net, disks, ifaces = HOST_CASES[case]
    tree = tree_factory(case)
    with open_host(tree) as mon:
        assert mon.disks == disks
        assert mon.interfaces == ifaces
        tree.advance()
        assert_exact(mon._sample_at(T0 + 2 * SECOND), cpu, mem, disk, net)


def test_v2_root_cgroup_is_not_measured_as_a_cgroup(tree_factory: TreeFactory) -> None:
    tree = tree_factory("cgroup-v2-root")
    # The v2 root has cpu.stat and memory.stat but no memory.current: it is the whole machine.
    with pytest.raises(NotSupportedError) as info:
        open_cgroup(tree)
    assert info.value.filename == f"{tree.root}/sys/fs/cgroup/memory.current"
    assert "memory.current" in str(info.value) and "root cgroup" in str(info.value)


def test_factory_in_the_v2_root_cgroup_explains_the_host_monitor(tree_factory: TreeFactory) -> None:
    tree = tree_factory("cgroup-v2-root")
    with create_resource_monitor(str(tree.root)) as mon:
        assert isinstance(mon, NativeResourceMonitor)
        assert mon.selection_reason.startswith("host monitor: no cgroup to measure (")
        assert "memory.current" in mon.selection_reason
        assert "root cgroup" in mon.selection_reason


@pytest.mark.parametrize(
    ("case", "mode", "cls"),
    [
        ("cgroup-docker-v1", "host", NativeResourceMonitor),
        ("cgroup-k8s-v2-ns", "host", NativeResourceMonitor),
        # No limit and no container sign: auto would pick the host monitor.
        ("cgroup-hybrid-host", "cgroup", CgroupResourceMonitor),
        ("cgroup-nested-v2", "auto", CgroupResourceMonitor),
    ],
)
def test_mode_variable_forces_the_monitor(
    tree_factory: TreeFactory,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    mode: str,
    cls: type,
) -> None:
    tree = tree_factory(case)
    monkeypatch.setenv("DANUBE_METRICS_MODE", mode)
    with create_resource_monitor(str(tree.root)) as mon:
        assert type(mon) is cls
        if mode != "auto":
            assert f"DANUBE_METRICS_MODE={mode!r}" in mon.selection_reason


def test_mode_argument_wins_over_the_variable(
    tree_factory: TreeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = tree_factory("cgroup-docker-v1")
    monkeypatch.setenv("DANUBE_METRICS_MODE", "host")
    with create_resource_monitor(str(tree.root), mode="cgroup") as mon:
        assert isinstance(mon, CgroupResourceMonitor)
        assert mon.selection_reason == "cgroup monitor requested (mode='cgroup')"


def test_forced_cgroup_mode_where_there_is_none_raises(
    tree_factory: TreeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = tree_factory("cgroup-v2-root")
    monkeypatch.setenv("DANUBE_METRICS_MODE", "cgroup")
    with pytest.raises(NotSupportedError, match=r"memory\.current"):
        create_resource_monitor(str(tree.root))


@pytest.mark.parametrize("value", ["container", "Host", "v2"])
def test_invalid_mode_variable_is_a_value_error(
    tree_factory: TreeFactory, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    tree = tree_factory("cgroup-docker-v1")
    monkeypatch.setenv("DANUBE_METRICS_MODE", value)
    with pytest.raises(ValueError, match="DANUBE_METRICS_MODE") as info:
        create_resource_monitor(str(tree.root))
    assert repr(value) in str(info.value)


# ---- Limits along the path ---------------------------------------------------------------------


def edit(tree: FixtureTree, files: dict[str, Optional[str]]) -> None:
    """Writes (or, for None, removes) files of a copied tree before a monitor opens."""
    for rel, text in files.items():
        if text is None:
            os.unlink(tree.root / rel)
        else:
            tree.write(rel, text)


@pytest.mark.parametrize(
    ("files", "cpu_limit", "memory_limit"),
    [
        pytest.param({}, 0.5, 268435456, id="pod-limits"),
        # Without the pod's quota, ctr1's cpuset (0-1) of 4 online CPUs is the limit.
        pytest.param({POD + "cpu.max": "max 100000\n"}, 2.0, 268435456, id="cpuset"),
        # The walk goes past the parent: kubepods.slice's quota applies.
        pytest.param(
            {POD + "cpu.max": "max 100000\n", KUBEPODS + "cpu.max": "150000 100000\n"},
            1.5,
            268435456,
            id="grandparent-quota",
        ),
        # A deeper, tighter quota wins over the pod's.
        pytest.param({CTR + "cpu.max": "20000 100000\n"}, 0.2, 268435456, id="leaf-quota"),
        # Nothing but the online CPUs: no limit.
        pytest.param(
            {POD + "cpu.max": "max 100000\n", CTR + "cpuset.cpus.effective": None},
            None,
            268435456,
            id="no-cpu-limit",
        ),
        pytest.param({POD + "memory.max": "max\n"}, 0.5, 3221225472, id="grandparent-memory"),
        pytest.param({CTR + "memory.max": "134217728\n"}, 0.5, 134217728, id="leaf-memory"),
        pytest.param(
            {POD + "memory.max": "max\n", KUBEPODS + "memory.max": "max\n"},
            0.5,
            None,
            id="no-memory-limit",
        ),
    ],
)
def test_tightest_limit_on_the_path_applies(
    tree_factory: TreeFactory,
    files: dict[str, Optional[str]],
    cpu_limit: Optional[float],
    memory_limit: Optional[int],
) -> None:
    tree = tree_factory("cgroup-nested-v2")
    edit(tree, files)
    cpu_capacity = cpu_limit or 4.0
    memory_capacity = memory_limit or MEM_TOTAL["cgroup-nested-v2"]
    with open_cgroup(tree) as mon:
        env = mon.environment
        assert env.cpu_limit_cores == cpu_limit
        assert env.memory_limit_bytes == memory_limit
        assert env.cpu_capacity_cores == cpu_capacity
        assert env.memory_capacity_bytes == memory_capacity
        tree.advance()
        r = mon._sample_at(T0 + 2 * SECOND)
        # 0.8 s over 2 s is 200 % of 0.2 cores, and 160 MiB is 125 % of 128 MiB: clamped.
        cpu = min(100.0, 100 * (1800000 - 1000000) / 1e6 / (2 * cpu_capacity))
        memory = min(100.0, 100 * (184549376 - 16777216) / memory_capacity)
        assert r.cpu_percent == pytest.approx(cpu, rel=1e-12)
        assert r.memory_percent == pytest.approx(memory, rel=1e-12)


# v1 writes -1 for no quota; "unlimited" memory reads back as PAGE_COUNTER_MAX times the page
# size (4 KiB pages: 9223372036854771712, 64 KiB pages: 0x7FFFFFFFFFFF0000); anything from 2^62
# up is none.
V1_NO_MEMORY_LIMIT = ["-1", "9223372036854771712", str(0x7FFFFFFFFFFF0000), str(2**62)]


@pytest.mark.parametrize("value", V1_NO_MEMORY_LIMIT)
def test_v1_unlimited_memory_is_measured_against_memtotal(
    tree_factory: TreeFactory, value: str
) -> None:
    tree = tree_factory("cgroup-docker-v1")
    tree.write(DOCKER_MEM + "memory.limit_in_bytes", value + "\n")
    total = MEM_TOTAL["cgroup-docker-v1"]
    with open_cgroup(tree) as mon:
        assert mon.environment.memory_limit_bytes is None
        assert mon.environment.memory_capacity_bytes == total
        tree.advance()
        r = mon._sample_at(T0 + 2 * SECOND)
        assert r.memory_percent == pytest.approx(100 * (201326592 - 33554432) / total, rel=1e-12)


@pytest.mark.parametrize(("cpuset", "cpu_limit"), [("0-7", None), ("0-3", 4.0), ("2,5", 2.0)])
def test_v1_no_quota_leaves_the_cpuset(
    tree_factory: TreeFactory, cpuset: str, cpu_limit: Optional[float]
) -> None:
    tree = tree_factory("cgroup-docker-v1")
    tree.write(DOCKER_CPU + "cpu.cfs_quota_us", "-1\n")
    tree.write("sys/fs/cgroup/cpuset/cpuset.cpus", cpuset + "\n")
    with open_cgroup(tree) as mon:
        assert mon.environment.cpu_limit_cores == cpu_limit
        assert mon.environment.cpu_capacity_cores == (cpu_limit or 8.0)
        tree.advance()
        r = mon._sample_at(T0 + 2 * SECOND)
        expected = 100 * (124056789000 - 123456789000) / 1e9 / (2 * (cpu_limit or 8.0))
        assert r.cpu_percent == pytest.approx(expected, rel=1e-12)


def test_v2_max_everywhere_is_no_limit(tree_factory: TreeFactory) -> None:
    tree = tree_factory("cgroup-nested-v2")
    for level in (KUBEPODS, POD, CTR):
        tree.write(level + "cpu.max", "max 100000\n")
        tree.write(level + "memory.max", "max\n")
    os.unlink(tree.root / CTR / "cpuset.cpus.effective")
    total = MEM_TOTAL["cgroup-nested-v2"]
    with open_cgroup(tree) as mon:
        env = mon.environment
        assert (env.cpu_limit_cores, env.memory_limit_bytes) == (None, None)
        assert (env.cpu_capacity_cores, env.memory_capacity_bytes) == (4.0, total)
        tree.advance()
        r = mon._sample_at(T0 + 2 * SECOND)
        assert r.cpu_percent == pytest.approx(100 * 0.8 / (2 * 4), rel=1e-12)
        assert r.memory_percent == pytest.approx(100 * (184549376 - 16777216) / total, rel=1e-12)


def test_limit_change_is_picked_up_at_the_next_refresh(tree_factory: TreeFactory) -> None:
    tree = tree_factory("cgroup-k8s-v2-ns")
    with open_cgroup(tree) as mon:
        # docker update / an in-place pod resize: 1 core and 256 MiB.
        tree.write(K8S + "cpu.max", "100000 100000\n")
        tree.write(K8S + "memory.max", "268435456\n")
        assert mon.environment.cpu_limit_cores == 2.0  # read at open, not yet again
        tree.advance()
        # 2 s after the last read (at the baseline, T0): the old limits still apply.
        r = mon._sample_at(T0 + 2 * SECOND)
        assert r.cpu_percent == pytest.approx(CASES["cgroup-k8s-v2-ns"].cpu, rel=1e-12)
        assert r.memory_percent == pytest.approx(CASES["cgroup-k8s-v2-ns"].memory, rel=1e-12)
        # 10 s after: re-read. +4 s of CPU over the 8 s since the last sample, on 1 core.
        tree.write(K8S + "cpu.stat", "usage_usec 12000000\n")
        r = mon._sample_at(T0 + 10 * SECOND)
        assert r.errors == {}
        assert r.cpu_percent == pytest.approx(100 * (12000000 - 8000000) / 1e6 / (8 * 1.0))
        assert r.memory_percent == pytest.approx(100 * (234881024 - 33554432) / 268435456)
        env = mon.environment
        assert (env.cpu_limit_cores, env.memory_limit_bytes) == (1.0, 268435456)


# ---- Working set, missing files, resets ----------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "rel", "text"),
    [
        ("cgroup-k8s-v2-ns", K8S + "memory.stat", "inactive_file 999999999999\n"),
        ("cgroup-docker-v1", DOCKER_MEM + "memory.stat", "total_inactive_file 999999999999\n"),
    ],
)
def test_working_set_is_clamped_at_zero(
    tree_factory: TreeFactory, case: str, rel: str, text: str
) -> None:
    tree = tree_factory(case)
    with open_cgroup(tree) as mon:
        # More inactive page cache than usage (the counters are not read atomically).
        tree.write(rel, text)
        r = mon._sample_at(T0 + 2 * SECOND)
        assert r.memory_percent == 0.0
        assert "memory" not in r.errors


def test_missing_memory_stat_at_open_names_the_file(tree_factory: TreeFactory) -> None:
    tree = tree_factory("cgroup-k8s-v2-ns")
    os.unlink(tree.root / K8S / "memory.stat")
    with pytest.raises(ReadingError) as info:
        open_cgroup(tree)
    assert info.value.errno == errno.ENOENT
    assert info.value.filename == f"{tree.root}/sys/fs/cgroup/memory.stat"


def test_memory_stat_vanishing_while_open_is_an_error_and_recovers(
    tree_factory: TreeFactory,
) -> None:
    tree = tree_factory("cgroup-k8s-v2-ns")
    stat = tree.root / K8S / "memory.stat"
    saved = stat.read_text(encoding="utf-8")
    # The monitor keeps its descriptors open, so unlinking a plain file would go unseen (a
    # removed cgroup's files fail with ENODEV instead). A procfs file of a child that exits
    # fails the same way: ESRCH on the open descriptor, then ENOENT by name.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        os.unlink(stat)
        os.symlink(f"/proc/{child.pid}/status", stat)
        mon = open_cgroup(tree, min_interval=0)
    finally:
        child.kill()
        child.wait()
    with mon:
        r = mon._sample_at(T0 + SECOND)
        err = r.errors["memory"]
        assert isinstance(err, ReadingError) and err.filename == str(stat)
        r = mon._sample_at(T0 + 2 * SECOND)
        err = r.errors["memory"]
        assert isinstance(err, ReadingError) and err.errno == errno.ENOENT
        assert err.filename == str(stat)
        assert "cpu" not in r.errors
        # The file returns: memory is measured again.
        os.unlink(stat)
        stat.write_text(saved, encoding="utf-8")
        r = mon._sample_at(T0 + 3 * SECOND)
        assert r.errors == {}
        assert r.memory_percent == pytest.approx(100 * (201326592 - 67108864) / 536870912)


def test_no_io_stat_means_no_disk_reading_but_the_rest_works(tree_factory: TreeFactory) -> None:
    tree = tree_factory("cgroup-k8s-v2-ns")
    os.unlink(tree.root / K8S / "io.stat")
    expected = CASES["cgroup-k8s-v2-ns"]
    with open_cgroup(tree) as mon:
        tree.advance()  # writes io.stat back, but the monitor decided at open
        r = mon._sample_at(T0 + 2 * SECOND)
        err = r.errors.pop("disk")
        assert isinstance(err, NotSupportedError)
        assert err.filename == f"{tree.root}/sys/fs/cgroup"
        assert "io.stat" in str(err)
        assert r.errors == {}
        assert r.cpu_percent == pytest.approx(expected.cpu, rel=1e-12)
        assert r.memory_percent == pytest.approx(expected.memory, rel=1e-12)
        assert r.network == pytest.approx(expected.network, rel=1e-12)


BLKIO_FILES = [
    "blkio.throttle.io_service_bytes_recursive",
    "blkio.io_service_bytes_recursive",
    "blkio.bfq.io_service_bytes_recursive",
]


@pytest.mark.parametrize("present", [1, 2])
def test_v1_blkio_falls_back_to_the_scheduler_files(
    tree_factory: TreeFactory, present: int
) -> None:
    tree = tree_factory("cgroup-docker-v1")
    for name in BLKIO_FILES:
        path = tree.root / DOCKER_BLKIO / name
        if path.exists():
            path.unlink()
    rel = DOCKER_BLKIO + BLKIO_FILES[present]
    tree.write(rel, "8:0 Read 1000\n8:0 Write 2000\n8:0 Total 3000\nTotal 3000\n")
    with open_cgroup(tree) as mon:
        tree.write(rel, "8:0 Read 5000\n8:0 Write 2400\n8:0 Total 7400\nTotal 7400\n")
        r = mon._sample_at(T0 + 2 * SECOND)
        assert r.disk == DiskIOStats((5000 - 1000) / 2, (2400 - 2000) / 2)


def test_v1_without_blkio_files_has_no_disk_reading(tree_factory: TreeFactory) -> None:
    tree = tree_factory("cgroup-docker-v1")
    for name in BLKIO_FILES[:2]:
        os.unlink(tree.root / DOCKER_BLKIO / name)
    with open_cgroup(tree) as mon:
        r = mon._sample_at(T0 + 2 * SECOND)
        assert isinstance(r.errors["disk"], NotSupportedError)
        assert set(r.errors) == {"disk"}


@pytest.mark.parametrize(
    ("case", "rel", "before", "reset", "after", "per_second"),
    [
        # usage_usec: µs per second of 2 cores
        ("cgroup-k8s-v2-ns", K8S + "cpu.stat", 5000000, 1000, 1000 + 1000000, 1e6 * 2),
        # cpuacct.usage: ns per second of 0.5 cores
        ("cgroup-docker-v1", DOCKER_CPU + "cpuacct.usage", 123456789000, 0, 250000000, 1e9 / 2),
    ],
)
def test_cpu_counter_reset_gives_no_rate_for_that_interval(
    tree_factory: TreeFactory,
    case: str,
    rel: str,
    before: int,
    reset: int,
    after: int,
    per_second: float,
) -> None:
    tree = tree_factory(case)

    def usage(value: int) -> str:
        return f"usage_usec {value}\n" if rel.endswith("cpu.stat") else f"{value}\n"

    with open_cgroup(tree, min_interval=0) as mon:
        assert tree.read(rel).startswith(usage(before))
        # The cgroup was recreated: usage drops below the baseline.
        tree.write(rel, usage(reset))
        r = mon._sample_at(T0 + SECOND)
        err = r.errors["cpu"]
        assert isinstance(err, NotReadyError) and "reset" in str(err)
        assert err.filename == f"{tree.root}/{rel}"
        assert "memory" not in r.errors
        # From the new baseline, the next interval is measured.
        tree.write(rel, usage(after))
        r = mon._sample_at(T0 + 2 * SECOND)
        assert r.cpu_percent == pytest.approx(100 * (after - reset) / per_second, rel=1e-12)


# ---- Resolving the cgroup directory ------------------------------------------------------------


def test_mount_point_escapes_are_decoded(tree_factory: TreeFactory) -> None:
    tree = tree_factory("cgroup-k8s-v2-ns")
    # mountinfo writes a space in a mount point as \040.
    shutil.move(str(tree.root / "sys/fs/cgroup"), str(tree.root / "sys/fs/my cgroup"))
    mountinfo = tree.read("proc/self/mountinfo").replace(
        " /sys/fs/cgroup ", " /sys/fs/my\\040cgroup "
    )
    tree.write("proc/self/mountinfo", mountinfo)
    with open_cgroup(tree) as mon:
        assert mon.cgroup_dir == f"{tree.root}/sys/fs/my cgroup"
        assert mon.environment.cpu_limit_cores == 2.0
        r = mon._sample_at(T0 + 2 * SECOND)
        assert r.memory_percent == pytest.approx(100 * (201326592 - 67108864) / 536870912)


def test_cgroup_path_with_a_colon(tree_factory: TreeFactory) -> None:
    tree = tree_factory("cgroup-nested-v2")
    # proc/self/cgroup is split on its first two colons only.
    shutil.move(str(tree.root / POD), str(tree.root / KUBEPODS / "pod:1"))
    tree.write("proc/self/cgroup", "0::/kubepods.slice/pod:1/ctr1\n")
    with open_cgroup(tree) as mon:
        env = mon.environment
        assert env.cgroup_path == "/kubepods.slice/pod:1/ctr1"
        assert (env.cpu_limit_cores, env.memory_limit_bytes) == (0.5, 268435456)


def test_v1_cgroup_below_the_mount_root(tree_factory: TreeFactory) -> None:
    tree = tree_factory("cgroup-docker-v1")
    # A child cgroup of the container's own (docker in docker): strip the mount root, keep the
    # rest, and walk up to the mount for the limit.
    cgroup = tree.read("proc/self/cgroup").replace(
        f"10:memory:/docker/{DOCKER_ID}", f"10:memory:/docker/{DOCKER_ID}/inner"
    )
    tree.write("proc/self/cgroup", cgroup)
    inner = DOCKER_MEM + "inner/"
    (tree.root / inner).mkdir()
    tree.write(inner + "memory.limit_in_bytes", "9223372036854771712\n")
    tree.write(inner + "memory.usage_in_bytes", "100663296\n")
    tree.write(inner + "memory.stat", "total_inactive_file 33554432\n")
    with open_cgroup(tree) as mon:
        assert mon.cgroup_dir == f"{tree.root}/{inner[:-1]}"
        assert mon.environment.memory_limit_bytes == 268435456
        r = mon._sample_at(T0 + 2 * SECOND)
        assert r.memory_percent == pytest.approx(100 * (100663296 - 33554432) / 268435456)


@pytest.mark.parametrize(
    ("drop", "detail"),
    [
        # v1 with cpu but no memory controller mounted
        (" /sys/fs/cgroup/memory ", "cpu, cpuacct and memory controllers"),
        (" /sys/fs/cgroup/", "no cgroup hierarchy"),
    ],
)
def test_unmeasurable_cgroup_is_not_supported(
    tree_factory: TreeFactory, drop: str, detail: str
) -> None:
    tree = tree_factory("cgroup-docker-v1")
    lines = tree.read("proc/self/mountinfo").splitlines(keepends=True)
    tree.write("proc/self/mountinfo", "".join(x for x in lines if drop not in x))
    with pytest.raises(NotSupportedError, match=detail):
        open_cgroup(tree)
    # auto falls back to the host monitor and says why.
    with create_resource_monitor(str(tree.root)) as mon:
        assert isinstance(mon, NativeResourceMonitor)
        assert detail in mon.selection_reason


# ---- Known defects (these fail until the package is fixed) -------------------------------------


def _many_devices(case: str, n: int) -> str:
    if case == "cgroup-k8s-v2-ns":
        return "".join(f"8:{i} rbytes=0 wbytes=0 rios=0 wios=0 dbytes=0 dios=0\n" for i in range(n))
    return "".join(f"8:{i} Read 0\n8:{i} Write 0\n8:{i} Total 0\n" for i in range(n))


@pytest.mark.parametrize(
    ("case", "rel"),
    [
        ("cgroup-k8s-v2-ns", K8S + "io.stat"),
        ("cgroup-docker-v1", DOCKER_BLKIO + BLKIO_FILES[0]),
    ],
)
def test_cgroup_io_file_growing_past_its_buffer_is_handled(
    tree_factory: TreeFactory, case: str, rel: str
) -> None:
    tree = tree_factory(case)
    # The devices' lines count where /proc/diskstats lists them as whole disks.
    tree.write(
        "proc/diskstats",
        " 259       0 nvme0n1 1 0 8 0 0 0 0 0 0 0 0\n   8       0 sda 1 0 8 0 0 0 0 0 0 0 0\n",
    )
    with open_cgroup(tree, min_interval=0) as mon:
        base = tree.read(rel)
        # Volumes are attached: 300 more devices, far beyond the buffer sized at open.
        tree.write(rel, base + _many_devices(case, 300))
        assert len(tree.read(rel)) > 8192
        r = mon._sample_at(T0 + SECOND)
        assert r.errors == {}
        assert r.disk == DiskIOStats(0.0, 0.0)
        # +1000 bytes read on the first device.
        tree.write(rel, _bump_first_read(case, base) + _many_devices(case, 300))
        r = mon._sample_at(T0 + 2 * SECOND)
        assert r.errors == {}
        assert r.disk == DiskIOStats(1000.0, 0.0)


def _bump_first_read(case: str, text: str) -> str:
    if case == "cgroup-k8s-v2-ns":
        return text.replace("rbytes=1048576 ", "rbytes=1049576 ")
    return text.replace("8:0 Read 1048576", "8:0 Read 1049576")


def test_sampling_never_raises_when_a_cgroup_file_grows(tree_factory: TreeFactory) -> None:
    case = "cgroup-k8s-v2-ns"
    tree = tree_factory(case)  # no proc/diskstats: the cgroup monitor never reads it
    with open_cgroup(tree, min_interval=0) as mon:
        tree.write(K8S + "io.stat", tree.read(K8S + "io.stat") + _many_devices(case, 300))
        try:
            # read_all's path: failures belong in .errors, never raised.
            r = mon._sample_at(T0 + SECOND)
        except DanubeMetricsError as exc:
            pytest.fail(f"sampling raised {type(exc).__name__}: {exc}")
        assert r.errors == {}


@pytest.mark.parametrize(
    ("rel", "text", "broken", "unaffected"),
    [
        (K8S + "cpu.max", "garbage\n", "cpu", "memory"),
        (K8S + "memory.max", "lots\n", "memory", "cpu"),
    ],
)
def test_a_bad_limit_file_breaks_only_its_own_reading(
    tree_factory: TreeFactory, rel: str, text: str, broken: str, unaffected: str
) -> None:
    tree = tree_factory("cgroup-k8s-v2-ns")
    with open_cgroup(tree) as mon:
        tree.advance()
        tree.write(rel, text)
        # Past the 5 s refresh, the malformed limit is read.
        r = mon._sample_at(T0 + 10 * SECOND)
        err = r.errors[broken]
        assert isinstance(err, ParseError) and err.filename == f"{tree.root}/{rel}"
        # Reading one metric never disturbs another (docs/semantics.md, "Rates in general").
        assert unaffected not in r.errors, str(r.errors.get(unaffected))


@pytest.mark.parametrize("rel", ["proc/self/cgroup", "proc/self/mountinfo"])
def test_an_open_without_the_cgroup_files_names_the_missing_one(
    tree_factory: TreeFactory, rel: str
) -> None:
    # The name outlives the open's own copy of the file (it once pointed into freed memory).
    tree = tree_factory("cgroup-k8s-v2-ns")
    (tree.root / rel).unlink()
    with pytest.raises(ReadingError) as info:
        open_cgroup(tree)
    assert info.value.filename == f"{tree.root}/{rel}"
    assert info.value.errno == errno.ENOENT


@pytest.mark.parametrize("case", ["cgroup-k8s-v2-ns", "cgroup-docker-v1"])
@pytest.mark.parametrize("after_ns", [0, 1_000, 9_999_999])
def test_no_rate_right_after_creation(tree_factory: TreeFactory, case: str, after_ns: int) -> None:
    # Issue 11, fault 2: the cgroup CPU once read 0.0 here. Moved counters make no difference:
    # an interval shorter than the rate floor means nothing.
    tree = tree_factory(case)
    with open_cgroup(tree) as mon:
        tree.advance()
        r = mon._sample_at(T0 + after_ns)
        for name in ("cpu", "disk", "network"):
            assert isinstance(r.errors.get(name), NotReadyError), (name, r)
        assert r.memory_percent is not None  # a level, not a rate
        assert mon._sample_at(T0 + 10_000_000).errors == {}


# ---- Reading mountinfo as the kernel writes it -------------------------------------------------

_NAMESPACE_SCRIPT = r"""
set -e
mount --make-rprivate /
umount -l /sys/fs/cgroup 2>/dev/null || true
for i in 1 2 3 4; do
    mkdir -p "$DIR/long$i"
    # A source of ~2 KiB: each such line fills more than half of seq_file's page, so the
    # kernel hands it out in a read of its own, shorter than the old end-of-file rule allowed.
    mount -t tmpfs "$(printf 'x%.0s' $(seq 1 $((1900 + 100 * i))))" "$DIR/long$i"
done
mkdir -p "$DIR/huge"
# A line of more than 4 KiB (a long source and a long mount point), as overlay mounts with
# many layers write.
mkdir -p "$DIR/huge/$(printf 'd%.0s' $(seq 1 250))/$(printf 'e%.0s' $(seq 1 250))"
mount -t tmpfs "$(printf 'y%.0s' $(seq 1 4000))" \
    "$DIR/huge/$(printf 'd%.0s' $(seq 1 250))/$(printf 'e%.0s' $(seq 1 250))"
mkdir -p /sys/fs/cgroup 2>/dev/null || true
mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo ready
exec sleep 60
"""


def _namespace_with_long_mount_lines(tmp_path: os.PathLike[str]) -> subprocess.Popen[str]:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) for a private mount namespace")
    child = subprocess.Popen(
        ["unshare", "-m", "sh", "-c", _NAMESPACE_SCRIPT],
        env={**os.environ, "DIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    if child.stdout.readline().strip() != "ready":
        child.kill()
        _, err = child.communicate()
        pytest.skip(f"cannot build the mount namespace here: {err[-300:]}")
    return child


def test_real_mountinfo_with_long_lines_is_read_to_its_end(
    tree_factory: TreeFactory, tmp_path: os.PathLike[str]
) -> None:
    # The kernel's seq_file hands mountinfo out a page at a time, each read cut short before a
    # line that does not fit the rest of the page: with lines of 2 and 4 KiB before the cgroup2
    # mount, the reads are short long before the end. The monitor reads a live mountinfo (of a
    # process in a mount namespace built for this) and must find the cgroup2 mount after them.
    tree = tree_factory("cgroup-k8s-v2-ns")
    child = _namespace_with_long_mount_lines(tmp_path)
    try:
        live = f"/proc/{child.pid}/mountinfo"
        with open(live, encoding="utf-8") as f:
            lines = f.read().splitlines()
        assert max(len(x) for x in lines) > 4096
        assert " - cgroup2 " in lines[-1]
        (tree.root / "proc/self/mountinfo").unlink()
        os.symlink(live, tree.root / "proc/self/mountinfo")
        with open_cgroup(tree) as mon:
            assert mon.cgroup_dir == f"{tree.root}/sys/fs/cgroup"
            assert mon.environment.cpu_limit_cores == 2.0
    finally:
        child.kill()
        child.wait()


def test_mountinfo_with_an_empty_source_opens(tree_factory: TreeFactory) -> None:
    # mount -t tmpfs "" /x: "- tmpfs  rw" (an empty source) before the cgroup2 mount.
    tree = tree_factory("cgroup-k8s-v2-ns")
    lines = tree.read("proc/self/mountinfo").splitlines(keepends=True)
    lines.insert(2, "1512 1510 0:316 / /x rw,relatime - tmpfs  rw,size=1024k\n")
    tree.write("proc/self/mountinfo", "".join(lines))
    with open_cgroup(tree) as mon:
        assert mon.cgroup_dir == f"{tree.root}/sys/fs/cgroup"
        assert mon.environment.cpu_limit_cores == 2.0


def test_mountinfo_line_that_is_no_cgroup_mount_does_not_hide_them(
    tree_factory: TreeFactory,
) -> None:
    tree = tree_factory("cgroup-docker-v1")
    lines = tree.read("proc/self/mountinfo").splitlines(keepends=True)
    lines.insert(1, "601 600 0:53 /proc rw - proc\n")  # cut short: not the kernel's
    tree.write("proc/self/mountinfo", "".join(lines))
    with open_cgroup(tree) as mon:
        assert mon.cgroup_dir == f"{tree.root}/{DOCKER_MEM[:-1]}"
    # One that may be a cgroup mount fails the open, naming mountinfo: skipping it could
    # measure another hierarchy.
    lines.insert(1, "609 606 0:30 /docker/x /sys/fs/cgroup/memory ro - cgroup cgroup\n")
    tree.write("proc/self/mountinfo", "".join(lines))
    with pytest.raises(ParseError) as info:
        open_cgroup(tree)
    assert info.value.filename == f"{tree.root}/proc/self/mountinfo"


def test_mountinfo_line_longer_than_a_page_before_the_cgroup_mounts(
    tree_factory: TreeFactory,
) -> None:
    # An overlay root of many layers writes a line of several KiB first.
    tree = tree_factory("cgroup-overlay-layers")
    first = tree.read("proc/self/mountinfo").splitlines()[0]
    assert len(first) > 4096 and " - overlay " in first
    expected = CASES["cgroup-docker-v1"]
    with open_cgroup(tree) as mon:
        assert mon.cgroup_dir == f"{tree.root}/{DOCKER_MEM[:-1]}"
        assert without_signals(mon.environment) == expected.environment


# ---- Paths outside the cgroup namespace --------------------------------------------------------


def _replace(tree: FixtureTree, rel: str, old: str, new: str) -> None:
    text = tree.read(rel)
    assert old in text
    tree.write(rel, text.replace(old, new))


@pytest.mark.parametrize(
    ("case", "rel", "old", "new", "named"),
    [
        # A ".." in /proc/self/cgroup would be joined as is: kubepods.slice measured.
        pytest.param(
            "cgroup-nested-v2",
            "proc/self/cgroup",
            "0::/kubepods.slice/pod1/ctr1",
            "0::/kubepods.slice/pod1/ctr1/../..",
            "proc/self/cgroup",
            id="dotdot-below-root",
        ),
        # unshare -C, the process then moved to a sibling: outside the namespace.
        pytest.param(
            "cgroup-k8s-v2-ns",
            "proc/self/cgroup",
            "0::/",
            "0::/../other",
            "proc/self/cgroup",
            id="dotdot-sibling",
        ),
        # unshare -C without a remount: the old mount's root shows as "/../.." and the cgroup
        # as "/". The mount point is the hierarchy's root: the whole machine.
        pytest.param(
            "cgroup-k8s-v2-ns",
            "proc/self/mountinfo",
            "0:30 / /sys/fs/cgroup ",
            "0:30 /../.. /sys/fs/cgroup ",
            "proc/self/mountinfo",
            id="unshared-v2",
        ),
        # v1 without a namespace, the cgroup not under the mount's root (another container's
        # hierarchy bound in): the mount point is not this cgroup.
        pytest.param(
            "cgroup-docker-v1",
            "proc/self/cgroup",
            f"10:memory:/docker/{DOCKER_ID}",
            "10:memory:/docker/other",
            "proc/self/cgroup",
            id="v1-outside-mount-root",
        ),
        pytest.param(
            "cgroup-docker-v1",
            "proc/self/cgroup",
            f"8:cpu,cpuacct:/docker/{DOCKER_ID}",
            f"8:cpu,cpuacct:/docker/{DOCKER_ID}x",
            "proc/self/cgroup",
            id="v1-cpu-prefix-not-at-a-component",
        ),
        pytest.param(
            "cgroup-docker-v1",
            "proc/self/mountinfo",
            f"0:31 /docker/{DOCKER_ID} ",
            "0:31 /.. ",
            "proc/self/mountinfo",
            id="v1-unshared-mount-root",
        ),
    ],
)
def test_a_cgroup_outside_its_mount_is_not_measured(
    tree_factory: TreeFactory, case: str, rel: str, old: str, new: str, named: str
) -> None:
    tree = tree_factory(case)
    _replace(tree, rel, old, new)
    with pytest.raises(NotSupportedError) as info:
        open_cgroup(tree)
    assert info.value.filename == f"{tree.root}/{named}"
    assert "namespace" in str(info.value) or "not under" in str(info.value)
    # auto does not take the whole machine for the container either: the host monitor, and
    # the reason says why.
    with create_resource_monitor(str(tree.root)) as mon:
        assert isinstance(mon, NativeResourceMonitor)
        assert "no cgroup to measure" in mon.selection_reason


@pytest.mark.parametrize(
    ("rel", "old", "new"),
    [
        # As a C string the path ends at the NUL: /kubepods.slice would be measured.
        ("proc/self/cgroup", "0::/kubepods.slice/pod1", "0::/kubepods.slice\0/pod1"),
        ("proc/self/mountinfo", " /sys/fs/cgroup ro", " /sys/fs\0/cgroup ro"),
        ("proc/self/mountinfo", " /sys/fs/cgroup ro", " /sys/fs\\000/cgroup ro"),
    ],
)
def test_a_nul_in_a_cgroup_path_is_an_error_naming_the_file(
    tree_factory: TreeFactory, rel: str, old: str, new: str
) -> None:
    tree = tree_factory("cgroup-nested-v2")
    _replace(tree, rel, old, new)
    with pytest.raises(ParseError) as info:
        open_cgroup(tree)
    assert info.value.filename == f"{tree.root}/{rel}"


def _deep_cgroup(tree: FixtureTree, depth: int) -> str:
    """A chain of `depth` cgroups below ctr1, each with cpu.max and memory.max."""
    rel = CTR[:-1]
    for i in range(depth):
        rel += f"/{i}"
        (tree.root / rel).mkdir()
        for name, text in (
            ("cpu.max", "max 100000\n"),
            ("memory.max", "max\n"),
            ("memory.current", "184549376\n"),
            ("memory.stat", "inactive_file 16777216\n"),
            ("cpu.stat", "usage_usec 1000000\n"),
        ):
            tree.write(f"{rel}/{name}", text)
    tree.write("proc/self/cgroup", "0::/" + rel[len("sys/fs/cgroup/") :] + "\n")
    return rel


def test_thirty_two_levels_of_limits_are_read(tree_factory: TreeFactory) -> None:
    tree = tree_factory("cgroup-nested-v2")
    # ctr1, pod1, kubepods.slice and 29 below: 32 levels with cpu.max.
    _deep_cgroup(tree, 29)
    with open_cgroup(tree) as mon:
        # pod1's 0.5 cores and 256 MiB, the topmost of the 32 levels that bind.
        assert (mon.environment.cpu_limit_cores, mon.environment.memory_limit_bytes) == (
            0.5,
            268435456,
        )


def test_more_levels_than_the_table_is_an_error_not_a_dropped_limit(
    tree_factory: TreeFactory,
) -> None:
    tree = tree_factory("cgroup-nested-v2")
    # 33 levels: pod1's limits (near the top) would be dropped silently.
    rel = _deep_cgroup(tree, 30)
    with pytest.raises(NotSupportedError, match="32 levels") as info:
        open_cgroup(tree)
    assert info.value.filename == f"{tree.root}/{rel}/cpu.max"


# ---- A malformed limit at creation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "rel", "text", "broken", "unaffected"),
    [
        ("cgroup-k8s-v2-ns", K8S + "cpu.max", "garbage\n", "cpu", "memory"),
        ("cgroup-k8s-v2-ns", K8S + "memory.max", "lots\n", "memory", "cpu"),
        ("cgroup-docker-v1", DOCKER_CPU + "cpu.cfs_quota_us", "half\n", "cpu", "memory"),
        ("cgroup-docker-v1", DOCKER_CPU + "cpu.cfs_period_us", "0\n", "cpu", "memory"),
        ("cgroup-docker-v1", DOCKER_MEM + "memory.limit_in_bytes", "1G\n", "memory", "cpu"),
    ],
)
def test_a_bad_limit_file_at_creation_breaks_only_its_own_reading(
    tree_factory: TreeFactory, case: str, rel: str, text: str, broken: str, unaffected: str
) -> None:
    tree = tree_factory(case)
    tree.write(rel, text)
    with open_cgroup(tree) as mon:
        tree.advance()
        for at in (2, 3):  # at each call, not only the first
            r = mon._sample_at(T0 + at * SECOND)
            err = r.errors[broken]
            assert isinstance(err, ParseError) and err.filename == f"{tree.root}/{rel}"
            assert unaffected not in r.errors, str(r.errors.get(unaffected))
            if at == 2:
                expected = getattr(CASES[case], unaffected)
                assert getattr(r, f"{unaffected}_percent") == pytest.approx(expected, rel=1e-12)
    # The factory keeps the cgroup monitor: the host's figures would be the node's.
    with create_resource_monitor(str(tree.root)) as mon:
        assert isinstance(mon, CgroupResourceMonitor)


def test_a_bad_limit_at_creation_keeps_the_cgroup_monitor_without_other_signs(
    tree_factory: TreeFactory,
) -> None:
    # A hybrid host shows no container sign; a limit file it cannot parse may be a limit.
    tree = tree_factory("cgroup-hybrid-host")
    tree.write("sys/fs/cgroup/memory/user.slice/memory.limit_in_bytes", "lots\n")
    with create_resource_monitor(str(tree.root)) as mon:
        assert isinstance(mon, CgroupResourceMonitor)
        assert "could not be read" in mon.selection_reason
        assert mon.environment.memory_capacity_bytes == 0  # unknown until it parses


# ---- Container disk bytes: each once, and only where the kernel counts them (issue 11) -------

HYBRID_BLKIO = "sys/fs/cgroup/blkio/"
BLKIO_THROTTLE = "blkio.throttle.io_service_bytes_recursive"


def _blkio(read: int) -> str:
    return f"8:0 Read {read}\n8:0 Write 0\n8:0 Total {read}\nTotal {read}\n"


def _sda(sectors_read: int) -> str:
    return f"   8       0 sda 1000 0 {sectors_read} 100 2000 0 16000 200 0 300 300 0 0 0 0\n"


def test_a_stacked_device_and_its_disk_count_once(tree_factory: TreeFactory) -> None:
    # Fault 6: LVM or dm-crypt on sda: io.stat lists dm-0 (253:0) and sda with the same bytes.
    tree = tree_factory("cgroup-k8s-v2-ns")
    stat = K8S + "io.stat"
    tree.write(
        stat, "253:0 rbytes=1000 wbytes=0 rios=1 wios=0\n8:0 rbytes=1000 wbytes=0 rios=1 wios=0\n"
    )
    with open_cgroup(tree) as mon:
        tree.write(
            stat,
            "253:0 rbytes=9000 wbytes=0 rios=2 wios=0\n8:0 rbytes=9000 wbytes=0 rios=2 wios=0\n",
        )
        r = mon._sample_at(T0 + 2 * SECOND)
        assert r.errors == {}
        assert r.disk == DiskIOStats((9000 - 1000) / 2, 0.0)  # not twice that
        assert "dm-0" not in mon._handle.disks() and "sda" in mon._handle.disks()


def test_v1_blkio_that_stays_still_while_the_disks_move_is_not_a_zero(
    tree_factory: TreeFactory,
) -> None:
    # Fault 1: the kernel counts blkio.throttle.* only where throttling rules exist; elsewhere
    # it stays at 0 while the disks write hundreds of MiB/s. The top of the hierarchy the
    # process sees (here the root, on a hybrid host) not moving while the disks do says so.
    tree = tree_factory("cgroup-hybrid-host")
    top, own = HYBRID_BLKIO + BLKIO_THROTTLE, HYBRID_BLKIO + "user.slice/" + BLKIO_THROTTLE
    tree.write(top, _blkio(0))
    tree.write(own, _blkio(0))
    tree.write("proc/diskstats", _sda(8000))
    with open_cgroup(tree) as mon:
        assert mon.environment.disk_note == V1_NOT_YET_SEEN
        # Under 1 MiB through the disks: not proven either way, and 0 is the figure.
        tree.write("proc/diskstats", _sda(8000 + 1000))
        r = mon._sample_at(T0 + SECOND)
        assert r.errors == {} and r.disk == DiskIOStats(0.0, 0.0)
        # 4 MiB more while blkio stays still: it does not count here, and says so.
        tree.write("proc/diskstats", _sda(8000 + 1000 + 8192))
        r = mon._sample_at(T0 + 2 * SECOND)
        err = r.errors["disk"]
        assert isinstance(err, NotSupportedError), err
        assert err.filename == f"{tree.root}/{top}" and "does not count" in str(err)
        assert "does not count" in (mon.environment.disk_note or "")
        assert "does not count" in mon.describe()
        assert r.cpu_percent is not None and r.memory_percent is not None
        # A throttle rule is set after all: blkio moves, and counts from then on.
        tree.write(top, _blkio(2_000_000))
        tree.write(own, _blkio(2_000_000))
        r = mon._sample_at(T0 + 4 * SECOND)
        assert "disk" not in r.errors, r.errors
        assert r.disk == DiskIOStats(2_000_000 / 3, 0.0)  # since the last figure, at T0 + 1 s
        assert mon.environment.disk_note is None


def test_v1_blkio_that_moves_counts_without_further_checks(tree_factory: TreeFactory) -> None:
    tree = tree_factory("cgroup-docker-v1")  # the mount root is the container's own cgroup
    with open_cgroup(tree) as mon:
        tree.advance()  # its blkio file moves
        r = mon._sample_at(T0 + 2 * SECOND)
        assert r.errors == {}
        assert mon.environment.disk_note is None
        files = mon._handle.sample_files(_binding.DISK)
        assert not any(f.endswith("/proc/diskstats") for f in files), files


@pytest.mark.parametrize("rel", [K8S + "cpuset.cpus.effective", "sys/devices/system/cpu/online"])
def test_a_malformed_cpu_list_fails_the_cpu_reading_not_its_capacity(
    tree_factory: TreeFactory, rel: str
) -> None:
    # Read as "no cpuset" (or as sysconf's CPUs) it would measure against the wrong capacity.
    tree = tree_factory("cgroup-k8s-v2-ns")
    if not (tree.root / rel).exists():
        pytest.skip(f"no {rel} in this tree")
    with open_cgroup(tree) as mon:
        tree.advance()
        tree.write(rel, "0-x\n")
        r = mon._sample_at(T0 + 10 * SECOND)  # past the limits' refresh
        err = r.errors["cpu"]
        assert isinstance(err, ParseError) and err.filename == f"{tree.root}/{rel}"
        assert "memory" not in r.errors
