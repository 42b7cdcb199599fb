"""Pressure stalls (PSI) and CPU throttling: the parsers (dm_pressure_parse.c) through
tests/internals.py, and get_pressure() on fixture trees with exact figures between two
snapshots (docs/semantics.md, "Pressure stalls and CPU throttling"). The live machine and a
real container are in test_live.py and test_container.py.
"""

from __future__ import annotations

import re
from typing import Optional

import pytest
from conftest import SECOND, T0, FixtureTree
from guarded import damaged, guarded_outcome
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from internals import PressureTotals, Throttling, parse_cpu_throttling, parse_pressure

from danube_metrics import (
    CgroupResourceMonitor,
    NativeResourceMonitor,
    NotReadyError,
    NotSupportedError,
    ParseError,
    Pressure,
    ReadingError,
    _binding,
)

U64_MAX = 2**64 - 1
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUND_TRIP = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---- The PSI parser ---------------------------------------------------------------------------

# As Linux 6.1 writes them (kernel/sched/psi.c, psi_show): the machine's cpu "full" line is
# zeros (undefined for the whole system); memory and io always have both lines.
REAL_CPU = b"some avg10=47.01 avg60=63.09 avg300=22.93 total=1134525163\n" + (
    b"full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
)
REAL_IO = (
    b"some avg10=0.79 avg60=0.33 avg300=0.12 total=20550179\n"
    b"full avg10=0.00 avg60=0.00 avg300=0.02 total=14926473\n"
)
OLD_CPU = b"some avg10=0.00 avg60=0.12 avg300=0.30 total=98765\n"  # before 5.13: no full line


def test_real_files_parse() -> None:
    assert parse_pressure(REAL_CPU) == PressureTotals(1134525163, 0)
    assert parse_pressure(REAL_IO) == PressureTotals(20550179, 14926473)
    assert parse_pressure(OLD_CPU) == PressureTotals(98765, None)
    top = b"some avg10=100.00 avg60=100.00 avg300=100.00 total=18446744073709551615\n"
    assert parse_pressure(top) == PressureTotals(U64_MAX, None)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "empty"),
        (b"some avg10=0.00 avg60=0.00 avg300=0.00 total=5", "newline"),
        (b"full avg10=0.00 avg60=0.00 avg300=0.00 total=5\n", "first line"),
        (b"some avg10=0.00 avg60=0.00 avg300=0.00 total=5\nsome avg10=0.00 avg60=0.00 "
         b"avg300=0.00 total=5\n", "second line"),
        (REAL_IO + b"full avg10=0.00 avg60=0.00 avg300=0.00 total=1\n", "more than"),
        (b"some avg10=0.0 avg60=0.00 avg300=0.00 total=5\n", "first line"),
        (b"some avg10=0.00 avg60=0.00 avg300=0.00 total=\n", "first line"),
        (b"some avg10=0.00 avg60=0.00 avg300=0.00 total=-5\n", "first line"),
        (b"some avg10=0.00 avg60=0.00 avg300=0.00  total=5\n", "first line"),
        (b"some avg10=0.00 avg60=0.00 avg300=0.00 total=5 \n", "first line"),
        (b"some avg60=0.00 avg10=0.00 avg300=0.00 total=5\n", "first line"),
        (b"some avg10=0.00 avg60=0.00 avg300=0.00 total=18446744073709551616\n", "first line"),
        (b"some avg10=0.00 avg60=0.00 avg300=0.00 total=5\n\n", "second line"),
        (b"some avg10=0.00 avg60=0.00 avg300=0.00 total=5\0\n", "first line"),
    ],
)  # fmt: skip
def test_malformed_files_are_refused_with_a_reason(data: bytes, why: str) -> None:
    with pytest.raises(ParseError, match=why):
        parse_pressure(data)


_FIELDS = rb" avg10=\d{1,20}\.\d\d avg60=\d{1,20}\.\d\d avg300=\d{1,20}\.\d\d total=(\d+)\n"
_MODEL = re.compile(rb"some" + _FIELDS + rb"(?:full" + _FIELDS + rb")?")


def pressure_model(data: bytes) -> object:
    """What the parser must answer, from the format alone."""
    m = _MODEL.fullmatch(data)
    if m is None:
        return ParseError
    some, full = int(m.group(1)), None if m.group(2) is None else int(m.group(2))
    if some > U64_MAX or (full is not None and full > U64_MAX):
        return ParseError
    return PressureTotals(some, full)


