"""A host at scale (issue 11, faults 4 and 5): 4,000 block devices of which 1,100 whole disks,
256 CPUs, 256 interfaces of which 200 physical. Every disk and interface counts, to the byte;
past a fixed limit the reading says so. Timing is proven in benchmarks/run.py, not here."""

from __future__ import annotations

from pathlib import Path

import pytest
import scale_tree
from conftest import SECOND, T0

from danube_metrics import NativeResourceMonitor, NotSupportedError


@pytest.mark.parametrize("sysfs", [True, False], ids=["sysfs", "proc-only"])
def test_every_disk_and_interface_counts_at_scale(tmp_path: Path, sysfs: bool) -> None:
    tree = scale_tree.make(tmp_path / "scale", sysfs=sysfs)
    with NativeResourceMonitor(str(tree.root), _start_ns=T0) as mon:
        assert mon.disks == tree.disks
        assert len(mon.disks) == 1100
        assert mon.interfaces == tree.physical
        files = mon._handle.sample_files(0xF)
        # The per-device files are used where they all exist, else the two /proc files.
        assert (len(files) > 1000) == sysfs
        scale_tree.write_step(tree.root, 1, sysfs)
        r = mon._sample_at(T0 + 2 * SECOND)
        assert r.errors == {}
        assert (r.disk.read_bytes_per_sec, r.disk.write_bytes_per_sec) == (
            tree.disk_delta[0] / 2, tree.disk_delta[1] / 2)  # fmt: skip
        assert (r.network.rx_bytes_per_sec, r.network.tx_bytes_per_sec) == (
            tree.net_delta[0] / 2, tree.net_delta[1] / 2)  # fmt: skip


def test_80_physical_interfaces_all_count(tmp_path: Path) -> None:
    """Past the old table of 64 (SR-IOV hosts), every physical interface counts."""
    root = tmp_path / "nics"
    lines = [
        "Inter-|   Receive                                                |  Transmit",
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets "
        "errs drop fifo colls carrier compressed",
    ]
    lines += [f"  eth{i}: {1000 * i} 1 0 0 0 0 0 0 {2000 * i} 1 0 0 0 0 0 0" for i in range(80)]
    (root / "proc/net").mkdir(parents=True)
    (root / "proc/net/dev").write_text("\n".join(lines) + "\n")
    (root / "sys/devices/virtual/net/lo").mkdir(parents=True)
    with NativeResourceMonitor(str(root), _start_ns=T0) as mon:
        assert mon.interfaces == [f"eth{i}" for i in range(80)]
        lines = lines[:2] + [
            f"  eth{i}: {1000 * i + 10} 1 0 0 0 0 0 0 {2000 * i + 20} 1 0 0 0 0 0 0"
            for i in range(80)
        ]
        (root / "proc/net/dev").write_text("\n".join(lines) + "\n")
        net = mon._sample_at(T0 + 2 * SECOND).network
        assert (net.rx_bytes_per_sec, net.tx_bytes_per_sec) == (80 * 10 / 2, 80 * 20 / 2)


def test_past_the_interface_limit_is_an_error_naming_it(tmp_path: Path) -> None:
    root = tmp_path / "many"
    lines = ["Inter-|   Receive |  Transmit", " face |bytes packets|bytes packets"]
    lines += [f"e{i}: 1 1 0 0 0 0 0 0 2 1 0 0 0 0 0 0" for i in range(1030)]
    (root / "proc/net").mkdir(parents=True)
    (root / "proc/net/dev").write_text("\n".join(lines) + "\n")
    (root / "sys/devices/virtual/net/lo").mkdir(parents=True)
    with (
        NativeResourceMonitor(str(root), _start_ns=T0) as mon,
        pytest.raises(NotSupportedError, match="DM_MAX_IFACES"),
    ):
        mon.get_network_io()
