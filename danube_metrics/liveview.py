"""The live view of ``danube-metrics``: the four figures with bars and a short history, redrawn
each interval, or one JSON object per interval.

In a terminal every frame is laid out for the terminal's size, read again before each frame (a
resized window gets a fitting frame at the next refresh, no SIGWINCH handler needed). No line
is wider than the terminal and no frame is taller. As the width shrinks: the bars narrow
(from 30 columns to 8), then labels and figures shorten (Memory becomes Mem, "1.5 KiB/s" becomes
"1.5K"), then one total stands for the two directions, then the bars go; a history line goes
when fewer than 8 of its marks fit, the legend takes a shorter form and then goes, and any other
text too long (the monitor's description, an error) is cut with an ellipsis. As the height
shrinks, lines go in the order of ``DROPPED_FIRST``.

Where the monitor reads pressure (``get_pressure``, asked at each refresh until it raises
NotSupportedError, then never again), the CPU, Memory and Disk lines end with its figures:
"some 12% thr 40%" (CPU stalls, CFS throttling), "some 5% full 3%" (memory, I/O stalls); a
figure the monitor cannot have is left out, and "pressure n/a" stands for a reading that
failed this time. They take their room from the bars only, never from the labels or figures:
in each layout the bars narrow (to 8 columns) for them, then they shorten ("s12 t40"), then
they go.

The first frame in a terminal comes at once, saying when the first figures will; written to a
pipe or a file, each frame is the full layout (as wide as it takes), after each interval.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import time
import unicodedata
from collections.abc import Sequence
from typing import NamedTuple, Optional, TextIO

from danube_metrics import __version__
from danube_metrics.errors import DanubeMetricsError, NotSupportedError
from danube_metrics.monitor import Readings, ResourceMonitor
from danube_metrics.readings import Pressure

__all__ = [
    "DROPPED_FIRST",
    "LiveView",
    "bar",
    "compact_bytes",
    "human_bytes",
    "readings_json",
    "run_live",
    "sparkline",
]

BAR_WIDTH = 30
# A bar narrower than this is drawn only where no layout leaves room for a wider one.
MIN_BAR_WIDTH = 8
HISTORY = 40
MIN_HISTORY = 8
# The lowest level is a visible bar: an idle history must still show as a line. These and the
# ellipsis are one column wide (East Asian width "ambiguous", one column outside CJK locales);
# where the output's encoding lacks them, ASCII stands in.
SPARKS = "▁▂▃▄▅▆▇█"
ELLIPSIS = "…"
ASCII_SPARKS = "_.-:=+*#"
ASCII_ELLIPSIS = "..."

FIGURES = ("cpu", "memory", "disk", "network")
LONG_LABELS = {"cpu": "CPU", "memory": "Memory", "disk": "Disk", "network": "Network"}
SHORT_LABELS = {"cpu": "CPU", "memory": "Mem", "disk": "Disk", "network": "Net"}
DIRECTIONS = {"disk": ("r", "w"), "network": ("rx", "tx")}

# The lines of a frame, the first dropped first when the terminal is too short for all of them
# (the frame keeps its order). The header goes last.
DROPPED_FIRST = (
    "legend",
    "gap above legend",
    "gap above figures",
    "where",
    "why",
    "network history",
    "disk history",
    "memory history",
    "cpu history",
    "monitor",
    "network",
    "disk",
    "memory",
    "cpu",
    "header",
)
_IMPORTANCE = {name: rank for rank, name in enumerate(DROPPED_FIRST)}  # higher: kept longer

# The pressure figures each line ends with: (short name, Pressure field); the CPU's "some" is
# stalls, "thr" the share of CFS periods throttled.
PRESSURE_PARTS = {
    "cpu": (("some", "cpu_some_percent"), ("thr", "cpu_throttled_percent")),
    "memory": (("some", "memory_some_percent"), ("full", "memory_full_percent")),
    "disk": (("some", "io_some_percent"), ("full", "io_full_percent")),
}
# The columns the pressure figures may take, in each form: "some 100% full 100%", "s100 f100";
# reserved whole, so that the bars stay put from frame to frame.
_PRESSURE_WIDTHS = {"full": 19, "short": 9}
PRESSURE_UNAVAILABLE = "pressure n/a"

LEGENDS = (
    "bars: CPU and memory against 100 %; disk and network against their peak",
    "bars: CPU, Mem of 100 %; Disk, Net of their peak",
    "bars: % of 100, bytes/s of peak",
)


def human_bytes(rate: float) -> str:
    """1536.0 -> '1.5 KiB/s'."""
    value = float(rate)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}/s" if unit == "B" else f"{value:.1f} {unit}/s"
        value /= 1024
    raise AssertionError("unreachable")


def compact_bytes(rate: float) -> str:
    """At most four characters below 1000 EiB/s, as ``ls -h``: 512.0 -> '512B', 1536.0 ->
    '1.5K', 15e6 -> '14M'."""
    value = float(rate)
    for unit in "BKMGTP":
        if unit == "B" and value < 999.5:
            return f"{value:.0f}B"
        if unit != "B" and value < 9.95:
            return f"{value:.1f}{unit}"
        if unit != "B" and value < 999.5:
            return f"{value:.0f}{unit}"
        value /= 1024
    return f"{value:.0f}E"


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    if not fraction >= 0.0:  # NaN too
        fraction = 0.0
    fraction = min(fraction, 1.0)
    filled = round(fraction * width)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def sparkline(values: Sequence[float], top: float, sparks: str = SPARKS) -> str:
    top_level = len(sparks) - 1

    def level(value: float) -> int:
        if not (top > 0 and value > 0):  # NaN too
            return 0
        return round(min(value / top, 1.0) * top_level)

    return "".join(sparks[level(v)] for v in values)


def text_width(text: str) -> int:
    """Columns `text` takes in a terminal: wide East Asian characters two, combining ones none."""
    return sum(_char_width(c) for c in text)


def _char_width(char: str) -> int:
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


class _Layout(NamedTuple):
    """How the figure rows are written at one width."""

    short_labels: bool
    label_width: int
    figures: str  # "full", "compact" or "total"
    value_width: int  # the column the figures are right-aligned in
    bar_width: int  # 0: no bar


# Figure columns wide enough for any figure of that form, so that the bars stay put from frame
# to frame: "100.0 %", "rx 1023.9 KiB/s  tx 1023.9 KiB/s"; "rx 999K tx 999K"; "100.0%", "999K".
_VALUE_WIDTHS = {"full": 32, "compact": 15, "total": 6}
_CANDIDATES = (
    (False, "full"),
    (True, "full"),
    (True, "compact"),
    (True, "total"),
)
# Written to a pipe or a file: today's layout, as wide as it takes.
_UNBOUNDED = _Layout(False, 8, "full", 22, BAR_WIDTH)


def _layout_for(width: int) -> _Layout:
    """The richest layout with a bar of at least MIN_BAR_WIDTH in `width` columns; else the
    richest whose figures fit, with what bar is left (at least 3 columns) or none."""
    layouts = []
    for short, figures in _CANDIDATES:
        label_width = 4 if short else 8
        value_width = _VALUE_WIDTHS[figures]
        room = width - (label_width + 1 + value_width + 1 + 2)
        layouts.append(_Layout(short, label_width, figures, value_width, min(room, BAR_WIDTH)))
    for layout in layouts:
        if layout.bar_width >= MIN_BAR_WIDTH:
            return layout
    for layout in layouts:
        if layout.label_width + 1 + layout.value_width <= width:
            return layout._replace(bar_width=layout.bar_width if layout.bar_width >= 3 else 0)
    return layouts[-1]._replace(bar_width=0)


class LiveView:
    """The frames of the live view: `record` each interval's readings, then `render` a frame
    for the terminal's size (or without a size, for a pipe)."""

    def __init__(
        self, monitor: ResourceMonitor, interval: float = 1.0, *, ascii_only: bool = False
    ) -> None:
        self.monitor = monitor
        self.interval = interval
        self.sparks = ASCII_SPARKS if ascii_only else SPARKS
        self.ellipsis = ASCII_ELLIPSIS if ascii_only else ELLIPSIS
        self.ascii_only = ascii_only
        self.readings: Optional[Readings] = None
        # None: not read (yet, or ever: the monitor has none); else the last refresh's, or
        # the error of a reading that failed then.
        self.pressure: Optional[Pressure | DanubeMetricsError] = None
        self.history: dict[str, collections.deque[float]] = {
            k: collections.deque(maxlen=HISTORY) for k in FIGURES
        }
        self.peak = {"disk": 1.0, "network": 1.0}

    def record(
        self, readings: Readings, pressure: Optional[Pressure | DanubeMetricsError] = None
    ) -> None:
        """Takes one interval's readings into the figures and their history, with the
        pressure read beside them (or the error it raised; None: none read)."""
        self.readings = readings
        self.pressure = pressure
        for key in FIGURES:
            value = self._value(key)
            if value is None:
                continue
            self.history[key].append(value)
            if key in self.peak:
                self.peak[key] = max(self.peak[key], value)

    def render(self, width: Optional[int] = None, height: Optional[int] = None) -> str:
        return "\n".join(self.lines(width, height))

    def lines(self, width: Optional[int] = None, height: Optional[int] = None) -> list[str]:
        """The frame's lines, each at most `width` columns, at most `height` of them (None: no
        limit). Before the first `record`, the figure rows say when the first figures come."""
        layout, pressure_form = self._layout_and_pressure(width)
        named: list[tuple[str, Optional[str]]] = [
            ("header", self._header(width)),
            ("monitor", "monitor: " + self.monitor.describe()),
            ("why", "why:     " + self.monitor.selection_reason),
            ("where", "where:   " + self.monitor.environment.describe()),
            ("gap above figures", ""),
        ]
        for key in FIGURES:
            named.append((key, self._figure_row(key, layout, width, pressure_form)))
            named.append((f"{key} history", self._history_row(key, layout, width)))
        # The legend explains the bars: none without them, nor before the first figures.
        legend = self._legend(width) if layout.bar_width and self.readings else None
        if legend is not None:
            named += [("gap above legend", ""), ("legend", legend)]

        kept = [(name, self._fit(text, width)) for name, text in named if text is not None]
        if height is not None and len(kept) > height:
            by_importance = sorted(range(len(kept)), key=lambda i: -_IMPORTANCE[kept[i][0]])
            keep = set(by_importance[: max(height, 0)])
            kept = [line for i, line in enumerate(kept) if i in keep]
        return [text for _, text in kept]

    # --- the lines -----------------------------------------------------------------------

    def _header(self, width: Optional[int]) -> str:
        now = time.localtime()
        clock = time.strftime("%H:%M:%S", now)
        forms = (
            f"danube-metrics {__version__}   {time.strftime('%Y-%m-%d', now)} {clock}",
            f"danube-metrics {__version__}   {clock}",
            f"danube-metrics {clock}",
        )
        return next((f for f in forms if width is None or len(f) <= width), "danube-metrics")

    def _legend(self, width: Optional[int]) -> Optional[str]:
        return next((f for f in LEGENDS if width is None or len(f) <= width), None)

    def _value(self, key: str) -> Optional[float]:
        r = self.readings
        if r is None:
            return None
        if key == "cpu":
            return r.cpu_percent
        if key == "memory":
            return r.memory_percent
        stats = r.disk if key == "disk" else r.network
        return None if stats is None else stats.total_bytes_per_sec()

    def _top(self, key: str) -> float:
        return self.peak.get(key, 100.0)

    def _figure_text(self, key: str, figures: str) -> str:
        assert self.readings is not None
        if key in ("cpu", "memory"):
            value = self._value(key) or 0.0
            return f"{value:.1f} %" if figures == "full" else f"{value:.1f}%"
        stats = self.readings.disk if key == "disk" else self.readings.network
        assert stats is not None
        a, b = stats
        first, second = DIRECTIONS[key]
        if figures == "full":
            return f"{first} {human_bytes(a)}  {second} {human_bytes(b)}"
        if figures == "compact":
            return f"{first} {compact_bytes(a)} {second} {compact_bytes(b)}"
        return compact_bytes(a + b)

    def _layout_and_pressure(self, width: Optional[int]) -> tuple[_Layout, Optional[str]]:
        """The figure rows' layout and the pressure figures' form ("full", "short" or None:
        not shown): the richest pressure form that costs the rows only bar columns (their
        labels and figures keep the form they have without it, the bar at least
        MIN_BAR_WIDTH)."""
        if width is None:
            return _UNBOUNDED, None if self.pressure is None else "full"
        plain = _layout_for(width)
        if self.pressure is None or self.readings is None:
            return plain, None
        for form, room in _PRESSURE_WIDTHS.items():
            layout = _layout_for(width - room - 1)
            same_form = layout[:2] == plain[:2] and layout.figures == plain.figures
            if same_form and layout.bar_width >= MIN_BAR_WIDTH:
                return layout, form
        return plain, None

    def _pressure_text(self, key: str, form: str) -> str:
        """The pressure figures a line ends with (empty: none for it)."""
        if isinstance(self.pressure, DanubeMetricsError):
            return PRESSURE_UNAVAILABLE if key == "cpu" and form == "full" else ""
        assert self.pressure is not None
        parts = []
        for name, field in PRESSURE_PARTS.get(key, ()):
            value = getattr(self.pressure, field)
            if value is not None:
                parts.append(f"{name} {value:.0f}%" if form == "full" else f"{name[0]}{value:.0f}")
        return " ".join(parts)

    def _figure_row(
        self, key: str, layout: _Layout, width: Optional[int], pressure_form: Optional[str] = None
    ) -> str:
        labels = SHORT_LABELS if layout.short_labels else LONG_LABELS
        label = f"{labels[key]:<{layout.label_width}}"
        if self.readings is None:
            first = f"{self.interval:g} s"
            forms = (
                f"{label} measuring{self.ellipsis} (first figures in {first})",
                f"{label} measuring{self.ellipsis} ({first})",
                f"{label} measuring{self.ellipsis}",
            )
            return next((f for f in forms if width is None or text_width(f) <= width), forms[-1])
        value = self._value(key)
        if value is None:
            return f"{label} unavailable: {self.readings.errors.get(key)}"
        line = f"{label} {self._figure_text(key, layout.figures):>{layout.value_width}}"
        if layout.bar_width:
            line += " " + bar(value / self._top(key), layout.bar_width)
        pressure = self._pressure_text(key, pressure_form) if pressure_form else ""
        return f"{line} {pressure}" if pressure else line

    def _history_row(self, key: str, layout: _Layout, width: Optional[int]) -> Optional[str]:
        values = list(self.history[key])
        if self.readings is None or self._value(key) is None or not values:
            return None
        if layout.bar_width:
            # The marks start under the bar's first column.
            indent = " " * (layout.label_width + 1)
            indent += f"{'history':>{layout.value_width}}  " if layout.value_width >= 7 else ""
            indent = indent.ljust(layout.label_width + 1 + layout.value_width + 2)
        else:
            indent = " " * (layout.label_width + 1)
        if width is not None:
            room = width - len(indent)
            if room < min(MIN_HISTORY, len(values)):
                return None
            values = values[-room:]
        return indent + sparkline(values, self._top(key), self.sparks)

    def _fit(self, text: str, width: Optional[int]) -> str:
        return clip_to_width(text, width, self.ascii_only)


