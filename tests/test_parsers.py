"""The C parsers and rate arithmetic, through the test wrappers in tests/internals.py.

Three kinds of test: fuzzing (any bytes give a value or ParseError, and never a read outside
the buffer: see guarded.py), round trips (files generated from numbers parse back to exactly
those numbers), and explicit malformed inputs. RateState is checked on worked examples and
against a small model over random call sequences.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any, Callable, Optional, Union

import pytest
from conftest import run_python
from guarded import PAGE, Side, damaged, guarded_as_c, guarded_outcome
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from internals import (
    CpuTimes,
    DiskstatsLine,
    MemInfo,
    NetdevLine,
    RateState,
    diskstats_totals,
    lib,
    netdev_totals,
    parse_diskstats_line,
    parse_meminfo,
    parse_netdev_line,
    parse_proc_stat,
)

from danube_metrics.errors import NotReadyError, ParseError

FIXTURES = Path(__file__).parent / "fixtures"
U64_MAX = 2**64 - 1
RATE_FLOOR_NS: int = lib.DM_RATE_FLOOR_NS

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUND_TRIP = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---- Strategies -------------------------------------------------------------------------------

U64 = st.integers(0, U64_MAX)
BLANKS = st.text(alphabet=" \t", min_size=1, max_size=3)
OPT_BLANKS = st.text(alphabet=" \t", max_size=3)


def _join(draw: st.DrawFn, tokens: list[str]) -> str:
    """Tokens separated by random runs of blanks, as the kernel's column padding does."""
    return "".join((draw(BLANKS) if i else "") + t for i, t in enumerate(tokens))


@st.composite
def proc_stat_files(draw: st.DrawFn) -> tuple[bytes, CpuTimes]:
    # Small enough that the six-field busy sum cannot overflow u64.
    fields = draw(st.lists(st.integers(0, 2**60), min_size=4, max_size=10))
    first = "cpu" + draw(BLANKS) + _join(draw, [str(v) for v in fields]) + draw(OPT_BLANKS)
    lines = [first]
    for cpu in range(draw(st.integers(0, 4))):
        per_cpu = draw(st.lists(U64, min_size=4, max_size=10))
        lines.append(f"cpu{cpu} " + " ".join(map(str, per_cpu)))
    for key in draw(st.lists(st.sampled_from(["intr", "ctxt", "btime", "softirq"]))):
        lines.append(key + " " + " ".join(map(str, draw(st.lists(U64, min_size=1)))))
    v = fields + [0] * (10 - len(fields))
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]  # guest (v[8], v[9]) is inside user/nice
    expected = CpuTimes._make([*v, len(fields), busy, v[3] + v[4]])
    return ("\n".join(lines) + "\n").encode(), expected


# Keys not read, several sharing a prefix or suffix with the ones read.
# fmt: off
MEM_OTHERS = (
    "SwapCached", "SwapTotal", "SwapFree", "Active(file)", "Inactive(anon)", "Slab",
    "SUnreclaim", "ShmemHugePages", "ShmemPmdMapped", "Dirty", "Hugepagesize", "DirectMap4k",
    "MemTotalX", "Cached2",
)
# fmt: on


def _percent(total: int, available: int) -> float:
    # The C arithmetic: both operands rounded to double first, then clamped to 0..100.
    return min(100.0, max(0.0, float(total - available) / float(total) * 100.0))


@st.composite
def meminfo_files(draw: st.DrawFn) -> tuple[bytes, MemInfo]:
    kb = st.integers(0, 2**50)  # x1024 and summed four times, still far below 2**64
    values: dict[str, int] = {"MemTotal": draw(st.integers(1, 2**50))}
    has_available = draw(st.booleans())
    if has_available:
        values["MemAvailable"] = draw(kb)  # may exceed MemTotal: clamped
    else:
        values["MemFree"], values["Cached"] = draw(kb), draw(kb)
    for key in ("MemFree", "Buffers", "Cached", "SReclaimable", "Shmem"):
        if key not in values and draw(st.booleans()):
            values[key] = draw(st.integers(0, 2**52) if key == "Shmem" else kb)
    lines = [f"{k}:{' ' * draw(st.integers(0, 12))}{v} kB" for k, v in values.items()]
    for key in draw(st.lists(st.sampled_from(MEM_OTHERS), unique=True)):
        unit = draw(st.sampled_from([" kB", ""]))
        lines.append(f"{key}:{' ' * draw(st.integers(0, 12))}{draw(U64 if not unit else kb)}{unit}")
    lines.append("HugePages_Total:       0")
    lines = draw(st.permutations(lines))

    total = values["MemTotal"] * 1024
    if has_available:
        available = values["MemAvailable"] * 1024
    else:
        g = values.get
        avail_kb = g("MemFree", 0) + g("Buffers", 0) + g("Cached", 0) + g("SReclaimable", 0)
        available = max(0, avail_kb - g("Shmem", 0)) * 1024
    available = min(available, total)
    expected = MemInfo(total, available, has_available, _percent(total, available))
    return ("\n".join(lines) + "\n").encode(), expected


# Token positions of (name, sectors read, sectors written) for each diskstats line length.
DISK_LAYOUT = {7: (2, 4, 6), 14: (2, 5, 9), 15: (3, 6, 10), 18: (2, 5, 9), 20: (2, 5, 9)}
DISK_NAMES = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=31
).filter(lambda n: n not in (".", ".."))  # path components, not names: malformed


