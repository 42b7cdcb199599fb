"""The live view fits the terminal: the renderer at many sizes, the terminal output, and the
real thing in tmux windows of two sizes, resized while it runs."""

from __future__ import annotations

import io
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tmux import Tmux, exit_line, tmux_windows

from danube_metrics import liveview
from danube_metrics.errors import NotReadyError, NotSupportedError, ReadingError
from danube_metrics.liveview import (
    DROPPED_FIRST,
    SHOW_CURSOR,
    LiveView,
    TerminalScreen,
    bar,
    compact_bytes,
    human_bytes,
    run_live,
    sparkline,
    text_width,
)
from danube_metrics.monitor import Readings
from danube_metrics.readings import DiskIOStats, NetworkIOStats, Pressure

LABELS = ("CPU", "Memory", "Disk", "Network")
SHORT_LABELS = ("CPU", "Mem", "Disk", "Net")


class StubEnvironment:
    def __init__(self, text: str) -> None:
        self.text = text

    def describe(self) -> str:
        return self.text


class StubMonitor:
    """What the live view asks of a monitor, with texts a test chooses; `read_all` hands out
    the given readings in turn (or raises an exception given in their place)."""

    def __init__(
        self,
        describe: str = "host monitor (/proc; disks: vda; interfaces: eth0)",
        why: str = "host monitor requested (mode='host')",
        where: str = "host, no cgroup (machine-wide), no CPU limit (2 CPUs)",
        readings: tuple[Any, ...] = (),
        pressure: tuple[Any, ...] = (),
    ) -> None:
        self.text = describe
        self.selection_reason = why
        self.environment = StubEnvironment(where)
        self.readings: Iterator[Any] = iter(readings)
        # Without any: a monitor that reads no pressure (ResourceMonitor's default).
        self.pressure: Iterator[Any] = iter(pressure)
        self.pressure_calls = 0
        self.closed = False

    def describe(self) -> str:
        return self.text

    def read_all(self) -> Readings:
        item = next(self.readings)
        if isinstance(item, BaseException):
            raise item
        assert isinstance(item, Readings)
        return item

    def get_pressure(self) -> Pressure:
        self.pressure_calls += 1
        item = next(self.pressure, NotSupportedError("pressure", None, "StubMonitor has none"))
        if isinstance(item, BaseException):
            raise item
        assert isinstance(item, Pressure)
        return item

    def __enter__(self) -> StubMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed = True


def all_four(cpu: float = 12.5, memory: float = 40.0) -> Readings:
    return Readings(cpu, memory, DiskIOStats(1536.0, 3e6), NetworkIOStats(100.0, 5e7), {})


def view_of(*readings: Readings, **texts: str) -> LiveView:
    view = LiveView(StubMonitor(**texts), 0.5)  # type: ignore[arg-type]
    for r in readings:
        view.record(r)
    return view


def line_starting(lines: list[str], prefix: str) -> str:
    found = [line for line in lines if line.startswith(prefix)]
    assert len(found) == 1, (prefix, lines)
    return found[0]


# --- the renderer at every size ------------------------------------------------------------

printable = st.text(st.characters(blacklist_categories=("Cs",), max_codepoint=0x2FFF), max_size=120)
rates = st.floats(min_value=0.0, max_value=1e13)
percents = st.floats(min_value=0.0, max_value=100.0)


@st.composite
def some_readings(draw: Callable[..., Any]) -> Readings:
    errors: dict[str, Any] = {}

    def figure(key: str, values: st.SearchStrategy[Any]) -> Any:
        value = draw(st.one_of(st.none(), values))
        if value is None:
            errors[key] = NotReadyError(key, "/proc/" + key, draw(printable))
        return value

    cpu = figure("cpu", percents)
    memory = figure("memory", percents)
    disk = figure("disk", st.builds(DiskIOStats, rates, rates))
    network = figure("network", st.builds(NetworkIOStats, rates, rates))
    return Readings(cpu, memory, disk, network, errors)