@st.composite
def pressure_files(draw: st.DrawFn) -> tuple[bytes, PressureTotals]:
    def line(kind: str, total: int) -> bytes:
        avgs = [f"{draw(st.integers(0, 100))}.{draw(st.integers(0, 99)):02d}" for _ in range(3)]
        return f"{kind} avg10={avgs[0]} avg60={avgs[1]} avg300={avgs[2]} total={total}\n".encode()

    some = draw(st.integers(0, U64_MAX))
    full = draw(st.one_of(st.none(), st.integers(0, U64_MAX)))
    data = line("some", some) + (b"" if full is None else line("full", full))
    return data, PressureTotals(some, full)


@ROUND_TRIP
@given(case=pressure_files())
def test_generated_files_parse_back_exactly(case: tuple[bytes, PressureTotals]) -> None:
    data, expected = case
    assert parse_pressure(data) == expected
    assert guarded_outcome(parse_pressure, data, "after") == expected


@FUZZ
@given(
    raw=st.one_of(
        st.binary(max_size=200),
        damaged(pressure_files().map(lambda c: c[0]), b"somefullavg=.0123456789 \n\0-"),
    )
)
@example(raw=REAL_IO[:-1])
@example(raw=REAL_IO + b"\n")
def test_arbitrary_bytes_give_a_value_or_a_parse_error(raw: bytes) -> None:
    after = guarded_outcome(parse_pressure, raw, "after")
    assert after == guarded_outcome(parse_pressure, raw, "before")
    assert after == pressure_model(raw)


# ---- The cpu.stat throttling parser ------------------------------------------------------------

V2_CPU_STAT = (
    b"usage_usec 8000000\nuser_usec 6000000\nsystem_usec 2000000\nnr_periods 1200\n"
    b"nr_throttled 300\nthrottled_usec 4500000\nnr_bursts 0\nburst_usec 0\n"
)
V1_CPU_STAT = b"nr_periods 1200\nnr_throttled 300\nthrottled_time 4500000000\n"


def test_cpu_stat_counters_of_both_versions() -> None:
    expected = Throttling(1200, 300, 4_500_000_000)
    assert parse_cpu_throttling(V2_CPU_STAT, 2) == expected
    assert parse_cpu_throttling(V1_CPU_STAT, 1) == expected
    hints = [0, 0, 0]
    assert parse_cpu_throttling(V2_CPU_STAT, 2, hints) == expected
    assert hints == [
        V2_CPU_STAT.index(k) for k in (b"nr_periods", b"nr_throttled", b"throttled_usec")
    ]
    assert parse_cpu_throttling(V2_CPU_STAT, 2, hints) == expected


@pytest.mark.parametrize(
    ("data", "version", "why"),
    [
        # v2 without the cpu controller enabled: usage only
        (b"usage_usec 5\nuser_usec 3\nsystem_usec 2\n", 2, "nr_periods"),
        (V1_CPU_STAT, 2, "throttled_usec"),
        (V2_CPU_STAT, 1, "throttled_time"),
        (b"nr_periods 1\nthrottled_time 5\n", 1, "nr_throttled"),
        (b"nr_periods 1\nnr_throttled 0\nthrottled_usec 18446744073709552\n", 2, "2\\^64"),
    ],
)
def test_cpu_stat_without_its_counters_is_refused(data: bytes, version: int, why: str) -> None:
    with pytest.raises(ParseError, match=why):
        parse_cpu_throttling(data, version)


# ---- get_pressure on fixture trees -------------------------------------------------------------


def psi(some: int, full: Optional[int]) -> str:
    text = f"some avg10=1.00 avg60=2.00 avg300=3.00 total={some}\n"
    if full is not None:
        text += f"full avg10=0.50 avg60=0.25 avg300=0.12 total={full}\n"
    return text


def write_psi(tree: FixtureTree, where: str, totals: dict[str, tuple[int, Optional[int]]]) -> None:
    for name, (some, full) in totals.items():
        tree.write(where.format(name), psi(some, full))