def _disk_line(
    draw: st.DrawFn, n: int, major: int, minor: int, name: str, read: int, written: int
) -> str:
    name_tok, read_tok, write_tok = DISK_LAYOUT[n]
    tokens = [str(v) for v in draw(st.lists(U64, min_size=n, max_size=n))]
    tokens[0], tokens[1], tokens[name_tok] = str(major), str(minor), name
    tokens[read_tok], tokens[write_tok] = str(read), str(written)
    return draw(OPT_BLANKS) + _join(draw, tokens) + draw(OPT_BLANKS)


@st.composite
def diskstats_lines(draw: st.DrawFn) -> tuple[bytes, DiskstatsLine]:
    n = draw(st.sampled_from(sorted(DISK_LAYOUT)))
    major, minor = draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 2**32 - 1))
    name, read, written = draw(DISK_NAMES), draw(U64), draw(U64)
    line = _disk_line(draw, n, major, minor, name, read, written)
    return line.encode(), DiskstatsLine(major, minor, name, read, written, n)


# Whole disks, in pairs that look alike: nvme0n10 and mmcblk10 are not partitions of nvme0n1
# and mmcblk1 (a disk name ending in a digit takes a 'p' before the partition number), and
# sdaa is not one of sda.
# fmt: off
WHOLE_DISKS = (
    "sda", "sdb", "sdz", "sdaa", "sdab", "vda", "vdb", "xvda", "xvdb", "hda",
    "nvme0n1", "nvme0n2", "nvme0n10", "nvme0n11", "nvme1n1", "mmcblk0", "mmcblk1", "mmcblk10",
)
SKIPPED_DEVICES = (
    "loop0", "loop1", "loop7", "ram0", "ram15", "zram0", "dm-0", "dm-3", "md0", "md127", "md0p1",
)
# fmt: on


def _partition(disk: str, k: int) -> str:
    return f"{disk}p{k}" if disk[-1].isdigit() else f"{disk}{k}"


@st.composite
def diskstats_files(draw: st.DrawFn) -> tuple[bytes, list[str], int, int]:
    """A diskstats file of disks, their partitions and skipped devices, in any order; and the
    whole disks (in file order) with the bytes they read and wrote."""
    sectors = st.integers(0, 2**40)
    disks = draw(st.lists(st.sampled_from(WHOLE_DISKS), unique=True, max_size=10))
    skipped = draw(st.lists(st.sampled_from(SKIPPED_DEVICES), unique=True, max_size=5))
    full = st.sampled_from([14, 15, 18, 20])
    entries: list[tuple[str, int, bool]] = []  # (name, line length, counted)
    for disk in disks:
        entries.append((disk, draw(full), True))
        for k in draw(st.lists(st.integers(1, 20), unique=True, max_size=4)):
            # 2.6 kernels give partitions 7-field lines, later ones full lines.
            entries.append((_partition(disk, k), draw(st.sampled_from([7, 14, 18, 20])), False))
    entries += [(name, draw(full), False) for name in skipped]
    entries = draw(st.permutations(entries))

    lines, names, read, written = [], [], 0, 0
    for minor, (name, n, counted) in enumerate(entries):  # unique major:minor per line
        rd, wr = draw(sectors), draw(sectors)
        lines.append(_disk_line(draw, n, draw(st.sampled_from([8, 259, 179])), minor, name, rd, wr))
        if counted:
            names.append(name)
            read += rd * 512
            written += wr * 512
    return "".join(line + "\n" for line in lines).encode(), names, read, written


NETDEV_HEADER = (
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|"
    "bytes    packets errs drop fifo colls carrier compressed\n"
)
IFACE_NAMES = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-_@", min_size=1, max_size=15
).filter(lambda n: n not in (".", ".."))


def _netdev_line(draw: st.DrawFn, name: str, rx: int, tx: int) -> str:
    counters = [str(v) for v in draw(st.lists(U64, min_size=16, max_size=16))]
    counters[0], counters[8] = str(rx), str(tx)
    # The kernel pads the name to 6 columns and counters to 8, so a long counter may touch
    # the colon ("eth0:123 ...").
    pad = " " * draw(st.integers(0, max(0, 6 - len(name))))
    return f"{pad}{name}:{draw(OPT_BLANKS)}{_join(draw, counters)}{draw(OPT_BLANKS)}"


@st.composite
def netdev_lines(draw: st.DrawFn) -> tuple[bytes, NetdevLine]:
    name = draw(IFACE_NAMES)
    if draw(st.booleans()):
        name += ":" + draw(IFACE_NAMES)  # the name ends at the last ':' (alias-style names)
    rx, tx = draw(U64), draw(U64)
    return _netdev_line(draw, name, rx, tx).encode(), NetdevLine(name, rx, tx)


# fmt: off
IFACE_POOL = (
    "lo", "eth0", "eth1", "wlan0", "enp3s0", "docker0", "veth1a2b3c", "br-12ab", "ifb0", "wg0",
    "eth0.100", "lo0", "xlo",
)
# fmt: on


@st.composite
def netdev_files(draw: st.DrawFn) -> tuple[bytes, dict[str, tuple[int, int]]]:
    names = draw(st.lists(st.sampled_from(IFACE_POOL), unique=True, max_size=10))
    counters = {n: (draw(st.integers(0, 2**56)), draw(st.integers(0, 2**56))) for n in names}
    body = "".join(_netdev_line(draw, n, *counters[n]) + "\n" for n in names)
    return (NETDEV_HEADER + body).encode(), counters