def clip_to_width(text: str, width: Optional[int], ascii_only: bool = False) -> str:
    """`text` made safe for a terminal (control characters and lone surrogates, which an error
    naming a file may hold, shown as '?'; with `ascii_only`, anything beyond ASCII too) and cut
    with an ellipsis to `width` columns (None: not cut)."""
    text = "".join(
        "?" if unicodedata.category(c) in ("Cc", "Cs") or (ascii_only and ord(c) > 127) else c
        for c in text
    )
    if width is None or text_width(text) <= width:
        return text
    ellipsis = ASCII_ELLIPSIS if ascii_only else ELLIPSIS
    end = ellipsis if text_width(ellipsis) <= width else ""
    room = width - text_width(end)
    cut = []
    for c in text:
        room -= _char_width(c)
        if room < 0:
            break
        cut.append(c)
    return "".join(cut) + end


def readings_json(readings: Readings) -> str:
    doc = {
        "timestamp": time.time(),
        "cpu_percent": readings.cpu_percent,
        "memory_percent": readings.memory_percent,
        "disk_read_bytes_per_sec": readings.disk.read_bytes_per_sec if readings.disk else None,
        "disk_write_bytes_per_sec": readings.disk.write_bytes_per_sec if readings.disk else None,
        "net_rx_bytes_per_sec": readings.network.rx_bytes_per_sec if readings.network else None,
        "net_tx_bytes_per_sec": readings.network.tx_bytes_per_sec if readings.network else None,
        "errors": {k: str(v) for k, v in readings.errors.items()},
    }
    return json.dumps(doc, separators=(",", ":"))