def test_every_mask_of_missing_figures_reads_back_with_its_nones() -> None:
    """dm_call_pressure returns the mask of missing figures, and the binding reads the figures
    by that mask: one unpack for a run of figures, a per-figure path for any other mask."""
    call, view = _binding._pressure_entry(_binding.ffi.NULL)
    figures = [float(i + 1) for i in range(7)]
    for i, value in enumerate(figures):
        setattr(call.out, Pressure._fields[i], value)
    for missing in range(127):  # 127, every figure missing, is NotSupportedError instead
        unpack, before, after = _binding._PRESSURE_SHAPES[missing]
        got = before + unpack(view) + after
        assert got == tuple(None if missing >> i & 1 else figures[i] for i in range(7)), missing


HOST_PSI = "proc/pressure/{}"
BEFORE = {"cpu": (1_000_000, 0), "memory": (2_000_000, 500_000), "io": (3_000_000, 1_000_000)}
# Two seconds later: cpu +0.5 s (25 %), memory some +0.2 s (10 %), full +0.05 s (2.5 %),
# io some +1 s (50 %), full +0.4 s (20 %). The cpu full line moved too: it is never a figure.
AFTER = {"cpu": (1_500_000, 999), "memory": (2_200_000, 550_000), "io": (4_000_000, 1_400_000)}


def host_tree(tree_factory, with_psi: bool = True) -> FixtureTree:  # type: ignore[no-untyped-def]
    tree = tree_factory("linux-6.1")
    if with_psi:
        (tree.root / "proc/pressure").mkdir()
        write_psi(tree, HOST_PSI, BEFORE)
    return tree


def open_host(tree: FixtureTree, **kwargs: object) -> NativeResourceMonitor:
    return NativeResourceMonitor(str(tree.root), _start_ns=T0, **kwargs)  # type: ignore[arg-type]


def open_cgroup(tree: FixtureTree, **kwargs: object) -> CgroupResourceMonitor:
    return CgroupResourceMonitor(str(tree.root), _start_ns=T0, **kwargs)  # type: ignore[arg-type]


def test_host_stall_figures_are_exact(tree_factory) -> None:  # type: ignore[no-untyped-def]
    tree = host_tree(tree_factory)
    with open_host(tree) as mon:
        write_psi(tree, HOST_PSI, AFTER)
        p = mon._pressure_at(T0 + 2 * SECOND)
        assert p[:5] == pytest.approx((25.0, 10.0, 2.5, 50.0, 20.0), rel=1e-12)
        assert p.cpu_throttled_percent is None and p.cpu_throttled_seconds_per_second is None
        env = mon.environment
        assert env.pressure_note is None
        assert "host monitor" in (env.throttling_note or "")
        # Not one of sample()'s files; read only by get_pressure.
        assert not any("pressure" in f for f in mon._handle.sample_files(_binding.ALL))
        files = mon._handle.sample_files(_binding.PRESSURE)
        assert files == [str(tree.root / HOST_PSI.format(n)) for n in ("cpu", "memory", "io")]


def test_sample_never_reads_the_pressure_files(tree_factory) -> None:  # type: ignore[no-untyped-def]
    tree = host_tree(tree_factory)
    with open_host(tree) as mon:
        tree.advance()
        tree.write(HOST_PSI.format("memory"), "garbage\n")
        assert mon._sample_at(T0 + 2 * SECOND).errors == {}
        with pytest.raises(ParseError, match="first line") as info:
            mon._pressure_at(T0 + 2 * SECOND)
        assert info.value.filename == str(tree.root / HOST_PSI.format("memory"))