# Text-ish noise: the bytes and words the parsers look for, in any order.
# fmt: off
TEXT_TOKENS = st.sampled_from([
    "cpu", "cpu0", "cpu ", "intr", "kB", " kB", "MemTotal:", "MemAvailable:", "MemFree:",
    "Buffers:", "Cached:", "SReclaimable:", "Shmem:", "HugePages_Total:", "sda", "sda1",
    "nvme0n1", "nvme0n1p1", "mmcblk0p2", "loop0", "dm-0", "md0", "lo", "lo:", "eth0:",
    "Inter-|", " face |", "|", ":", " ", "  ", "\t", "\n", "0", "1", "512", "4294967295",
    "4294967296", "18446744073709551615", "18446744073709551616", "99999999999999999999",
])
# fmt: on
TEXTISH = st.lists(
    st.one_of(TEXT_TOKENS, st.text(alphabet="0123456789 \t\n:|abcdekBpnlo", max_size=6)),
    max_size=40,
).map(lambda parts: "".join(parts).encode())


def _fuzz_inputs(cases: st.SearchStrategy[tuple[Any, ...]]) -> st.SearchStrategy[bytes]:
    """Random bytes, text-ish noise, and well-formed files, whole or damaged."""
    files = cases.map(lambda case: case[0])
    return st.one_of(
        st.binary(max_size=300), TEXTISH, files, damaged(files, b"0123456789 \t\n:|ak\x00\xff")
    )


# ---- Fuzzing: a value or ParseError, and no read outside the buffer ---------------------------

Parser = Callable[[bytes], object]

FUZZ_TARGETS: dict[str, tuple[Parser, st.SearchStrategy[bytes]]] = {
    "proc_stat": (parse_proc_stat, _fuzz_inputs(proc_stat_files())),
    "meminfo": (parse_meminfo, _fuzz_inputs(meminfo_files())),
    "diskstats_line": (parse_diskstats_line, _fuzz_inputs(diskstats_lines())),
    "diskstats_totals": (diskstats_totals, _fuzz_inputs(diskstats_files())),
    "netdev_line": (parse_netdev_line, _fuzz_inputs(netdev_lines())),
    "netdev_totals": (netdev_totals, _fuzz_inputs(netdev_files())),
    "netdev_totals_list": (
        lambda d: netdev_totals(d, "eth0, lo,wlan0"),
        _fuzz_inputs(netdev_files()),
    ),
}


@pytest.mark.parametrize("target", sorted(FUZZ_TARGETS))
@FUZZ
@given(data=st.data())
def test_fuzz_never_reads_outside_the_buffer(target: str, data: st.DataObject) -> None:
    parse, inputs = FUZZ_TARGETS[target]
    raw = data.draw(inputs, label="input")
    after = guarded_outcome(parse, raw, "after")
    # Also against a guard before the start; the answer must not depend on where the copy
    # sits, i.e. on bytes outside it.
    before = guarded_outcome(parse, raw, "before")
    assert after == before


def _fixture_files() -> list[object]:
    parsers: dict[str, Parser] = {
        "stat": parse_proc_stat,
        "meminfo": parse_meminfo,
        "diskstats": diskstats_totals,
        "dev": netdev_totals,
    }
    return [
        pytest.param(
            str(p.relative_to(FIXTURES)), parsers[p.name], p, id=str(p.relative_to(FIXTURES))
        )
        for p in sorted(FIXTURES.rglob("*"))
        # /proc files only: sys/block/*/stat is another format (tests/test_sysfs_parsers.py)
        if p.is_file() and p.name in parsers and p.parent.name in ("proc", "net")
    ]


@pytest.mark.parametrize(("rel", "parse", "path"), _fixture_files())
def test_every_prefix_and_suffix_of_real_files(rel: str, parse: Parser, path: Path) -> None:
    # Real files cut at every byte: each cut ends somewhere a parser may overrun.
    data = path.read_bytes()
    assert guarded_outcome(parse, data, "after") is not ParseError, rel
    for i in range(len(data) + 1):
        guarded_outcome(parse, data[:i], "after")
        guarded_outcome(parse, data[i:], "before")


def _run_child(code: str) -> subprocess.CompletedProcess[str]:
    """Runs `code` in a fresh interpreter that can import guarded.py (so it may crash)."""
    # Only tests/ is added to the path: the package must come from where it is installed.
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    return run_python("-c", textwrap.dedent(code), env=env, timeout=60)


@pytest.mark.parametrize("side", ["after", "before"])
@pytest.mark.parametrize("size", [0, 1, 5, PAGE - 1, PAGE, PAGE + 3])
def test_guard_page_traps_reads_past_the_buffer(side: Side, size: int) -> None:
    # The fuzz tests are only as good as the guard: in a child process, reading inside the
    # copy must work and the first byte outside it must kill the process with SIGSEGV.
    outside = "b.address + b.length" if side == "after" else "b.address - 1"
    proc = _run_child(
        f"""
        import ctypes, sys
        from guarded import GuardedBuffer
        data = bytes(i % 251 for i in range({size}))
        b = GuardedBuffer(data, {side!r})
        assert ctypes.string_at(b.address, b.length) == data
        sys.stdout.write("inside ok\\n"); sys.stdout.flush()
        ctypes.string_at({outside}, 1)
        """
    )
    assert proc.stdout == "inside ok\n", proc.stderr
    assert proc.returncode == -11, proc.stderr  # SIGSEGV


