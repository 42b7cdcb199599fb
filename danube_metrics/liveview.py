"""The live view of ``danube-metrics``: the four figures with bars and a short history, redrawn
each interval, or one JSON object per interval."""

from __future__ import annotations

import collections
import json
import time
from collections.abc import Sequence
from typing import Optional, TextIO

from danube_metrics import __version__
from danube_metrics.monitor import Readings, ResourceMonitor

__all__ = ["LiveView", "bar", "human_bytes", "readings_json", "run_live", "sparkline"]

BAR_WIDTH = 30
HISTORY = 40
# The lowest level is a visible bar: an idle history must still show as a line.
SPARKS = "▁▂▃▄▅▆▇█"


def human_bytes(rate: float) -> str:
    """1536.0 -> '1.5 KiB/s'."""
    value = float(rate)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}/s" if unit == "B" else f"{value:.1f} {unit}/s"
        value /= 1024
    raise AssertionError("unreachable")


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    fraction = min(max(fraction, 0.0), 1.0)
    filled = round(fraction * width)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def sparkline(values: Sequence[float], top: float) -> str:
    if top <= 0:
        return SPARKS[0] * len(values)
    top_level = len(SPARKS) - 1
    return "".join(SPARKS[max(0, min(top_level, round(v / top * top_level)))] for v in values)


class LiveView:
    """Renders readings with bars and a short history of each figure."""

    def __init__(self, monitor: ResourceMonitor) -> None:
        self.monitor = monitor
        self.history: dict[str, collections.deque[float]] = {
            k: collections.deque(maxlen=HISTORY) for k in ("cpu", "memory", "disk", "network")
        }
        self.peak = {"disk": 1.0, "network": 1.0}

    def render(self, readings: Readings) -> str:
        lines = [
            f"danube-metrics {__version__}   {time.strftime('%Y-%m-%d %H:%M:%S')}",
            f"monitor: {self.monitor.describe()}",
            f"why:     {self.monitor.selection_reason}",
            f"where:   {self.monitor.environment.describe()}",
            "",
        ]

        def row(key: str, label: str, value: Optional[float], text: str, top: float) -> None:
            if value is None:
                err = readings.errors.get(key)
                lines.append(f"{label:<8} unavailable: {err}")
                return
            self.history[key].append(value)
            lines.append(f"{label:<8} {text:>22} {bar(value / top)}")
            lines.append(f"{'':<8} {'history':>22}  {sparkline(list(self.history[key]), top)}")

        row("cpu", "CPU", readings.cpu_percent, f"{readings.cpu_percent or 0:.1f} %", 100.0)
        row(
            "memory",
            "Memory",
            readings.memory_percent,
            f"{readings.memory_percent or 0:.1f} %",
            100.0,
        )
        for key, label, stats in (
            ("disk", "Disk", readings.disk),
            ("network", "Network", readings.network),
        ):
            if stats is None:
                row(key, label, None, "", 1.0)
                continue
            total = stats.total_bytes_per_sec()
            self.peak[key] = max(self.peak[key], total)
            a, b = stats
            names = ("r", "w") if key == "disk" else ("rx", "tx")
            text = f"{names[0]} {human_bytes(a)}  {names[1]} {human_bytes(b)}"
            row(key, label, total, text, self.peak[key])
        lines.append("")
        lines.append("bars: CPU and memory against 100 %; disk and network against their peak")
        return "\n".join(lines)


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


def run_live(
    monitor: ResourceMonitor, out: TextIO, *, interval: float, count: int, as_json: bool
) -> int:
    """Writes a frame (or a JSON line) every `interval` seconds, `count` times (0: until
    Ctrl-C), and closes the monitor."""
    interactive = out.isatty() and not as_json
    with monitor as mon:
        view = LiveView(mon)
        n = 0
        while count == 0 or n < count:
            time.sleep(interval)
            readings = mon.read_all()
            n += 1
            if as_json:
                out.write(readings_json(readings) + "\n")
            else:
                frame = view.render(readings)
                out.write(("\x1b[H\x1b[2J" + frame) if interactive else frame + "\n\n")
            out.flush()
    return 0