def test_the_interval_rules_of_every_rate(tree_factory) -> None:  # type: ignore[no-untyped-def]
    tree = host_tree(tree_factory)
    with open_host(tree, min_interval=1.0) as mon:
        # Right after the baseline: not ready, as every rate.
        with pytest.raises(NotReadyError):
            mon._pressure_at(T0 + 5_000_000)
        write_psi(tree, HOST_PSI, AFTER)
        first = mon._pressure_at(T0 + 2 * SECOND)
        assert first.io_some_percent == pytest.approx(50.0)
        # Within the minimum interval the last figures, nothing read (the file may be broken).
        tree.write(HOST_PSI.format("io"), "broken\n")
        assert mon._pressure_at(T0 + 2 * SECOND + SECOND // 2) == first
        # A total that went down (a reset): no figure for that interval, the last one kept.
        write_psi(tree, HOST_PSI, BEFORE)
        assert mon._pressure_at(T0 + 4 * SECOND) == first
        # Then the next interval from the reset: idle is a real 0.
        assert mon._pressure_at(T0 + 6 * SECOND)[:5] == (0.0, 0.0, 0.0, 0.0, 0.0)


def test_stall_beyond_wall_time_is_clamped(tree_factory) -> None:  # type: ignore[no-untyped-def]
    tree = host_tree(tree_factory)
    with open_host(tree) as mon:
        # 2.01 s of stall in 2 s: the kernel's clock and ours read microseconds apart.
        write_psi(tree, HOST_PSI, {**AFTER, "cpu": (1_000_000 + 2_010_000, 0)})
        assert mon._pressure_at(T0 + 2 * SECOND).cpu_some_percent == 100.0


def test_a_kernel_without_psi(tree_factory) -> None:  # type: ignore[no-untyped-def]
    tree = host_tree(tree_factory, with_psi=False)
    with open_host(tree) as mon:
        assert "no /proc/pressure" in (mon.environment.pressure_note or "")
        # Nothing can be had on the host then (throttling is a cgroup's): not supported.
        with pytest.raises(NotSupportedError, match="CONFIG_PSI") as info:
            mon._pressure_at(T0 + 2 * SECOND)
        assert "throttling" in str(info.value)
        tree.advance()
        assert mon._sample_at(T0 + 2 * SECOND).errors == {}


def test_cpu_pressure_before_linux_5_13(tree_factory) -> None:  # type: ignore[no-untyped-def]
    tree = host_tree(tree_factory)
    tree.write(HOST_PSI.format("cpu"), psi(1_000_000, None))
    with open_host(tree) as mon:
        write_psi(tree, HOST_PSI, {**AFTER, "cpu": (1_400_000, None)})
        assert mon._pressure_at(T0 + 2 * SECOND).cpu_some_percent == pytest.approx(20.0)
        # memory and io always have a full line: one without it is malformed.
        write_psi(tree, HOST_PSI, {**AFTER, "memory": (2_400_000, None)})
        with pytest.raises(ParseError, match="full"):
            mon._pressure_at(T0 + 4 * SECOND)


# The nested v2 case: ctr1 has no quota (cpu.max "max"), pod1 has 50000/100000, so pod1's
# cpu.stat counts the throttling that binds ctr1.
CTR1 = "sys/fs/cgroup/kubepods.slice/pod1/ctr1"
POD1_CPU_STAT = "sys/fs/cgroup/kubepods.slice/pod1/cpu.stat"


def cpu_stat_v2(periods: int, throttled: int, throttled_usec: int) -> str:
    return (
        f"usage_usec 1000000\nuser_usec 600000\nsystem_usec 400000\nnr_periods {periods}\n"
        f"nr_throttled {throttled}\nthrottled_usec {throttled_usec}\nnr_bursts 0\nburst_usec 0\n"
    )


def test_v2_cgroup_stalls_and_throttling_are_exact(tree_factory) -> None:  # type: ignore[no-untyped-def]
    tree = tree_factory("cgroup-nested-v2")
    write_psi(tree, CTR1 + "/{}.pressure", BEFORE)
    tree.write(POD1_CPU_STAT, cpu_stat_v2(100, 10, 300_000))
    with open_cgroup(tree) as mon:
        env = mon.environment
        assert env.pressure_note is None and env.throttling_note is None
        write_psi(tree, CTR1 + "/{}.pressure", AFTER)
        # 20 periods (2 s of 100 ms), 15 throttled: 75 %; 0.9 s throttled over 2 s.
        tree.write(POD1_CPU_STAT, cpu_stat_v2(120, 25, 1_200_000))
        p = mon._pressure_at(T0 + 2 * SECOND)
        assert p == pytest.approx(Pressure(25.0, 10.0, 2.5, 50.0, 20.0, 75.0, 0.45), rel=1e-12)
        assert str(tree.root / POD1_CPU_STAT) in mon._handle.sample_files(_binding.PRESSURE)
        # An idle cgroup runs no period: nothing was throttled, a real 0.
        p = mon._pressure_at(T0 + 4 * SECOND)
        assert (p.cpu_throttled_percent, p.cpu_throttled_seconds_per_second) == (0.0, 0.0)


def test_v2_quota_moving_to_another_level_is_a_reset(tree_factory) -> None:  # type: ignore[no-untyped-def]
    tree = tree_factory("cgroup-nested-v2")
    write_psi(tree, CTR1 + "/{}.pressure", BEFORE)
    tree.write(POD1_CPU_STAT, cpu_stat_v2(100, 10, 300_000))
    with open_cgroup(tree) as mon:
        tree.write(POD1_CPU_STAT, cpu_stat_v2(120, 20, 600_000))
        first = mon._pressure_at(T0 + 2 * SECOND)
        assert first.cpu_throttled_percent == pytest.approx(50.0)
        # docker update on ctr1: its own quota is now the tightest (0.25 cores), and its
        # cpu.stat counts from elsewhere. The limits are re-read after 5 s: that interval
        # gives the last figures, the next one ctr1's.
        tree.write(CTR1 + "/cpu.max", "25000 100000\n")
        tree.write(CTR1 + "/cpu.stat", cpu_stat_v2(5000, 4000, 90_000_000))
        assert mon._pressure_at(T0 + 8 * SECOND) == first
        tree.write(CTR1 + "/cpu.stat", cpu_stat_v2(5010, 4009, 90_500_000))
        p = mon._pressure_at(T0 + 10 * SECOND)
        assert p.cpu_throttled_percent == pytest.approx(90.0)
        assert p.cpu_throttled_seconds_per_second == pytest.approx(0.25)
        # The quota removed everywhere: no throttling figure, and the note says why.
        tree.write(CTR1 + "/cpu.max", "max 100000\n")
        tree.write("sys/fs/cgroup/kubepods.slice/pod1/cpu.max", "max 100000\n")
        p = mon._pressure_at(T0 + 16 * SECOND)
        assert p.cpu_throttled_percent is None and p.cpu_some_percent is not None
        assert "no CPU quota" in (mon.environment.throttling_note or "")


def test_v2_cgroup_without_pressure_files(tree_factory) -> None:  # type: ignore[no-untyped-def]
    tree = tree_factory("cgroup-nested-v2")  # psi off for it: no *.pressure
    tree.write(POD1_CPU_STAT, cpu_stat_v2(100, 10, 300_000))
    with open_cgroup(tree) as mon:
        assert "cgroup.pressure" in (mon.environment.pressure_note or "")
        tree.write(POD1_CPU_STAT, cpu_stat_v2(110, 10, 300_000))
        p = mon._pressure_at(T0 + 2 * SECOND)
        assert p[:5] == (None,) * 5
        assert p[5:] == (0.0, 0.0)


V1_CPU_DIR = "sys/fs/cgroup/cpu,cpuacct"


def test_v1_cgroup_throttling_and_no_pressure(tree_factory) -> None:  # type: ignore[no-untyped-def]
    tree = tree_factory("cgroup-docker-v1")
    # The machine's PSI is there, but it is the node's: the v1 cgroup monitor never uses it.
    (tree.root / "proc/pressure").mkdir()
    write_psi(tree, HOST_PSI, BEFORE)
    tree.write(V1_CPU_DIR + "/cpu.stat", "nr_periods 50\nnr_throttled 5\nthrottled_time 1000\n")
    with open_cgroup(tree) as mon:
        note = mon.environment.pressure_note or ""
        assert "cgroup v1 has no per-cgroup pressure" in note
        write_psi(tree, HOST_PSI, AFTER)
        tree.write(
            V1_CPU_DIR + "/cpu.stat",
            "nr_periods 70\nnr_throttled 24\nthrottled_time 1600001000\nnr_bursts 0\n",
        )
        p = mon._pressure_at(T0 + 2 * SECOND)
        # 20 periods, 19 throttled; 1.6 s throttled over 2 s.
        assert p[:5] == (None,) * 5
        assert p[5:] == pytest.approx((95.0, 0.8), rel=1e-12)
        assert mon._handle.sample_files(_binding.PRESSURE) == [str(tree.root / V1_CPU_DIR)
                                                               + "/cpu.stat"]  # fmt: skip


def test_unreadable_throttling_counters_name_the_file(tree_factory) -> None:  # type: ignore[no-untyped-def]
    tree = tree_factory("cgroup-docker-v1")  # no cpu.stat beside the quota
    with open_cgroup(tree) as mon:
        with pytest.raises(ReadingError) as info:
            mon._pressure_at(T0 + 2 * SECOND)
        assert info.value.filename == str(tree.root / V1_CPU_DIR / "cpu.stat")
        tree.write(V1_CPU_DIR + "/cpu.stat", "nr_periods 1\n")
        with pytest.raises(ParseError, match="nr_throttled"):
            mon._pressure_at(T0 + 3 * SECOND)
        assert mon._sample_at(T0 + 3 * SECOND).cpu_percent is not None