def test_guard_page_copy_is_read_only() -> None:
    # The parsers take const char *: a write into the input is a bug too.
    proc = _run_child(
        """
        import ctypes
        from guarded import GuardedBuffer
        b = GuardedBuffer(b"cpu 1 2 3 4\\n")
        ctypes.memset(b.address, 0, 1)
        """
    )
    assert proc.returncode == -11, proc.stderr  # SIGSEGV


# ---- Round trips ------------------------------------------------------------------------------


@ROUND_TRIP
@given(case=proc_stat_files())
def test_proc_stat_round_trip(case: tuple[bytes, CpuTimes]) -> None:
    data, expected = case
    with guarded_as_c():
        assert parse_proc_stat(data) == expected


def test_proc_stat_more_than_ten_fields_keeps_the_first_ten() -> None:
    # A future kernel's extra columns are accepted, but must still be numbers.
    times = parse_proc_stat(b"cpu  1 2 3 4 5 6 7 8 9 10 11 12\ncpu0 1 2 3 4\n")
    assert times[:11] == (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10)
    assert times.busy == 1 + 2 + 3 + 6 + 7 + 8
    with pytest.raises(ParseError):
        parse_proc_stat(b"cpu  1 2 3 4 5 6 7 8 9 10 11 x\n")


@ROUND_TRIP
@given(case=meminfo_files())
def test_meminfo_round_trip(case: tuple[bytes, MemInfo]) -> None:
    data, expected = case
    with guarded_as_c():
        assert parse_meminfo(data) == expected


def test_meminfo_worked_examples() -> None:
    new = b"MemTotal:  1000 kB\nMemFree:  100 kB\nMemAvailable:  250 kB\nCached:  500 kB\n"
    assert parse_meminfo(new) == MemInfo(1024000, 256000, True, 75.0)
    # Before 3.14: free 100 + buffers 50 + cached 400 + sreclaimable 20 - shmem 70 = 500 kB.
    old = (
        b"MemTotal:  1000 kB\nMemFree:  100 kB\nBuffers:  50 kB\nCached:  400 kB\n"
        b"SwapCached:  999 kB\nShmem:  70 kB\nSReclaimable:  20 kB\nHugePages_Total:       0\n"
    )
    assert parse_meminfo(old) == MemInfo(1024000, 512000, False, 50.0)
    # Shmem larger than the rest floors at 0; MemAvailable above MemTotal clamps to it.
    floor = b"MemTotal: 1000 kB\nMemFree: 10 kB\nCached: 10 kB\nShmem: 50 kB\n"
    assert parse_meminfo(floor) == MemInfo(1024000, 0, False, 100.0)
    clamp = b"MemTotal: 1000 kB\nMemAvailable: 2000 kB\n"
    assert parse_meminfo(clamp) == MemInfo(1024000, 1024000, True, 0.0)


@ROUND_TRIP
@given(case=diskstats_lines())
def test_diskstats_line_round_trip(case: tuple[bytes, DiskstatsLine]) -> None:
    data, expected = case
    with guarded_as_c():
        assert parse_diskstats_line(data) == expected


@ROUND_TRIP
@given(
    n=st.integers(0, 30).filter(lambda n: n not in DISK_LAYOUT),
    values=st.lists(st.integers(0, 2**32 - 1), min_size=30, max_size=30),
)
@example(n=19, values=[0] * 30)  # between the 18- and 20-field formats
@example(n=21, values=[0] * 30)  # past the newest format
def test_diskstats_line_other_token_counts_are_malformed(n: int, values: list[int]) -> None:
    tokens = [str(v) for v in values[:n]]
    if n > 2:
        tokens[2] = "sda"
    with pytest.raises(ParseError):
        parse_diskstats_line(" ".join(tokens).encode())


def test_diskstats_line_limits() -> None:
    fields = " 1 2 3 4 5 6 7 8 9 10 11"
    assert parse_diskstats_line(f"4294967295 4294967295 sda{fields}".encode()).major == 2**32 - 1
    bad_lines = (
        f"4294967296 0 sda{fields}",
        f"8 4294967296 sda{fields}",
        "8 0 sda 1 2x 3 4 5 6 7 8 9 10 11",
    )
    for bad in bad_lines:
        with pytest.raises(ParseError):
            parse_diskstats_line(bad.encode())
    # Names are copied into 32-byte slots: 31 characters fit, 32 do not.
    assert parse_diskstats_line(f"8 0 {'a' * 31}{fields}".encode()).name == "a" * 31
    with pytest.raises(ParseError):
        parse_diskstats_line(f"8 0 {'a' * 32}{fields}".encode())


@ROUND_TRIP
@given(case=diskstats_files())
def test_diskstats_totals_round_trip(case: tuple[bytes, list[str], int, int]) -> None:
    data, names, read, written = case
    with guarded_as_c():
        assert diskstats_totals(data) == (names, read, written)


