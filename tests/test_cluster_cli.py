"""The cluster commands as a person meets them (issue 15, with issue 14's saturation): the
`publish` status lines and the `cluster` table in a real terminal (tmux), cut to the window;
the pressure each published report carries; and the saturated column of the table.

On folder stores: no etcd is needed. tests/test_cluster.py has the fault tests.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest
from conftest import NEUTRAL_CWD, run_python
from tmux import Tmux, exit_line, tmux_windows

from danube_metrics.cluster import ClusterView, DirectoryStore
from danube_metrics.cluster_cli import fit_to_terminal, render_cluster
from danube_metrics.readings import Pressure
from danube_metrics.report import UPSTREAM, LoadReport, ResourceType, SystemLoad

HOST_PSI = Path("/proc/pressure/cpu")


def host_has_psi() -> bool:
    try:
        HOST_PSI.read_bytes()
    except OSError:
        return False
    return True


@pytest.fixture()
def tmux_run(tmp_path: Path) -> Iterator[Callable[..., Tmux]]:
    yield from tmux_windows(tmp_path)


def until_exit(t: Tmux) -> list[str]:
    lines, _ = t.wait_for_exit()
    return [line.rstrip() for line in lines[: next(i for i, x in enumerate(lines) if exit_line(x))]]


def test_publish_in_a_terminal_says_each_publish_in_one_line_that_fits(
    tmux_run: Callable[..., Tmux], tmp_path: Path
) -> None:
    # A long path: the store is said once, cut to the window; each publish fits on its own.
    store = tmp_path / ("a-rather-long-folder-name-" * 3) / "load"
    t = tmux_run(
        "publish", "--store", f"dir://{store}", "--broker-id", "4", "--interval", "0.3",
        "--publishes", "3", width=60, height=24,
    )  # fmt: skip
    # A log line (a reading left out, said once) may come between: stderr shares the terminal.
    shown = [line for line in until_exit(t) if not line.startswith("danube-metrics: ")]
    assert len(shown) == 4, shown
    assert shown[0].startswith("broker 4 publishing to dir://"), shown
    assert shown[0].endswith("…"), shown
    for n, line in enumerate(shown[1:], 1):
        assert f" published #{n}: CPU " in line and ", Memory " in line and "0 topics" in line
        assert "failed" not in line  # said only when something failed
    assert all(len(line) <= 60 for line in shown), shown
    assert not (store / "4.json").exists()  # withdrawn when it stopped


def test_publish_to_a_pipe_is_quiet(tmp_path: Path) -> None:
    url = f"dir://{tmp_path / 'load'}"
    done = run_python(
        "-m", "danube_metrics", "publish", "--store", url, "--broker-id", "5",
        "--interval", "0.2", "--publishes", "2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""


def published_report(tmp_path: Path, *extra: str, mode: tuple[str, ...] = ()) -> LoadReport:
    """The report a `publish` process wrote (read while it runs: stopping withdraws it)."""
    load = tmp_path / "load"
    proc = subprocess.Popen(
        [sys.executable, "-m", "danube_metrics", *mode, "publish", "--store", f"dir://{load}",
         "--broker-id", "6", "--interval", "0.3", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=NEUTRAL_CWD,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (load / "6.json").exists():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "no report was published"
            time.sleep(0.05)
        return LoadReport.from_json((load / "6.json").read_bytes())
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_published_reports_carry_pressure_unless_told_not_to(tmp_path: Path) -> None:
    # The host monitor (--mode before the command, as for the live view): this machine's
    # cgroup monitor is v1 without a quota, which has no pressure at all.
    with_pressure = published_report(tmp_path / "a", mode=("--mode", "host"))
    if host_has_psi():
        # Even the first report: the publisher took the pressure baseline when it started.
        assert with_pressure.pressure is not None
        assert with_pressure.pressure.cpu_some_percent is not None
        assert '"pressure"' in with_pressure.to_json(schema=UPSTREAM)
    without = published_report(tmp_path / "b", "--no-pressure", mode=("--mode", "host"))
    assert without.pressure is None
    assert without.usage(ResourceType.CPU) is not None


def report_with(broker: int, cpu: float, pressure: Pressure | None) -> str:
    usage = [SystemLoad(ResourceType.CPU, cpu), SystemLoad(ResourceType.Memory, 30.0)]
    report = LoadReport(usage, 0, [], broker_id=broker, pressure=pressure)
    return report.to_json(schema=UPSTREAM)


CALM = Pressure(1.0, 0.0, 0.0, 0.0, 0.0, None, None)
THRASHING = Pressure(5.0, 40.0, 30.0, 0.0, 0.0, None, None)  # memory full 30 % > 10 %


def test_the_cluster_table_says_which_broker_is_saturated_and_why(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path / "load", ttl=30.0, poll_interval=0.05)
    for broker, cpu, pressure in ((1, 10.0, THRASHING), (2, 60.0, CALM), (3, 40.0, None)):
        store.register(broker, 30.0).publish(report_with(broker, cpu, pressure))
    with ClusterView(store) as view:
        assert view.wait_until(lambda reports: len(reports) == 3, 30)
        table = render_cluster(view, "balanced").split("\n")
    header = next(line for line in table if "saturated" in line)
    end = header.index("saturated") + len("saturated")  # the column is right-aligned
    rows = {line.split()[1]: line[:end].rsplit(None, 1)[-1] for line in table
            if line[:6].strip().isdigit()}  # fmt: skip
    assert rows == {"1": "yes", "2": "no", "3": "-"}, table
    # The saturated broker ranks last although its CPU is the lowest, and the table says why.
    assert [line.split()[1] for line in table if line[:6].strip().isdigit()][-1] == "1"
    assert any(line.startswith("  broker 1 saturated: memory full") for line in table), table


def test_fit_to_terminal_cuts_lines_and_rows() -> None:
    text = "\n".join(f"line {i} " + "x" * 50 for i in range(30))
    fitted = fit_to_terminal(text, 20, 10).split("\n")
    assert len(fitted) == 9  # a row left for the cursor
    assert all(len(line) <= 20 for line in fitted)
    assert fitted[0] == "line 0 " + "x" * 12 + "…"
    assert fitted[-1].startswith("  (22 more lines")
    assert fit_to_terminal("short\nlines", 80, 24) == "short\nlines"
    assert fit_to_terminal("é" * 30, 10, 5, ascii_only=True) == "?" * 7 + "..."


def test_cluster_in_a_terminal_fits_the_window(
    tmux_run: Callable[..., Tmux], tmp_path: Path
) -> None:
    store = DirectoryStore(tmp_path / "load", ttl=60.0)
    for broker in range(1, 41):  # more brokers than the window has rows
        store.register(broker, 60.0).publish(report_with(broker, float(broker), CALM))
    t = tmux_run(
        "cluster", "--store", f"dir://{tmp_path / 'load'}", "--refresh", "0.2",
        "--refreshes", "20", width=50, height=12,
    )  # fmt: skip
    # While it runs: the title on top, the last of the window's rows left for the cursor.
    title = "40 live brokers, balanced, at "
    shown = t.wait_for("the table", lambda lines: lines[0].startswith(title))
    frame = [line.rstrip() for line in shown[:11]]
    assert all(len(line) <= 50 for line in shown), shown
    assert frame[1].lstrip().startswith("rank") and "more lines" in frame[-1], shown
    assert not shown[11].strip(), shown
    until_exit(t)