SIZES = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# What the view is given beside the readings: no pressure, a reading (figures None where the
# monitor cannot have them), or the error of one that failed.
some_pressure = st.one_of(
    st.none(),
    st.builds(Pressure, *[st.none() | percents] * 6, st.none() | rates),
    st.builds(NotReadyError, st.just("pressure"), st.just("/proc/pressure/cpu"), printable),
)


@SIZES
@given(
    width=st.integers(1, 300),
    height=st.integers(1, 100),
    texts=st.tuples(printable, printable, printable),
    history=st.lists(st.tuples(some_readings(), some_pressure), max_size=45),
    ascii_only=st.booleans(),
)
def test_every_frame_fits_its_size(
    width: int,
    height: int,
    texts: tuple[str, str, str],
    history: list[tuple[Readings, Any]],
    ascii_only: bool,
) -> None:
    monitor = StubMonitor(*texts)
    view = LiveView(monitor, 0.5, ascii_only=ascii_only)  # type: ignore[arg-type]
    for r, p in history:
        view.record(r, p)
    lines = view.lines(width, height)
    assert 1 <= len(lines) <= height
    for line in lines:
        assert text_width(line) <= width, (width, line)
        # No control character reaches the terminal (a newline would wrap, an escape redraw).
        assert not any(unicodedata.category(c) == "Cc" for c in line), line
        assert not ascii_only or line.isascii(), line
    head = lines[0].rstrip(".…")  # the header, perhaps cut
    assert head.startswith("danube-metrics") or "danube-metrics".startswith(head), lines[0]


@SIZES
@given(
    width=st.integers(80, 300),
    height=st.integers(17, 100),
    history=st.lists(some_readings(), min_size=1, max_size=45),
)
def test_at_a_generous_size_every_figure_is_shown(
    width: int, height: int, history: list[Readings]
) -> None:
    view = view_of(*history)
    lines = view.lines(width, height)
    last = history[-1]
    assert lines[1] == "monitor: host monitor (/proc; disks: vda; interfaces: eth0)"
    assert lines[2] == "why:     host monitor requested (mode='host')"
    assert lines[3].startswith("where:   host, no cgroup")
    figures = {
        "CPU": None if last.cpu_percent is None else [f"{last.cpu_percent:.1f} %"],
        "Memory": None if last.memory_percent is None else [f"{last.memory_percent:.1f} %"],
        "Disk": None if last.disk is None else [f"r {human_bytes(last.disk[0])}"],
        "Network": None if last.network is None else [f"rx {human_bytes(last.network[0])}"],
    }
    if last.disk is not None:
        figures["Disk"] = [f"r {human_bytes(last.disk[0])}", f"w {human_bytes(last.disk[1])}"]
    if last.network is not None:
        n = last.network
        figures["Network"] = [f"rx {human_bytes(n[0])}", f"tx {human_bytes(n[1])}"]
    for label, texts in figures.items():
        row = line_starting(lines, label + " ")
        if texts is None:
            assert " unavailable: " in row, row
            continue
        for text in texts:
            assert text in row, (text, row)
        assert row.endswith("]") and len(row.split("[")[1]) == 31, row  # a 30-column bar
    shown = sum(v is not None for v in figures.values())
    assert sum(line.lstrip().startswith("history") for line in lines) == shown
    assert lines[-1].startswith("bars: CPU and memory against 100 %")


def test_a_pipe_gets_the_full_layout_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    # The layout written to pipes and files, which scripts may read: unchanged by the fitting.
    monkeypatch.setattr(liveview.time, "localtime", lambda: time.gmtime(86400 * 365))
    view = view_of(
        all_four(),
        Readings(
            99.9,
            41.0,
            None,
            NetworkIOStats(10.0, 5e3),
            {"disk": ReadingError("disk", 2, "No such file or directory", "/proc/diskstats")},
        ),
    )
    assert view.render().split("\n") == [
        "danube-metrics 0.1.0   1971-01-01 00:00:00",
        "monitor: host monitor (/proc; disks: vda; interfaces: eth0)",
        "why:     host monitor requested (mode='host')",
        "where:   host, no cgroup (machine-wide), no CPU limit (2 CPUs)",
        "",
        "CPU                      99.9 % [##############################]",
        "                        history  ▂█",
        "Memory                   41.0 % [############..................]",
        "                        history  ▄▄",
        "Disk     unavailable: disk: /proc/diskstats: No such file or directory (errno 2)",
        "Network  rx 10 B/s  tx 4.9 KiB/s [..............................]",
        "                        history  █▁",
        "",
        "bars: CPU and memory against 100 %; disk and network against their peak",
    ]


