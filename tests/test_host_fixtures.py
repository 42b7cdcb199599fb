"""The host monitor over fixture trees of several kernels: exact percentages and rates."""

from __future__ import annotations

import errno
import math
import os
import shutil
import subprocess
import sys
import textwrap
from typing import Callable

import pytest
from conftest import NEUTRAL_CWD, SECOND, T0, FixtureTree, assert_exact

from danube_metrics import (
    DiskIOStats,
    MonitorClosedError,
    NativeResourceMonitor,
    NetworkIOStats,
    NotReadyError,
    ParseError,
    ReadingError,
)

TreeFactory = Callable[[str], FixtureTree]


def open_monitor(tree: FixtureTree, **kwargs: object) -> NativeResourceMonitor:
    return NativeResourceMonitor(str(tree.root), _start_ns=T0, **kwargs)  # type: ignore[arg-type]


# Each case: (cpu %, memory %, disk read/write B/s, net rx/tx B/s, disks, interfaces), for the
# later/ snapshot taken 2 s after the baseline. The arithmetic is spelled out from the files.
CASES = {
    "linux-6.1": (
        # busy +600 user +200 system +50 softirq (guest +300 is inside user); idle +500 +100 iowait
        100 * 850 / (850 + 600),
        100 * (16384000 - 4096000) / 16384000,
        # nvme0n1 +2048 and sda +100 sectors read, nvme0n1 +4096 written; partitions, loop,
        # dm, md, zram and ram moved a lot and must not count
        DiskIOStats((2048 + 100) * 512 / 2, 4096 * 512 / 2),
        # eth0 and wlan0 only: lo, docker0, veth and ifb are virtual
        NetworkIOStats((1000000 + 24000) / 2, 500000 / 2),
        ["nvme0n1", "sda"],
        ["eth0", "wlan0"],
    ),
    "linux-4.9": (
        100 * 400 / (400 + 600),
        25.0,
        DiskIOStats((4 + 1000) * 512 / 2, 8000 * 512 / 2),
        NetworkIOStats(30000 / 2, 60000 / 2),
        ["xvda", "xvdb"],
        ["ens3"],
    ),
    "linux-2.6.18": (
        # 8 fields: busy +90 user +10 softirq; idle +80
        100 * 100 / (100 + 80),
        # no MemAvailable: free 512000 + buffers 102400 + cached 409600 available
        100 * (2048000 - 1024000) / 2048000,
        # 7-field partition lines never count
        DiskIOStats(200 * 512 / 2, 2000 * 512 / 2),
        NetworkIOStats(1000 / 2, 3000 / 2),
        ["hda"],
        ["eth0"],
    ),
    "container": (
        100 * 100 / (100 + 900),
        25.0,
        DiskIOStats(0.0, 0.0),
        # eth0 is a veth: no physical interface, so all but lo
        NetworkIOStats((5000 + 3000) / 2, 1000 / 2),
        ["sda"],
        ["*"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fixture_readings_are_exact(tree_factory: TreeFactory, case: str) -> None:
    cpu, mem, disk, net, disks, ifaces = CASES[case]
    tree = tree_factory(case)
    with open_monitor(tree) as mon:
        assert mon.disks == disks
        assert mon.interfaces == ifaces
        tree.advance()
        assert_exact(mon._sample_at(T0 + 2 * SECOND), cpu, mem, disk, net)


def test_interface_override(tree_factory: TreeFactory) -> None:
    tree = tree_factory("linux-6.1")
    with open_monitor(tree, interfaces=["lo", "docker0"]) as mon:
        assert mon.interfaces == ["lo", "docker0"]
        tree.advance()
        net = mon._sample_at(T0 + 2 * SECOND).network
        assert net == NetworkIOStats(
            (99000000 - 5000 + 9000400 - 400) / 2, (99000000 - 5000 + 9000400 - 400) / 2
        )


@pytest.mark.parametrize("bad", [[""], ["a,b"], [" eth0"], [], ["x" * 40]])
def test_bad_interface_names_are_rejected(tree_factory: TreeFactory, bad: list[str]) -> None:
    tree = tree_factory("linux-6.1")
    with pytest.raises(ValueError):
        open_monitor(tree, interfaces=bad)


def test_calls_within_min_interval_return_last_values(tree_factory: TreeFactory) -> None:
    tree = tree_factory("linux-4.9")
    with open_monitor(tree, min_interval=1.0) as mon:
        tree.advance()
        first = mon._sample_at(T0 + 2 * SECOND)
        # Counters move again, but 0.5 s is under the minimum: the last values come back.
        tree.write("proc/stat", "cpu  9000 0 9000 7600 0 0 0 0 0 0\n")
        again = mon._sample_at(T0 + 2 * SECOND + SECOND // 2)
        assert again.cpu_percent == first.cpu_percent == pytest.approx(40.0)
        # Past the minimum the new interval (from the last baseline) is measured.
        later = mon._sample_at(T0 + 3 * SECOND)
        assert later.cpu_percent == pytest.approx(100 * (6700 + 7900) / (6700 + 7900))


def test_first_reading_before_min_interval_is_measured_since_creation(
    tree_factory: TreeFactory,
) -> None:
    tree = tree_factory("linux-4.9")
    with open_monitor(tree, min_interval=10.0) as mon:
        tree.advance()
        # 2 s is under the 10 s minimum, but there is no last value: measure since creation,
        # without moving the baseline.
        assert mon._sample_at(T0 + 2 * SECOND).disk == DiskIOStats(257024.0, 2048000.0)
        assert mon._sample_at(T0 + 4 * SECOND).disk == DiskIOStats(128512.0, 1024000.0)


def test_unchanged_time_gives_no_rate_until_a_value_exists(tree_factory: TreeFactory) -> None:
    tree = tree_factory("linux-4.9")
    with open_monitor(tree, min_interval=0) as mon:
        tree.advance()
        r = mon._sample_at(T0)
        assert set(r.errors) == {"cpu", "disk", "network"}
        assert all(isinstance(e, NotReadyError) for e in r.errors.values())
        assert r.memory_percent == pytest.approx(25.0)
        good = mon._sample_at(T0 + SECOND)
        assert good.errors == {}
        # Time stands still again: the last values, never a division by zero.
        same = mon._sample_at(T0 + SECOND)
        assert same == good


def test_counter_reset_gives_no_rate_for_that_interval(tree_factory: TreeFactory) -> None:
    tree = tree_factory("linux-6.1").without_device_files()
    with open_monitor(tree, min_interval=0) as mon:
        original = tree.read("proc/diskstats")
        # sda's counters drop below the baseline (device re-added): no rate, no negative one.
        tree.write("proc/diskstats", original.replace(" 500 400 900 20 600 ", " 5 400 900 20 6 "))
        r = mon._sample_at(T0 + SECOND)
        assert isinstance(r.errors["disk"], NotReadyError)
        assert "reset" in str(r.errors["disk"])
        # From the new baseline, a real interval measures again.
        tree.write("proc/diskstats", original.replace(" 500 400 900 20 600 ", " 105 400 900 20 6 "))
        r = mon._sample_at(T0 + 2 * SECOND)
        assert r.disk == DiskIOStats(100 * 512, 0.0)
        # A second reset keeps the last value rather than reporting a bogus one.
        tree.write("proc/diskstats", original.replace(" 500 400 900 20 600 ", " 1 400 900 20 6 "))
        r = mon._sample_at(T0 + 3 * SECOND)
        assert r.disk == DiskIOStats(100 * 512, 0.0)


def test_missing_file_is_a_clear_error_and_the_monitor_recovers(
    tree_factory: TreeFactory,
) -> None:
    tree = tree_factory("linux-6.1")
    saved = tree.read("proc/diskstats")
    os.unlink(tree.root / "proc/diskstats")
    with open_monitor(tree, min_interval=0) as mon:
        with pytest.raises(ReadingError) as info:
            mon.get_disk_io()
        assert info.value.errno == errno.ENOENT
        assert info.value.filename == f"{tree.root}/proc/diskstats"
        assert "proc/diskstats" in str(info.value) and "No such file" in str(info.value)
        assert isinstance(info.value, OSError)
        # Other readings are unaffected.
        assert mon.get_memory_usage() == pytest.approx(75.0)
        # The file comes back: the first reading takes a baseline, the next one a rate.
        tree.write("proc/diskstats", saved)
        r = mon._sample_at(T0 + SECOND)
        assert isinstance(r.errors.get("disk"), NotReadyError)
        assert mon._sample_at(T0 + 2 * SECOND).disk == DiskIOStats(0.0, 0.0)
        assert mon.disks == ["nvme0n1", "sda"]


def test_nothing_readable_fails_at_open(tmp_path: object) -> None:
    with pytest.raises(ReadingError) as info:
        NativeResourceMonitor(str(tmp_path))
    assert info.value.errno == errno.ENOENT
    assert "proc/stat" in str(info.value)


@pytest.mark.parametrize(
    ("rel", "text", "resource"),
    [
        ("proc/stat", "cpu  100 2", "cpu"),  # cut mid-line
        ("proc/stat", "", "cpu"),
        ("proc/stat", "intr 1 2 3\n", "cpu"),
        ("proc/meminfo", "MemTotal:       16384000 kB\nMemAvail", "memory"),
        ("proc/meminfo", "MemFree: 1 kB\n", "memory"),
        ("proc/diskstats", "   8       0 sda 1 2 3 4 5 6 7 8 9\n", "disk"),
        ("proc/diskstats", "   8       0 sda 1 2 3 4 5 6 7 8 9 10 11", "disk"),
        ("proc/net/dev", "Inter-|\n face |\n  eth0 1 2 3\n", "network"),
    ],
)
def test_malformed_or_truncated_file_is_a_parse_error(
    tree_factory: TreeFactory, rel: str, text: str, resource: str
) -> None:
    tree = tree_factory("linux-6.1").without_device_files()
    with open_monitor(tree, min_interval=0) as mon:
        good = tree.read(rel)
        tree.write(rel, text)
        r = mon._sample_at(T0 + SECOND)
        err = r.errors[resource]
        assert isinstance(err, ParseError) and isinstance(err, ValueError)
        assert err.filename == f"{tree.root}/{rel}"
        assert rel in str(err)
        # Fixed again: the monitor is still usable.
        tree.write(rel, good)
        r = mon._sample_at(T0 + 2 * SECOND)
        assert resource not in r.errors or isinstance(r.errors[resource], NotReadyError)


def test_permission_denied_names_the_file(tree_factory: TreeFactory) -> None:
    tree = tree_factory("linux-6.1")
    os.chmod(tree.root / "proc/meminfo", 0)
    script = textwrap.dedent(
        f"""
        import time
        from danube_metrics import NativeResourceMonitor, ReadingError
        mon = NativeResourceMonitor({str(tree.root)!r})
        try:
            mon.get_memory_usage()
        except ReadingError as e:
            print(e.errno, e.filename)
            print(e)
        time.sleep(0.05)  # an interval long enough for a first rate
        print(mon.get_disk_io().read_bytes_per_sec >= 0)
        """
    )
    command = [sys.executable, "-c", script]
    if os.geteuid() == 0:
        # Root reads any file: drop the capabilities that bypass file permissions.
        if shutil.which("setpriv") is None:
            pytest.skip("running as root and util-linux's setpriv is not installed")
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    out = subprocess.run(
        command, capture_output=True, text=True, check=True, cwd=NEUTRAL_CWD
    ).stdout
    lines = out.splitlines()
    assert lines[0] == f"{errno.EACCES} {tree.root}/proc/meminfo"
    assert "Permission denied" in lines[1]
    assert lines[2] == "True"


def test_file_growing_past_its_buffer_is_handled(tree_factory: TreeFactory) -> None:
    tree = tree_factory("linux-4.9")
    with open_monitor(tree, min_interval=0) as mon:
        base = tree.read("proc/diskstats")
        # Hundreds of loop devices appear: far beyond the buffer sized at open.
        loops = "".join(f"   7 {i:7d} loop{i} 1 0 8 0 0 0 0 0 0 0 0\n" for i in range(8, 2000))
        tree.write("proc/diskstats", base + loops)
        assert len(base + loops) > 64 * 1024
        r = mon._sample_at(T0 + SECOND)
        assert r.disk == DiskIOStats(0.0, 0.0)


def test_closed_monitor_raises(tree_factory: TreeFactory) -> None:
    tree = tree_factory("linux-4.9")
    mon = open_monitor(tree)
    mon.close()
    mon.close()  # twice is fine
    for reading in (
        mon.get_cpu_usage,
        mon.get_memory_usage,
        mon.get_disk_io,
        mon.get_network_io,
        mon.sample,
        mon.read_all,
    ):
        with pytest.raises(MonitorClosedError):
            reading()
    with pytest.raises(MonitorClosedError):
        _ = mon.environment


def test_one_argument_calls_reject_a_missing_monitor() -> None:
    """The C calls the hot path makes take NULL (a closed handle passes it) without crashing."""
    from danube_metrics._native import ffi, lib

    assert lib.dm_call_sample(ffi.NULL) == lib.DM_E_INVALID
    call = ffi.new("dm_call *")
    call.metrics = lib.DM_ALL
    assert lib.dm_call_sample(call) == lib.DM_E_INVALID
    assert math.isnan(lib.dm_monitor_cpu_percent(ffi.NULL))
    assert math.isnan(lib.dm_monitor_memory_percent(ffi.NULL))


def test_describe_names_disks_and_interfaces(tree_factory: TreeFactory) -> None:
    tree = tree_factory("linux-6.1")
    with open_monitor(tree) as mon:
        text = mon.describe()
    assert "nvme0n1, sda" in text and "eth0, wlan0" in text and str(tree.root) in text


def test_per_device_sysfs_counters_are_used_where_they_agree(tree_factory: TreeFactory) -> None:
    tree = tree_factory("linux-6.1")
    with open_monitor(tree, min_interval=0) as mon:
        files = mon._handle.sample_files(4 | 8)
        assert files == [
            f"{tree.root}/sys/block/nvme0n1/stat",
            f"{tree.root}/sys/block/sda/stat",
            *(f"{tree.root}/sys/class/net/{i}/statistics/{d}_bytes"
              for i in ("eth0", "wlan0") for d in ("rx", "tx")),
        ]  # fmt: skip
        # The aggregate files are no longer read: garbage there changes nothing.
        tree.write("proc/diskstats", "garbage\n")
        tree.write("proc/net/dev", "garbage\n")
        tree.advance()
        r = mon._sample_at(T0 + 2 * SECOND)
        assert r.errors == {}
        assert r.disk == CASES["linux-6.1"][2]
        assert r.network == CASES["linux-6.1"][3]


def test_a_broken_sysfs_counter_falls_back_to_the_aggregate_file(
    tree_factory: TreeFactory,
) -> None:
    tree = tree_factory("linux-6.1")
    with open_monitor(tree, min_interval=0) as mon:
        tree.advance()
        # sysfs gives garbage: /proc/diskstats counts the same sectors, so no jump. (An open
        # descriptor of a deleted plain file still reads, so garbage stands in for ENODEV.)
        tree.write("sys/block/sda/stat", "gone\n")
        tree.write("sys/class/net/wlan0/statistics/tx_bytes", "not a number\n")
        r = mon._sample_at(T0 + 2 * SECOND)
        assert r.errors == {}
        assert r.disk == CASES["linux-6.1"][2]
        assert r.network == CASES["linux-6.1"][3]
        assert mon._handle.sample_files(4 | 8) == [
            f"{tree.root}/proc/diskstats",
            f"{tree.root}/proc/net/dev",
        ]


def test_sysfs_of_another_network_namespace_is_not_used(tree_factory: TreeFactory) -> None:
    # sysfs shows the namespace it was mounted in: counters that do not agree with this
    # process's /proc/net/dev belong to some other eth0.
    tree = tree_factory("linux-6.1")
    tree.write("sys/class/net/eth0/statistics/rx_bytes", "999999999999\n")
    with open_monitor(tree, min_interval=0) as mon:
        assert f"{tree.root}/proc/net/dev" in mon._handle.sample_files(8)
        tree.advance()
        assert mon._sample_at(T0 + 2 * SECOND).network == CASES["linux-6.1"][3]


def test_within_min_interval_nothing_is_read(tree_factory: TreeFactory) -> None:
    # The hot-loop case: a rate asked again before the minimum interval is the last value,
    # answered without reading, so even a broken file does not show until the interval ends.
    tree = tree_factory("linux-4.9")
    with open_monitor(tree, min_interval=1.0) as mon:
        tree.advance()
        first = mon._sample_at(T0 + 2 * SECOND)
        assert first.errors == {}
        for rel in ("proc/stat", "proc/meminfo", "proc/diskstats", "proc/net/dev"):
            tree.write(rel, "garbage\n")
        again = mon._sample_at(T0 + 2 * SECOND + SECOND // 2)
        assert again == first
        later = mon._sample_at(T0 + 3 * SECOND)
        assert set(later.errors) == {"cpu", "memory", "disk", "network"}
        assert all(isinstance(e, ParseError) for e in later.errors.values())


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, -1.0, -1e-9, 1e10, True, "1"])
@pytest.mark.parametrize("make", ["host", "cgroup", "factory"])
def test_min_interval_must_be_a_finite_number_of_seconds(value: object, make: str) -> None:
    # Issue 11, fault 14: nan gave a cryptic error from the C layer, huge values an overflow.
    from danube_metrics import CgroupResourceMonitor, create_resource_monitor

    with pytest.raises(ValueError, match="min_interval must be a finite number of seconds"):
        if make == "host":
            NativeResourceMonitor(min_interval=value)  # type: ignore[arg-type]
        elif make == "cgroup":
            CgroupResourceMonitor(min_interval=value)  # type: ignore[arg-type]
        else:
            create_resource_monitor(min_interval=value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    [["eth0/../lo"], ["eth0\x00"], ["eth 0"], [".."], ["."], ["x" * 16], ["eth0\t"]],
)
def test_malformed_interface_names_are_rejected(tree_factory: TreeFactory, bad: list[str]) -> None:
    """A name that is no interface name (or would lead out of /sys/class/net) fails the open."""
    tree = tree_factory("linux-6.1")
    with pytest.raises(ValueError, match="interface name"):
        open_monitor(tree, interfaces=bad)


def test_unknown_interface_is_an_error_at_open(tree_factory: TreeFactory) -> None:
    """A typo no longer reads 0 B/s forever: the open fails, naming the interface."""
    tree = tree_factory("linux-6.1")
    with pytest.raises(ValueError, match=r'"nosuch0" is not in .*/proc/net/dev'):
        open_monitor(tree, interfaces=["lo", "nosuch0"])
    with open_monitor(tree, interfaces=["lo"]) as mon:
        assert mon.interfaces == ["lo"]