def test_diskstats_totals_partitions_and_look_alikes() -> None:
    data = (
        b"259 0 nvme0n1 1 0 10 0 1 0 20 0 0 0 0\n"
        b"259 1 nvme0n1p1 1 0 1000 0 1 0 1000 0 0 0 0\n"
        b"259 2 nvme0n10 1 0 30 0 1 0 40 0 0 0 0\n"  # a disk of its own, not partition 0
        b"8 1 sda1 1 1000 1 1000\n"  # a partition listed before its disk
        b"8 0 sda 1 0 5 0 1 0 6 0 0 0 0\n"
        b"8 16 sdb 1 100 1 100\n"  # 7-field lines are never whole disks
        b"179 0 mmcblk0 1 0 7 0 1 0 8 0 0 0 0\n"
        b"179 2 mmcblk0p2 1 0 1000 0 1 0 1000 0 0 0 0\n"
        b"7 0 loop0 1 0 1000 0 1 0 1000 0 0 0 0\n"
        b"1 0 ram0 1 0 1000 0 1 0 1000 0 0 0 0\n"
        b"252 0 zram0 1 0 1000 0 1 0 1000 0 0 0 0\n"
        b"253 0 dm-0 1 0 1000 0 1 0 1000 0 0 0 0\n"
        b"9 0 md127 1 0 1000 0 1 0 1000 0 0 0 0\n"
    )
    assert diskstats_totals(data) == (
        ["nvme0n1", "nvme0n10", "sda", "mmcblk0"],
        (10 + 30 + 5 + 7) * 512,
        (20 + 40 + 6 + 8) * 512,
    )


def test_diskstats_totals_kernel_2_4_partitions_format() -> None:
    # major minor #blocks name rio rmerge rsect ruse wio wmerge wsect wuse running use aveq
    data = b"3 0 1000 hda 1 2 30 4 5 6 70 8 9 10 11\n3 1 500 hda1 1 2 3 4 5 6 7 8 9 10 11\n"
    assert diskstats_totals(data) == (["hda"], 30 * 512, 70 * 512)


@ROUND_TRIP
@given(case=netdev_lines())
def test_netdev_line_round_trip(case: tuple[bytes, NetdevLine]) -> None:
    data, expected = case
    with guarded_as_c():
        assert parse_netdev_line(data) == expected


def test_netdev_header_lines_are_none() -> None:
    for line in NETDEV_HEADER.splitlines():
        assert parse_netdev_line(line.encode()) is None
    touching = b"  eth0:123 2 3 4 5 6 7 8 456 10 11 12 13 14 15 16"
    assert parse_netdev_line(touching) == NetdevLine("eth0", 123, 456)


@ROUND_TRIP
@given(case=netdev_files(), data=st.data())
def test_netdev_totals_round_trip(
    case: tuple[bytes, dict[str, tuple[int, int]]], data: st.DataObject
) -> None:
    text, counters = case
    with guarded_as_c():
        everything = netdev_totals(text)
    assert everything == (
        sum(rx for n, (rx, _) in counters.items() if n != "lo"),
        sum(tx for n, (_, tx) in counters.items() if n != "lo"),
    )
    # A chosen list, possibly naming interfaces the file does not have.
    chosen = data.draw(st.lists(st.sampled_from([*IFACE_POOL, "nope0"]), min_size=1, unique=True))
    listed = data.draw(st.sampled_from([",", ", ", " "])).join(chosen)
    with guarded_as_c():
        only = netdev_totals(text, listed)
    assert only == (
        sum(counters[n][0] for n in chosen if n in counters),
        sum(counters[n][1] for n in chosen if n in counters),
    )


def test_netdev_totals_worked_example() -> None:
    text = NETDEV_HEADER + (
        "    lo:  5000 1 0 0 0 0 0 0  5000 1 0 0 0 0 0 0\n"
        "  eth0:  3000 1 0 0 0 0 0 0  1000 1 0 0 0 0 0 0\n"
        "  eth1:123456789 1 0 0 0 0 0 0 7 1 0 0 0 0 0 0\n"
        " wlan0:    10 1 0 0 0 0 0 0     2 1 0 0 0 0 0 0\n"
    )
    assert netdev_totals(text.encode()) == (3000 + 123456789 + 10, 1000 + 7 + 2)
    assert netdev_totals(text.encode(), "eth0,eth1") == (3000 + 123456789, 1000 + 7)
    assert netdev_totals(NETDEV_HEADER.encode()) == (0, 0)


# ---- Malformed input --------------------------------------------------------------------------