def kinds(lines: list[str]) -> list[str]:
    """Which line of the frame each is, by its look (the frame of `all_four` only)."""
    names = []
    for line in lines:
        word = line.split(" ", 1)[0]
        if line.startswith("danube-metrics"):
            names.append("header")
        elif word in ("monitor:", "why:", "where:"):
            names.append(word[:-1])
        elif word.startswith("bars:"):
            names.append("legend")
        elif line == "":
            names.append("gap")
        elif word in LABELS or word in SHORT_LABELS:
            names.append(
                ("cpu", "memory", "disk", "network")[[*LABELS, *SHORT_LABELS].index(word) % 4]
            )
        else:
            names.append(names[-1] + " history")
    return names


def test_a_short_terminal_drops_lines_in_the_documented_order() -> None:
    view = view_of(all_four(), all_four(50.0, 60.0))
    full = kinds(view.lines(100, 100))
    assert len(full) == 15
    assert sorted(n.replace("gap", "gap above figures", 1) for n in full if n != "gap") == sorted(
        n for n in DROPPED_FIRST if not n.startswith("gap")
    )
    for height in range(1, 16):
        frame = kinds(view.lines(100, height))
        assert len(frame) == height
        dropped = list(full)
        for name in frame:
            dropped.remove(name)
        # What went is the first `15 - height` names of DROPPED_FIRST (gaps are just "gap").
        expected = [n if not n.startswith("gap") else "gap" for n in DROPPED_FIRST[: 15 - height]]
        assert sorted(dropped) == sorted(expected), (height, frame)
        # The order on screen stays the frame's order.
        positions = [full.index(n) for n in frame if n != "gap"]
        assert positions == sorted(positions)
    assert kinds(view.lines(100, 5)) == ["header", "cpu", "memory", "disk", "network"]
    assert kinds(view.lines(100, 6)) == ["header", "monitor", "cpu", "memory", "disk", "network"]


def test_a_narrow_terminal_shortens_in_the_documented_order() -> None:
    view = view_of(all_four(), all_four(50.0, 60.0))
    at = {width: view.lines(width, 100) for width in (80, 50, 40, 26, 20, 12, 1)}
    # 80: the full labels and figures, 30-column bars.
    row = line_starting(at[80], "Network ")
    assert "rx 100 B/s  tx 47.7 MiB/s" in row and row.endswith("[" + "#" * 30 + "]")
    # 50: short labels, the full figures, a narrower bar.
    row = line_starting(at[50], "Net ")
    assert "rx 100 B/s  tx 47.7 MiB/s" in row and row.endswith("[" + "#" * 10 + "]")
    # 40: compact figures with a wider bar.
    row = line_starting(at[40], "Net ")
    assert row.split() == ["Net", "rx", "100B", "tx", "48M", "[" + "#" * 17 + "]"]
    # 26: one total for both directions.
    assert line_starting(at[26], "Disk ").split() == ["Disk", "2.9M", "[" + "#" * 12 + "]"]
    # 20: no bars, so no legend about them; history under the figures.
    assert line_starting(at[20], "Disk ").split() == ["Disk", "r", "1.5K", "w", "2.9M"]
    assert not any("[" in line or line.startswith("bars") for line in at[20])
    assert sum(line.startswith("     ▂") or line.startswith("     ▄") for line in at[20]) == 2
    # The long texts are cut with an ellipsis, never wrapped.
    assert line_starting(at[40], "monitor:") == "monitor: host monitor (/proc; disks: vd…"
    assert at[12][0] == "danube-metr…"
    assert at[1][0] == "…"
    # The legend takes its shortest form at 40 columns and is gone at 26 (with its gap).
    assert [len(at[w]) for w in (80, 50, 40, 26, 20)] == [15, 15, 15, 13, 13]
    assert line_starting(at[40], "bars:") == "bars: % of 100, bytes/s of peak"


