"""A generated host tree at scale (issue 11, faults 4 and 5): 4,000 block devices in
/proc/diskstats (1,100 whole disks, past the old 1,024, with 2,200 partitions, 400 loop and 300
dm devices), 256 CPUs in /proc/stat, 256 interfaces in /proc/net/dev (lo, 200 physical, 55
virtual), with or without the per-device sysfs files. Used by tests/test_scale.py (exact
figures) and benchmarks/run.py (open and sample cost against the floor)."""

from __future__ import annotations

import string
from pathlib import Path
from typing import NamedTuple


def _sd_name(i: int) -> str:
    """sda..sdz, sdaa..sdzz: the kernel's SCSI names."""
    letters = string.ascii_lowercase
    name = ""
    i += 1
    while i > 0:
        i, r = divmod(i - 1, 26)
        name = letters[r] + name
    return "sd" + name


class ScaleTree(NamedTuple):
    root: Path
    disks: list[str]
    physical: list[str]
    # Bytes read and written by the whole disks, and received and sent by the physical
    # interfaces, between the two snapshots (step 0 and step 1).
    disk_delta: tuple[int, int]
    net_delta: tuple[int, int]


N_SD, N_NVME, N_LOOP, N_DM = 600, 500, 400, 300
N_PHYS, N_VIRT, N_CPUS = 200, 55, 256


def _disk_counters(i: int, step: int) -> tuple[int, int]:
    return 1000 + i + step * (i + 1), 5000 + 2 * i + step * 3 * (i + 1)


def _net_counters(i: int, step: int) -> tuple[int, int]:
    return 10**6 + i + step * 7 * (i + 1), 2 * 10**6 + i + step * 11 * (i + 1)


def _devices() -> list[tuple[int, int, str, bool]]:
    """(major, minor, name, whole disk) for each of the 4,000 block devices."""
    out = []
    for i in range(N_SD):
        major = 1000 + i  # a major of its own per disk: the parsers take any
        out.append((major, 0, _sd_name(i), True))
        out += [(major, k, f"{_sd_name(i)}{k}", False) for k in (1, 2)]
    for i in range(N_NVME):
        out.append((259, 3 * i, f"nvme{i}n1", True))
        out += [(259, 3 * i + k, f"nvme{i}n1p{k}", False) for k in (1, 2)]
    out += [(7, i, f"loop{i}", False) for i in range(N_LOOP)]
    out += [(253, i, f"dm-{i}", False) for i in range(N_DM)]
    assert len(out) == 4000
    return out


def write_step(root: Path, step: int, sysfs: bool) -> None:
    """Writes the counters of snapshot `step` (files rewritten in place)."""
    proc = root / "proc"
    cpu = [100000 * (step + 1) + k for k in range(10)]
    lines = ["cpu  " + " ".join(str(v * N_CPUS) for v in cpu)]
    lines += [f"cpu{c} " + " ".join(str(v) for v in cpu) for c in range(N_CPUS)]
    lines += ["intr 0", "ctxt 0", "btime 0", "processes 1", "procs_running 1"]
    _write(proc / "stat", "\n".join(lines) + "\n")
    disk_lines = []
    whole = 0
    for major, minor, name, is_disk in _devices():
        idx = whole if is_disk else 3999
        rd, wr = _disk_counters(idx, step) if is_disk else (7, 9)
        whole += is_disk
        disk_lines.append(f"{major:4d} {minor:7d} {name} 10 0 {rd} 0 20 0 {wr} 0 0 0 0 0 0 0 0 0 0")
        if is_disk and sysfs:
            _write(root / "sys/block" / name / "stat",
                   f"10 0 {rd} 0 20 0 {wr} 0 0 0 0 0 0 0 0 0 0\n")  # fmt: skip
    _write(proc / "diskstats", "\n".join(disk_lines) + "\n")
    net = [
        "Inter-|   Receive                                                |  Transmit",
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets "
        "errs drop fifo colls carrier compressed",
        "    lo: 5000 1 0 0 0 0 0 0 5000 1 0 0 0 0 0 0",
    ]
    for i, name in enumerate(_interfaces()):
        rx, tx = _net_counters(i, step)
        net.append(f"{name:>6}: {rx} 1 0 0 0 0 0 0 {tx} 1 0 0 0 0 0 0")
        if sysfs and i < N_PHYS:
            stats = root / "sys/class/net" / name / "statistics"
            _write(stats / "rx_bytes", f"{rx}\n")
            _write(stats / "tx_bytes", f"{tx}\n")
    _write(proc / "net/dev", "\n".join(net) + "\n")


def _interfaces() -> list[str]:
    """The physical ones first, then the virtual ones (veth)."""
    return [f"eth{i}" for i in range(N_PHYS)] + [f"veth{i:04x}" for i in range(N_VIRT)]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="ascii") as f:  # in place: open descriptors see it
        f.write(text)


def make(root: Path, sysfs: bool = True) -> ScaleTree:
    root.mkdir(parents=True, exist_ok=True)
    _write(root / "proc/meminfo",
           "MemTotal:       16000000 kB\nMemFree:         1000000 kB\n"
           "MemAvailable:    4000000 kB\nBuffers:          100000 kB\n")  # fmt: skip
    for name in _interfaces()[N_PHYS:]:
        (root / "sys/devices/virtual/net" / name).mkdir(parents=True, exist_ok=True)
    (root / "sys/devices/virtual/net/lo").mkdir(parents=True, exist_ok=True)
    write_step(root, 0, sysfs)
    disks = [name for _, _, name, is_disk in _devices() if is_disk]
    n_disks = len(disks)
    disk_delta = (
        sum(_disk_counters(i, 1)[0] - _disk_counters(i, 0)[0] for i in range(n_disks)) * 512,
        sum(_disk_counters(i, 1)[1] - _disk_counters(i, 0)[1] for i in range(n_disks)) * 512,
    )
    net_delta = (
        sum(_net_counters(i, 1)[0] - _net_counters(i, 0)[0] for i in range(N_PHYS)),
        sum(_net_counters(i, 1)[1] - _net_counters(i, 0)[1] for i in range(N_PHYS)),
    )
    return ScaleTree(root, disks, _interfaces()[:N_PHYS], disk_delta, net_delta)