ONE_FIELD = " 1 2 3 4 5 6 7 8 9 10 11"
MALFORMED: list[tuple[str, Parser, bytes]] = [
    ("proc_stat empty", parse_proc_stat, b""),
    ("proc_stat cut mid-line", parse_proc_stat, b"cpu  1 2 3 4 5"),
    ("proc_stat cut in a number", parse_proc_stat, b"cpu  10 20 30 4"),
    ("proc_stat three fields", parse_proc_stat, b"cpu  1 2 3\n"),
    ("proc_stat not cpu first", parse_proc_stat, b"intr 1 2 3 4\ncpu  1 2 3 4\n"),
    ("proc_stat cpu0 first", parse_proc_stat, b"cpu0 1 2 3 4\n"),
    ("proc_stat letter in number", parse_proc_stat, b"cpu  1 2 3x 4\n"),
    ("proc_stat overflow", parse_proc_stat, b"cpu  18446744073709551616 2 3 4\n"),
    ("meminfo empty", parse_meminfo, b""),
    ("meminfo no MemTotal", parse_meminfo, b"MemFree: 10 kB\nMemAvailable: 10 kB\n"),
    ("meminfo MemTotal 0", parse_meminfo, b"MemTotal: 0 kB\nMemAvailable: 0 kB\n"),
    ("meminfo cut last line", parse_meminfo, b"MemTotal: 100 kB\nMemAvailable: 50 kB"),
    ("meminfo bad unit", parse_meminfo, b"MemTotal: 100 MB\nMemAvailable: 50 kB\n"),
    ("meminfo no number", parse_meminfo, b"MemTotal: kB\nMemAvailable: 50 kB\n"),
    (
        "meminfo overflow",
        parse_meminfo,
        b"MemTotal: 18446744073709551616 kB\nMemAvailable: 50 kB\n",
    ),
    (
        "meminfo kB overflow",  # fits u64, but not once multiplied by 1024
        parse_meminfo,
        b"MemTotal: 18014398509481984 kB\nMemAvailable: 50 kB\n",
    ),
    # Without MemAvailable the fallback needs at least MemFree and Cached.
    ("meminfo no fallback", parse_meminfo, b"MemTotal: 100 kB\nBuffers: 50 kB\n"),
    ("diskstats_line empty", parse_diskstats_line, b""),
    ("diskstats_line 9 fields", parse_diskstats_line, b"8 0 sda 1 2 3 4 5 6"),
    ("diskstats_line overflow", parse_diskstats_line, b"8 0 sda 18446744073709551616" + b" 1" * 10),
    ("diskstats_line major not a number", parse_diskstats_line, b"sd 0 sda" + ONE_FIELD.encode()),
    ("diskstats_totals 9 fields", diskstats_totals, b"8 0 sda 1 2 3 4 5 6\n"),
    ("diskstats_totals cut", diskstats_totals, b"8 0 sda" + ONE_FIELD.encode()),
    ("diskstats_totals blank line", diskstats_totals, b"8 0 sda" + ONE_FIELD.encode() + b"\n \n"),
    ("netdev_line empty", parse_netdev_line, b""),
    ("netdev_line no colon", parse_netdev_line, b"  eth0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16"),
    ("netdev_line no name", parse_netdev_line, b"   :1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16"),
    ("netdev_line 8 numbers", parse_netdev_line, b"eth0: 1 2 3 4 5 6 7 8"),
    (
        "netdev_line overflow",
        parse_netdev_line,
        b"eth0: 18446744073709551616 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16",
    ),
    ("netdev_totals empty", netdev_totals, b""),
    ("netdev_totals one header line", netdev_totals, NETDEV_HEADER.encode().split(b"\n")[0]),
    (
        "netdev_totals no colon",
        netdev_totals,
        NETDEV_HEADER.encode() + b"  eth0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
    ),
    (
        "netdev_totals cut",
        netdev_totals,
        NETDEV_HEADER.encode() + b"  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16",
    ),
    (
        "netdev_totals third header",
        netdev_totals,
        NETDEV_HEADER.encode() + NETDEV_HEADER.encode().split(b"\n")[0] + b"\n",
    ),
]


@pytest.mark.parametrize(("parse", "data"), [pytest.param(*m[1:], id=m[0]) for m in MALFORMED])
def test_malformed_input_raises_parse_error(parse: Parser, data: bytes) -> None:
    with guarded_as_c(), pytest.raises(ParseError):
        parse(data)


def test_u64_limits() -> None:
    # The largest u64 parses; one more is the overflow case above.
    assert parse_proc_stat(b"cpu  18446744073709551615 0 0 0\n").user == U64_MAX
    assert parse_netdev_line(b"e:18446744073709551615 0 0 0 0 0 0 0 1") == NetdevLine(
        "e", U64_MAX, 1
    )
    # More than 19 digits: checked digit by digit, so leading zeros are only zeros.
    assert parse_proc_stat(b"cpu  000000000000000000000007 0 0 0\n").user == 7
    assert parse_proc_stat(b"cpu  0 0 0 00018446744073709551615\n").idle == U64_MAX
    with pytest.raises(ParseError):
        parse_proc_stat(b"cpu  0 0 0 99999999999999999999\n")


def test_empty_diskstats_is_no_disks() -> None:
    # Unlike net/dev (which always has its header), diskstats has no header: an empty file is
    # a host without block devices, not a malformed file.
    assert diskstats_totals(b"") == ([], 0, 0)


# ---- Rates ------------------------------------------------------------------------------------

MS = 1_000_000
T0 = 10**12


def test_per_second_baseline_then_exact_rates() -> None:
    rate = RateState(100 * MS)
    with pytest.raises(NotReadyError):
        rate.per_second(5000, 7000, T0)  # the baseline
    assert rate.per_second(6000, 7500, T0 + 500 * MS) == (2000.0, 1000.0)
    assert rate.per_second(6000, 9500, T0 + 1500 * MS) == (0.0, 2000.0)


@settings(max_examples=200, deadline=None)
@given(
    start=st.tuples(U64, U64),
    delta=st.tuples(U64, U64),
    min_interval=st.integers(0, 10**10),
    extra=st.integers(0, 10**12),
)
def test_per_second_is_delta_over_seconds(
    start: tuple[int, int], delta: tuple[int, int], min_interval: int, extra: int
) -> None:
    a, b = min(start[0], U64_MAX - delta[0]), min(start[1], U64_MAX - delta[1])
    dt = max(RATE_FLOOR_NS, min_interval + extra)
    rate = RateState(min_interval)
    with pytest.raises(NotReadyError):
        rate.per_second(a, b, T0)
    got = rate.per_second(a + delta[0], b + delta[1], T0 + dt)
    assert got == (float(delta[0]) * 1e9 / float(dt), float(delta[1]) * 1e9 / float(dt))