def test_the_first_frame_says_when_the_figures_come() -> None:
    view = view_of()
    lines = view.lines(60, 20)
    assert lines[0].startswith("danube-metrics 0.1.0")
    for label in LABELS:
        assert line_starting(lines, label + " ").endswith("measuring… (first figures in 0.5 s)")
    assert not any(line.startswith("bars:") or "history" in line for line in lines)
    assert line_starting(view.lines(20, 20), "Mem ") == "Mem  measuring…"


def test_text_from_outside_is_cut_to_its_columns_and_made_safe() -> None:
    view = view_of(all_four(), describe="監視 " * 30, why="a\x1b[2J\nb\rc\udcff")
    lines = view.lines(41, 20)
    # A wide character that would end past the width goes whole: one column stays empty.
    assert line_starting(lines, "monitor:") == "monitor: " + "監視 " * 6 + "…"
    assert text_width(line_starting(lines, "monitor:")) == 40
    assert line_starting(view.lines(42, 20), "monitor:") == "monitor: " + "監視 " * 6 + "監…"
    assert line_starting(lines, "why:") == "why:     a?[2J?b?c?"


def test_ascii_only_output() -> None:
    view = LiveView(StubMonitor(describe="é" * 80), ascii_only=True)  # type: ignore[arg-type]
    assert all(line.isascii() for line in view.lines(30, 20))
    view.record(all_four())
    view.record(all_four(100.0))
    lines = view.lines(60, 20)
    assert all(line.isascii() for line in lines)
    assert line_starting(lines, "monitor:").endswith("?...")
    assert any(line.endswith("history  .#") for line in lines), lines


def test_helpers() -> None:
    assert [compact_bytes(v) for v in (0, 512, 999.4, 999.5, 1536, 15e6, 2**40 * 5.5)] == [
        "0B",
        "512B",
        "999B",
        "1.0K",
        "1.5K",
        "14M",
        "5.5T",
    ]
    assert bar(float("nan"), 4) == "[....]" and bar(-1.0, 2) == "[..]"
    assert sparkline([float("nan"), float("inf"), -5.0, 50.0], 100.0) == "▁█▁▅"
    assert sparkline([1.0], 100.0, "ab") == "a"


@given(st.floats(min_value=0.0, max_value=1e18))
def test_compact_bytes_has_at_most_four_characters(rate: float) -> None:
    text = compact_bytes(rate)
    assert len(text) <= 4 and text[-1] in "BKMGTPE", text


# --- the terminal ----------------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    """A text stream that says it is a terminal (of the size $COLUMNS and $LINES give)."""

    encoding = "utf-8"  # type: ignore[assignment]

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        raise io.UnsupportedOperation("no file descriptor")


def frames_of(output: str) -> list[list[str]]:
    """The frames drawn (each from the cursor's home), as lines without escape sequences."""
    frames = []
    for chunk in output.split("\x1b[H")[1:]:
        for seq in ("\x1b[K", "\x1b[J", "\x1b[?25h", "\x1b[?25l"):
            chunk = chunk.replace(seq, "")
        frames.append(chunk.rstrip("\r\n").split("\r\n"))
    return frames


@pytest.fixture()
def terminal(monkeypatch: pytest.MonkeyPatch) -> FakeTerminal:
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setenv("LINES", "20")
    monkeypatch.setenv("TERM", "xterm")
    return FakeTerminal()


def test_in_a_terminal_a_first_frame_comes_at_once_and_count_counts_figures(
    terminal: FakeTerminal,
) -> None:
    monitor = StubMonitor(readings=(all_four(), all_four(50.0)))
    assert run_live(monitor, terminal, interval=0.01, count=2, as_json=False) == 0  # type: ignore[arg-type]
    assert monitor.closed
    output = terminal.getvalue()
    assert output.startswith("\x1b[?25l\x1b[H\x1b[J") and output.endswith(SHOW_CURSOR)
    frames = frames_of(output)
    assert len(frames) == 3
    assert "measuring…" in frames[0][5]
    assert "50.0%" in line_starting(frames[2], "CPU ")
    for frame in frames:
        assert 1 <= len(frame) <= 20
        assert all(text_width(line) <= 40 for line in frame), frame
    # Nothing is cleared before a frame is drawn over the last of the same size (no flicker),
    # and the cursor ends below the last frame: a frame shorter than the screen leaves it there.
    assert output.count("\x1b[H\x1b[J") == 1 and "\x1b[2J" not in output
    assert output.endswith("\r\n\x1b[J" + SHOW_CURSOR)


