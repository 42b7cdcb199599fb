"""The command line and saturation (issue 14): `report --pressure` and the saturated column of
`rank`, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import run_python

from danube_metrics import LoadReport, Pressure, ResourceType, SystemLoad

NOW = 1_700_000_000


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    if cwd is None:
        return run_python("-m", "danube_metrics", *args)
    return run_python("-m", "danube_metrics", *args, cwd=cwd)


def host_has_psi() -> bool:
    try:
        with open("/proc/pressure/cpu", "rb") as f:
            f.read()
    except OSError:
        return False
    return True


def test_report_pressure_on_this_host() -> None:
    proc = run("report", "--pressure", "--interval", "0.3", "--mode", "host")
    assert proc.returncode == 0, proc.stderr
    report = LoadReport.from_json(proc.stdout)
    assert [r.resource for r in report.resources_usage] == list(ResourceType)
    if not host_has_psi():  # a kernel without PSI: left out, saying why
        assert report.pressure is None and "pressure left out" in proc.stderr
        return
    assert report.pressure is not None, proc.stderr
    assert list(json.loads(proc.stdout))[-1] == "pressure"
    p = report.pressure
    # The host monitor has the stalls; throttling is a cgroup's: null, not 0.
    assert p.cpu_throttled_percent is None and p.cpu_throttled_seconds_per_second is None
    stalls = (p.cpu_some_percent, p.memory_some_percent, p.memory_full_percent)
    stalls += (p.io_some_percent, p.io_full_percent)
    assert all(v is not None and 0.0 <= v <= 100.0 for v in stalls), p
    assert '"cpu_throttled_percent":null' in proc.stdout


def test_report_without_pressure_writes_none() -> None:
    proc = run("report", "--interval", "0.2", "--mode", "host")
    assert proc.returncode == 0, proc.stderr
    assert "pressure" not in proc.stdout and LoadReport.from_json(proc.stdout).pressure is None


def test_report_pressure_where_it_cannot_be_read_is_left_out_with_a_warning(
    tmp_path: Path,
) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "meminfo").write_text("MemTotal: 1000 kB\nMemAvailable: 250 kB\n")
    proc = run("report", "--pressure", "--root", str(tmp_path), "--interval", "0.1")
    assert proc.returncode == 0, proc.stderr
    assert LoadReport.from_json(proc.stdout).pressure is None
    assert "pressure left out: pressure: not available" in proc.stderr, proc.stderr


def write(tmp_path: Path, name: str, cpu: float, topics: int, pressure: Pressure | None) -> str:
    loads = [SystemLoad(ResourceType.CPU, cpu), SystemLoad(ResourceType.Memory, 30.0)]
    report = LoadReport(loads, topics, [f"/t/{i}" for i in range(topics)], NOW, pressure=pressure)
    (tmp_path / name).write_text(report.to_json())
    return name


def test_rank_shows_which_brokers_are_saturated(tmp_path: Path) -> None:
    throttled = Pressure(20.0, 0.0, 0.0, 0.0, 0.0, 62.0, 0.3)
    calm = Pressure(5.0, 1.0, 0.5, 2.0, 1.0, 0.0, 0.0)
    files = [
        write(tmp_path, "idle-but-throttled.json", 5.0, 0, throttled),
        write(tmp_path, "busy.json", 70.0, 5, calm),
        write(tmp_path, "old-writer.json", 60.0, 4, None),
    ]
    proc = run("rank", *files, "--now", str(NOW), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    sections = proc.stdout.split("\n\n")[1:]
    assert len(sections) == 3
    for section in sections:
        lines = section.splitlines()
        assert lines[1].split()[:4] == ["rank", "broker", "score", "saturated"], lines
        rows = {line.split()[1]: line.split() for line in lines[2:-1]}
        assert (
            rows["idle-but-throttled.json"][0] == "3"
            and rows["idle-but-throttled.json"][3] == "yes"
        )
        assert "saturated: CPU throttled 62 % of periods (> 25 %)" in section
        assert rows["busy.json"][3] == rows["old-writer.json"][3] == "no"
        assert "idle-but-throttled.json" not in lines[-1], lines[-1]
    doc = json.loads(run("rank", *files, "--now", str(NOW), "--json", cwd=tmp_path).stdout)
    for result in doc["strategies"].values():
        flags = {r["broker"]: r["saturated"] for r in result["ranking"]}
        assert flags == {
            "idle-but-throttled.json": True,
            "busy.json": False,
            "old-writer.json": False,
        }
        assert result["chosen"] != "idle-but-throttled.json"
    # Reports without pressure: the tables as before, without the column.
    plain = run("rank", "old-writer.json", "--now", str(NOW), cwd=tmp_path)
    assert "saturated" not in plain.stdout and plain.returncode == 0