@settings(max_examples=200, deadline=None)
@given(
    delta=st.tuples(U64, U64),
    min_interval=st.integers(0, 10**10),
    dt=st.integers(-(2**63), RATE_FLOOR_NS - 1),
    busy=st.booleans(),
)
def test_no_first_rate_from_an_interval_too_short_to_mean_anything(
    delta: tuple[int, int], min_interval: int, dt: int, busy: bool
) -> None:
    # Right after the baseline (a monitor just created), at any minimum interval: not ready,
    # never 0.0 or a spike from microseconds (issue 11, fault 2), whatever the counters did.
    rate = RateState(min_interval)
    with pytest.raises(NotReadyError):
        rate.per_second(0, 0, 2**62)
    with pytest.raises(NotReadyError):
        if busy:
            rate.busy_percent(delta[0], delta[1], 2**62 + dt)
        else:
            rate.per_second(delta[0], delta[1], 2**62 + dt)


def test_per_second_counter_reset() -> None:
    rate = RateState(100 * MS)
    with pytest.raises(NotReadyError):
        rate.per_second(1000, 1000, T0)
    # Down with no value yet: no rate, and the reset point becomes the baseline.
    with pytest.raises(NotReadyError):
        rate.per_second(10, 1000, T0 + 200 * MS)
    assert rate.per_second(210, 1100, T0 + 400 * MS) == (1000.0, 500.0)
    # Down again with a value: the last value, and a new baseline at the reset.
    assert rate.per_second(0, 1100, T0 + 600 * MS) == (1000.0, 500.0)
    assert rate.per_second(50, 1200, T0 + 700 * MS) == (500.0, 1000.0)


def test_per_second_min_interval() -> None:
    rate = RateState(1000 * MS)
    with pytest.raises(NotReadyError):
        rate.per_second(0, 0, T0)
    # Before min_interval with no value: provisional, over the time since the baseline, which
    # stays where it is.
    assert rate.per_second(1000, 0, T0 + 500 * MS) == (2000.0, 0.0)
    assert rate.per_second(1200, 0, T0 + 800 * MS) == (1500.0, 0.0)
    # At min_interval: a real value, and the baseline moves here.
    assert rate.per_second(3000, 10, T0 + 1000 * MS) == (3000.0, 10.0)
    # Closer than min_interval to that: the last value, whatever the counters did.
    assert rate.per_second(9000, 99, T0 + 1500 * MS) == (3000.0, 10.0)
    assert rate.per_second(9000, 99, T0 + 1000 * MS) == (3000.0, 10.0)
    # A full interval after the baseline (not after the call above): the new rate.
    assert rate.per_second(9000, 110, T0 + 2000 * MS) == (6000.0, 100.0)


def test_per_second_no_time_passed() -> None:
    rate = RateState(0)
    with pytest.raises(NotReadyError):
        rate.per_second(0, 0, T0)
    with pytest.raises(NotReadyError):
        rate.per_second(100, 100, T0)  # dt == 0, no last value
    with pytest.raises(NotReadyError):
        rate.per_second(100, 100, T0 - 1)  # time going backwards
    assert rate.per_second(100, 300, T0 + 100 * MS) == (1000.0, 3000.0)
    assert rate.per_second(200, 400, T0 + 100 * MS) == (1000.0, 3000.0)  # dt == 0: last value


def test_busy_percent_exact_and_not_ready() -> None:
    rate = RateState(100 * MS)
    with pytest.raises(NotReadyError):
        rate.busy_percent(1000, 5000, T0)
    # No tick accounted and no value yet: not ready (the baseline stays).
    with pytest.raises(NotReadyError):
        rate.busy_percent(1000, 5000, T0 + 200 * MS)
    assert rate.busy_percent(1030, 5070, T0 + 400 * MS) == 30.0
    assert rate.busy_percent(1130, 5070, T0 + 600 * MS) == 100.0
    assert rate.busy_percent(1130, 5170, T0 + 800 * MS) == 0.0
    assert rate.busy_percent(1130, 5170, T0 + 1000 * MS) == 0.0  # no ticks: the last value
    assert rate.busy_percent(1131, 5172, T0 + 1200 * MS) == 1.0 / (1.0 + 2.0) * 100.0


class RateModel:
    """The rate rules of dm_rate.c, written out in Python to replay random call sequences."""

    def __init__(self, min_interval: int, busy: bool) -> None:
        self.min, self.busy = min_interval, busy
        self.prev: Optional[tuple[int, int]] = None
        self.prev_ns = 0
        self.last: Optional[tuple[float, float]] = None

    def step(self, a: int, b: int, now: int) -> Optional[tuple[float, float]]:
        if self.prev is None or a < self.prev[0] or b < self.prev[1]:
            # Baseline, or reset: start again here; the last value if there is one.
            first = self.prev is None
            self.prev, self.prev_ns = (a, b), now
            return None if first else self.last
        dt = now - self.prev_ns
        if (dt < self.min or dt < RATE_FLOOR_NS) and self.last is not None:
            return self.last
        if dt < RATE_FLOOR_NS:
            return None  # no rate over less than the floor, nor over no time
        d0, d1 = a - self.prev[0], b - self.prev[1]
        if self.busy:
            if d0 + d1 == 0:
                return self.last
            if dt < self.min and d0 + d1 < 20:
                return None  # a first value before the minimum interval needs 20 ticks
            v = (min(100.0, float(d0) / (float(d0) + float(d1)) * 100.0), 0.0)
        else:
            v = (float(d0) * 1e9 / float(dt), float(d1) * 1e9 / float(dt))
        if dt >= self.min:
            self.last, self.prev, self.prev_ns = v, (a, b), now
        return v