def test_ctrl_c_leaves_the_cursor_visible_below_the_frame(
    terminal: FakeTerminal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINES", "5")  # a full screen: the cursor sits on its last line
    monitor = StubMonitor(readings=(all_four(), KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        run_live(monitor, terminal, interval=0.01, count=0, as_json=False)  # type: ignore[arg-type]
    assert monitor.closed
    output = terminal.getvalue()
    assert [len(f) for f in frames_of(output)] == [5, 5]
    assert output.endswith("[" + "#" * 17 + "]\r\n" + SHOW_CURSOR)


def test_a_line_as_wide_as_the_terminal_is_not_cleared_after() -> None:
    # Clearing to the end of a full line would erase its last character.
    out = FakeTerminal()
    screen = TerminalScreen(out)
    screen.draw(["abcd", "ab"], 4, 2)
    assert out.getvalue() == "\x1b[?25l\x1b[H\x1b[Jabcd\r\nab\x1b[K"
    # The same size again: drawn over, nothing cleared first; a new size clears once.
    screen.draw(["ab"], 4, 2)
    assert out.getvalue().endswith("ab\x1b[K\x1b[Hab\x1b[K\r\n\x1b[J")
    screen.draw(["abc"], 3, 1)
    assert out.getvalue().endswith("\r\n\x1b[J\x1b[H\x1b[Jabc")
    screen.close()
    assert out.getvalue().endswith("\x1b[Jabc\r\n" + SHOW_CURSOR)


def test_a_pipe_gets_no_first_frame_and_no_escapes() -> None:
    out = io.StringIO()
    monitor = StubMonitor(readings=(all_four(), all_four()))
    assert run_live(monitor, out, interval=0.01, count=2, as_json=False) == 0  # type: ignore[arg-type]
    text = out.getvalue()
    assert text.count("danube-metrics 0.1.0") == 2 and "\x1b" not in text
    assert "measuring" not in text and text.endswith("their peak\n\n")


def test_an_output_without_unicode_gets_ascii() -> None:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="ascii")
    monitor = StubMonitor(readings=(all_four(),))
    assert run_live(monitor, out, interval=0.01, count=1, as_json=False) == 0  # type: ignore[arg-type]
    out.flush()
    assert b"history  .\n" in raw.getvalue() and raw.getvalue().isascii()


# --- a real terminal: tmux ---------------------------------------------------------------------


@pytest.fixture()
def tmux_window(tmp_path: Path) -> Iterator[Callable[..., Tmux]]:
    yield from tmux_windows(tmp_path, "--mode", "host")


FRAME_STARTS = ("danube-metrics", "monitor:", "why:", "where:", "bars:", " ", *LABELS, "Mem", "Net")


def frame_of(lines: list[str]) -> list[str]:
    """The frame's lines on screen: those above what followed the command (^C, "exit N"),
    without the blank lines under it."""
    end = next((i for i, x in enumerate(lines) if exit_line(x) or x.startswith("^C")), len(lines))
    frame = [line.rstrip() for line in lines[:end]]
    while frame and not frame[-1]:
        frame.pop()
    return frame


def fits(t: Tmux, lines: list[str], header: bool = True) -> bool:
    """The frame fits the window: no line wider (none wrapped), each one of the frame's own
    (a wrapped line's continuation would start with anything), from the header at the top
    (unless the end scrolled it off)."""
    frame = frame_of(lines)
    return (
        bool(frame)
        and all(text_width(line) <= t.width for line in lines)
        and all(line.startswith(FRAME_STARTS) for line in frame if line)
        and (not header or frame[0].startswith("danube-metrics"))
    )


def figures_shown(lines: list[str], labels: tuple[str, ...]) -> bool:
    rows = [line for line in frame_of(lines) if line.split(" ", 1)[0] in labels]
    return len(rows) == 4 and not any("measuring" in row for row in rows)


@pytest.mark.parametrize(("width", "height"), [(40, 12), (160, 40)])
def test_in_tmux_each_frame_fits_the_window(
    tmux_window: Callable[..., Tmux], width: int, height: int
) -> None:
    t = tmux_window("--interval", "0.3", "--count", "8", width=width, height=height)
    first = t.wait_for("the header", lambda lines: lines[0].startswith("danube-metrics"))
    assert fits(t, first), first
    labels = LABELS if width >= 80 else SHORT_LABELS
    later = t.wait_for("the figures", lambda lines: figures_shown(lines, labels))
    assert fits(t, later), later
    assert len(frame_of(later)) == min(height, 15), later
    assert t.status("cursor_flag") == "0"  # hidden while the frames are drawn
    end, exit_index = t.wait_for_exit()
    # The last frame stays, whole (a frame as tall as the window loses its header to the line
    # under it), and the shell writes on the line under it with the cursor visible again.
    assert fits(t, end, header=height > 15), end
    assert figures_shown(end, labels), end
    assert end[exit_index - 1].strip() and frame_of(end) == [x.rstrip() for x in end[:exit_index]]
    assert t.status("cursor_flag") == "1"
    if width >= 80:
        assert sum(line.lstrip().startswith("history") for line in end) == 4, end
        assert any(line.startswith("bars: CPU and memory against 100 %") for line in end), end


def test_in_tmux_a_resized_window_gets_a_fitting_frame(tmux_window: Callable[..., Tmux]) -> None:
    t = tmux_window("--interval", "0.3", width=160, height=40)
    lines = t.wait_for("the figures", lambda lines: figures_shown(lines, LABELS))
    assert fits(t, lines), lines
    for width, height, labels in ((40, 12, SHORT_LABELS), (24, 6, SHORT_LABELS), (120, 30, LABELS)):
        t.resize(width, height)

        def new_frame(lines: list[str], labels: tuple[str, ...] = labels) -> bool:
            return (
                fits(t, lines)
                and figures_shown(lines, labels)
                and len(frame_of(lines)) == min(t.height, 15)
            )

        lines = t.wait_for(f"a frame for {width}x{height}", new_frame)
    assert any(line.startswith("bars: CPU and memory") for line in lines), lines
    t.tmux("send-keys", "-t", "live", "C-c")
    end, exit_index = t.wait_for_exit()  # Ctrl-C ends the live view with 0
    assert end[exit_index - 1].startswith("^C"), end
    assert t.status("cursor_flag") == "1"


def test_in_tmux_the_first_frame_does_not_wait_for_the_interval(
    tmux_window: Callable[..., Tmux],
) -> None:
    t = tmux_window("--interval", "600", "--count", "1", width=60, height=20)
    lines = t.wait_for("the first frame", lambda lines: "measuring" in "\n".join(lines))
    assert fits(t, lines), lines
    assert line_starting(lines, "CPU ").rstrip().endswith("measuring… (first figures in 600 s)")
    t.tmux("send-keys", "-t", "live", "C-c")
    t.wait_for_exit()
    assert t.status("cursor_flag") == "1"


# --- pressure and throttling beside the figures (issue 14) ----------------------------------

CGROUP_PRESSURE = Pressure(12.4, 5.0, 3.0, 1.0, 0.0, 40.0, 0.2)
HOST_PRESSURE = Pressure(12.4, 5.0, 3.0, 1.0, 0.0, None, None)


def test_pressure_ends_the_cpu_memory_and_disk_lines() -> None:
    view = view_of(all_four())
    view.record(all_four(), CGROUP_PRESSURE)
    lines = view.lines(120, 40)
    cpu = line_starting(lines, "CPU ")
    assert cpu.endswith("[" + "#" * 4 + "." * 26 + "] some 12% thr 40%"), cpu
    assert line_starting(lines, "Memory ").endswith("] some 5% full 3%")
    assert line_starting(lines, "Disk ").endswith("] some 1% full 0%")
    assert line_starting(lines, "Network ").endswith("]")  # no pressure of its own
    # On the host there is no throttling: that figure is left out, not shown as 0.
    view.record(all_four(), HOST_PRESSURE)
    assert line_starting(view.lines(120, 40), "CPU ").endswith("] some 12%")
    # A pipe gets them too.
    assert line_starting(view.render().split("\n"), "CPU ").endswith("] some 12%")


def test_pressure_takes_room_from_the_bars_then_shortens_then_goes() -> None:
    view = view_of(all_four())
    view.record(all_four(), CGROUP_PRESSURE)
    plain = view_of(all_four())
    forms = {}
    for width in range(20, 130):
        lines = view.lines(width, 40)
        assert all(text_width(line) <= width for line in lines), (width, lines)
        cpu, plain_cpu = line_starting(lines, "CPU "), line_starting(plain.lines(width, 40), "CPU ")
        # Labels and figures keep the form they have without pressure: only the bar gives way.
        assert cpu.split("[")[0] == plain_cpu.split("[")[0], (width, cpu, plain_cpu)
        # The richest pressure form whose room leaves the bar at least 8 columns.
        bar_width = len(plain_cpu.split("[")[1]) - 1 if "[" in plain_cpu else 0
        if bar_width >= 8 + 19 + 1:
            assert cpu.endswith("] some 12% thr 40%"), (width, cpu)
        elif bar_width >= 8 + 9 + 1:
            assert cpu.endswith("] s12 t40"), (width, cpu)
        else:
            assert cpu == plain_cpu, (width, cpu)
        forms[width] = cpu.split("]")[-1]
    assert (forms[45], forms[55], forms[65], forms[80]) == (
        " s12 t40",
        "",
        " s12 t40",
        " some 12% thr 40%",
    )
    assert line_starting(view.lines(80, 40), "CPU ").endswith(
        "[" + "#" * 2 + "." * 14 + "] some 12% thr 40%"
    )
    assert line_starting(view.lines(74, 40), "Memory ").endswith(
        "[" + "#" * 4 + "." * 6 + "] some 5% full 3%"
    )


def test_a_pressure_reading_that_failed_says_so_on_the_cpu_line() -> None:
    view = view_of(all_four())
    view.record(all_four(), NotReadyError("pressure", "/proc/pressure/cpu", "no interval yet"))
    lines = view.lines(120, 40)
    assert line_starting(lines, "CPU ").endswith("] pressure n/a")
    assert line_starting(lines, "Memory ").endswith("]")


def test_run_live_asks_for_pressure_until_the_monitor_has_none(terminal: FakeTerminal) -> None:
    monitor = StubMonitor(readings=(all_four(),) * 4, pressure=(CGROUP_PRESSURE,))
    assert run_live(monitor, io.StringIO(), interval=0.01, count=4, as_json=False) == 0  # type: ignore[arg-type]
    # The first call gives figures, the second NotSupportedError: never asked again.
    assert monitor.pressure_calls == 2
    failing = StubMonitor(
        readings=(all_four(),) * 3,
        pressure=(NotReadyError("pressure", None, "not yet"), CGROUP_PRESSURE, CGROUP_PRESSURE),
    )
    out = io.StringIO()
    assert run_live(failing, out, interval=0.01, count=3, as_json=False) == 0  # type: ignore[arg-type]
    assert failing.pressure_calls == 3
    cpu_rows = [line for line in out.getvalue().split("\n") if line.startswith("CPU ")]
    assert len(cpu_rows) == 3 and cpu_rows[0].endswith("] pressure n/a"), cpu_rows
    assert cpu_rows[1].endswith("] some 12% thr 40%") and cpu_rows[2] == cpu_rows[1]
    # JSON lines read no pressure (their fields are the readings').
    quiet = StubMonitor(readings=(all_four(),), pressure=(CGROUP_PRESSURE,))
    assert run_live(quiet, io.StringIO(), interval=0.01, count=1, as_json=True) == 0  # type: ignore[arg-type]
    assert quiet.pressure_calls == 0