# Escape sequences of VT100 and its descendants (xterm, tmux, the Linux console).
HOME = "\x1b[H"
CLEAR_TO_LINE_END = "\x1b[K"
CLEAR_TO_SCREEN_END = "\x1b[J"
HIDE_CURSOR = "\x1b[?25l"
SHOW_CURSOR = "\x1b[?25h"
# Carriage return too: a terminal in raw mode does not add it to a line feed.
NEXT_LINE = "\r\n"


class TerminalScreen:
    """Draws each frame over the last from the top left corner, without clearing the screen
    first (no flicker), and leaves the cursor visible below the last frame when closed."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.drawn = False
        self.cursor_below = False  # the cursor is on the line under the frame
        self.size_drawn = (0, 0)

    def size(self) -> tuple[int, int]:
        """(columns, lines) of the terminal `out` writes to, read again at each call."""
        try:
            columns, lines = os.get_terminal_size(self.out.fileno())
        except (OSError, ValueError):
            columns = lines = 0
        if columns <= 0 or lines <= 0:  # a terminal that never said: $COLUMNS, $LINES or 80x24
            columns, lines = shutil.get_terminal_size()
        return columns, lines

    def draw(self, lines: Sequence[str], width: int, height: int) -> None:
        parts = [HOME] if self.drawn else [HIDE_CURSOR, HOME]
        if (width, height) != self.size_drawn:
            # A new size: what was on the screen was cut or rewrapped by the terminal (tmux
            # even keeps its lines marked as wrapped), so it goes, this once.
            parts.append(CLEAR_TO_SCREEN_END)
            self.size_drawn = (width, height)
        for i, line in enumerate(lines):
            parts.append(line)
            # A line as wide as the terminal leaves the cursor on its last character, which
            # clearing would erase; there is nothing after it to clear.
            if text_width(line) < width:
                parts.append(CLEAR_TO_LINE_END)
            if i < len(lines) - 1:
                parts.append(NEXT_LINE)
        below = len(lines) < height
        if below:  # one line down, then clear what a taller frame left there
            parts.append(NEXT_LINE if lines else "")
            parts.append(CLEAR_TO_SCREEN_END)
        self.cursor_below = False
        self.out.write("".join(parts))
        self.out.flush()
        self.drawn = True
        self.cursor_below = below or not lines

    def close(self) -> None:
        """The cursor visible again, on the line under the last frame."""
        if not self.drawn:
            return
        try:
            self.out.write(("" if self.cursor_below else NEXT_LINE) + SHOW_CURSOR)
            self.out.flush()
        except OSError:
            pass  # the terminal is gone: nothing left to restore


def _encodes(out: TextIO, text: str) -> bool:
    encoding = getattr(out, "encoding", None)
    if not encoding:  # a stream of text, not bytes (io.StringIO): anything goes
        return True
    try:
        text.encode(encoding)
    except (UnicodeError, LookupError):
        return False
    return True


def run_live(
    monitor: ResourceMonitor, out: TextIO, *, interval: float, count: int, as_json: bool
) -> int:
    """Writes a frame (or a JSON line) every `interval` seconds, `count` times (0: until
    Ctrl-C), and closes the monitor. In a terminal a first frame comes at once, before the
    figures, and does not count."""
    screen = None
    if not as_json and out.isatty() and os.environ.get("TERM") != "dumb":
        screen = TerminalScreen(out)
    with monitor as mon:
        view = LiveView(mon, interval, ascii_only=not _encodes(out, SPARKS + ELLIPSIS))
        try:
            if screen is not None:
                width, height = screen.size()
                screen.draw(view.lines(width, height), width, height)
            n = 0
            asking = not as_json  # for pressure: until the monitor says it has none
            while count == 0 or n < count:
                time.sleep(interval)
                readings = mon.read_all()
                n += 1
                if as_json:
                    out.write(readings_json(readings) + "\n")
                    out.flush()
                    continue
                pressure: Optional[Pressure | DanubeMetricsError] = None
                if asking:
                    try:
                        pressure = mon.get_pressure()
                    except NotSupportedError:
                        asking = False  # nothing to show, ever: stop asking
                    except DanubeMetricsError as err:
                        pressure = err
                view.record(readings, pressure)
                if screen is not None:
                    width, height = screen.size()
                    screen.draw(view.lines(width, height), width, height)
                else:
                    out.write(view.render() + "\n\n")
                    out.flush()
        finally:
            if screen is not None:
                screen.close()
    return 0