@settings(max_examples=200, deadline=None)
@given(
    busy=st.booleans(),
    min_interval=st.sampled_from([0, 1, 100 * MS, 1000 * MS]),
    # (counter a step, counter b step, time step): steps may go down, or not move at all.
    steps=st.lists(
        st.tuples(
            st.integers(-(2**20), 2**40),
            st.integers(-(2**20), 2**40),
            st.integers(-10 * MS, 3000 * MS),
        ),
        min_size=1,
        max_size=25,
    ),
)
def test_rates_follow_the_model(
    busy: bool, min_interval: int, steps: list[tuple[int, int, int]]
) -> None:
    rate, model = RateState(min_interval), RateModel(min_interval, busy)
    a, b, now = 2**21, 2**21, T0  # counters stay well below 2**62: no u64 wrap in d0 + d1
    for da, db, dt in steps:
        a, b, now = max(0, a + da), max(0, b + db), now + dt
        want = model.step(a, b, now)
        got: Union[tuple[float, float], type[NotReadyError]]
        try:
            got = (rate.busy_percent(a, b, now), 0.0) if busy else rate.per_second(a, b, now)
        except NotReadyError:
            got = NotReadyError
        assert got == (NotReadyError if want is None else want)
        if busy and isinstance(got, tuple):
            assert 0.0 <= got[0] <= 100.0  # clamped


# ---- Names C cannot hold: a NUL byte, a path (issue 11, fault 10) -------------------------------


@ROUND_TRIP
@given(case=diskstats_lines(), data=st.data())
def test_diskstats_name_with_a_nul_byte_is_malformed(
    case: tuple[bytes, DiskstatsLine], data: st.DataObject
) -> None:
    """A NUL in a name would make it a shorter name in C: another device's sysfs file."""
    line, expected = case
    at = _name_offset(line, expected)
    cut = at + data.draw(st.integers(0, len(expected.name)))
    bad = line[:cut] + b"\x00" + line[cut:]
    with guarded_as_c(), pytest.raises(ParseError):
        parse_diskstats_line(bad)


def test_diskstats_file_with_a_nul_name_is_malformed() -> None:
    good = b"8 0 sda 1 0 100 0 1 0 200 0 0 0 0\n8 16 sdb 1 0 10 0 1 0 20 0 0 0 0\n"
    assert diskstats_totals(good) == (["sda", "sdb"], 110 * 512, 220 * 512)
    with pytest.raises(ParseError):
        diskstats_totals(good.replace(b"sdb", b"sda\x00b"))
    for name in (b".", b".."):
        with pytest.raises(ParseError):
            parse_diskstats_line(b"8 0 " + name + b" 1 0 100 0 1 0 200 0 0 0 0")


@ROUND_TRIP
@given(name=IFACE_NAMES, data=st.data())
def test_netdev_name_with_a_nul_byte_or_slash_is_malformed(name: str, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(name)))
    bad_byte = data.draw(st.sampled_from(["\x00", "/"]))
    line = _netdev_line(data.draw, name[:cut] + bad_byte + name[cut:], 1, 2).encode()
    assert parse_netdev_line(_netdev_line(data.draw, name, 1, 2).encode()) == NetdevLine(name, 1, 2)
    with guarded_as_c(), pytest.raises(ParseError):
        parse_netdev_line(line)
    with pytest.raises(ParseError):
        netdev_totals((NETDEV_HEADER + line.decode() + "\n").encode())


def test_netdev_dot_names_are_malformed() -> None:
    for name in (".", ".."):
        with pytest.raises(ParseError):
            parse_netdev_line(f"{name}: 1 0 0 0 0 0 0 0 2 0 0 0 0 0 0 0".encode())


def test_diskstats_select_is_not_fooled_by_look_alike_parents() -> None:
    """The linear choice finds a partition's disk by name whatever the order, and takes a name
    that merely starts like another device for a disk of its own."""
    data = (
        b"259 1 nvme0n1p1 1 0 5 0 1 0 5 0 0 0 0\n"  # before its disk
        b"259 0 nvme0n1 1 0 100 0 1 0 200 0 0 0 0\n"
        b"8 0 sdp 1 0 1 0 1 0 2 0 0 0 0\n"  # ends in p, not a digit before it
        b"8 1 sdp1 1 0 1 0 1 0 2 0 0 0 0\n"  # partition of sdp
        b"179 0 mmcblk1 1 0 3 0 1 0 4 0 0 0 0\n"
        b"179 1 mmcblk11 1 0 3 0 1 0 4 0 0 0 0\n"  # not a partition: mmcblk1's are mmcblk1pN
        b"7 0 loop0 1 0 9 0 1 0 9 0 0 0 0\n"
        b"7 1 loop0p1 1 0 9 0 1 0 9 0 0 0 0\n"  # a partition of a skipped device
    )
    assert diskstats_totals(data) == (["nvme0n1", "sdp", "mmcblk1", "mmcblk11"], 107 * 512,
                                      210 * 512)  # fmt: skip


def _name_offset(line: bytes, expected: DiskstatsLine) -> int:
    """Where the name token starts: after the tokens before it (blank-separated)."""
    name_tok = DISK_LAYOUT[expected.nfields][0]
    pos, tok = 0, -1
    while True:
        while line[pos : pos + 1] in (b" ", b"\t"):
            pos += 1
        tok += 1
        if tok == name_tok:
            return pos
        while line[pos : pos + 1] not in (b" ", b"\t", b""):
            pos += 1
