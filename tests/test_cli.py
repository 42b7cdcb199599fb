"""The danube-metrics command: live view, JSON lines, report, errors."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional

import pytest
from conftest import NEUTRAL_CWD, run_python
from test_layers import run_child

from danube_metrics import (
    DanubeMetricsError,
    InputTooLargeError,
    LoadReport,
    ReportFormatError,
    ResourceType,
    SystemLoad,
)
from danube_metrics.cli import bar, human_bytes, main, parse_args, read_topics, sparkline
from danube_metrics.inputs import DEFAULT_MAX_BYTES, read_limited, read_report_file
from danube_metrics.monitor import DEFAULT_MIN_INTERVAL
from danube_metrics.rank_cli import broker_names
from danube_metrics.rankings import STRATEGIES, STRATEGY_FORMULAS
from danube_metrics.report import detect_schema


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return run_python("-m", "danube_metrics", *args)


def test_live_view_prints_the_monitor_the_readings_and_history() -> None:
    proc = run("--count", "2", "--interval", "0.2", "--mode", "host")
    assert proc.returncode == 0, proc.stderr
    frames = proc.stdout.split("danube-metrics 0.1.0")[1:]
    assert len(frames) == 2
    last = frames[-1]
    assert "monitor: host monitor (/proc" in last
    assert "why:     host monitor requested (mode='host')" in last
    for label in ("CPU", "Memory", "Disk", "Network"):
        assert f"\n{label}" in last
    assert last.count("history") == 4
    assert "[" in last and "%" in last


@pytest.mark.parametrize("mode", ["host", "auto"])
def test_json_lines_mode(mode: str) -> None:
    proc = run("--json", "--count", "3", "--interval", "0.15", "--mode", mode)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 3
    for line in lines:
        doc = json.loads(line)
        errors = doc["errors"]
        if mode == "auto":
            # A cgroup monitor on a v1 kernel whose blkio does not count (this project's
            # machines) says so once the disks move: the one error allowed, and it says why.
            assert set(errors) <= {"disk"}, errors
            assert all("does not count" in e for e in errors.values()), errors
        else:
            assert errors == {}
        assert 0.0 <= doc["cpu_percent"] <= 100.0
        assert 0.0 < doc["memory_percent"] <= 100.0
        keys = ["net_tx_bytes_per_sec"] + ([] if errors else ["disk_read_bytes_per_sec"])
        for key in keys:
            assert doc[key] >= 0.0


def test_report_with_topics_file(tmp_path: Path) -> None:
    topics = tmp_path / "topics.txt"
    topics.write_text("# my topics\n/default/a\n\n/default/b\n")
    # The host monitor has all four readings wherever this runs (see test_json_lines_mode).
    proc = run("report", "--topics-file", str(topics), "--interval", "0.2", "--mode", "host")
    assert proc.returncode == 0, proc.stderr
    report = LoadReport.from_json(proc.stdout)
    assert report.topic_list == ["/default/a", "/default/b"]
    assert report.topics_len == 2
    assert [r.resource for r in report.resources_usage] == list(ResourceType)


def test_errors_go_to_stderr_with_non_zero_exit(tmp_path: Path) -> None:
    proc = run("report", "--topics-file", str(tmp_path / "missing.txt"))
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert "missing.txt" in proc.stderr and "error" in proc.stderr
    proc = run("--root", str(tmp_path), "--count", "1")
    assert proc.returncode == 1
    assert "proc/stat" in proc.stderr
    proc = run("--interval", "0")
    assert proc.returncode == 2
    assert "must be > 0" in proc.stderr


def test_report_of_a_broken_root_leaves_failed_resources_out(tmp_path: Path) -> None:
    proc_dir = tmp_path / "proc"
    proc_dir.mkdir()
    (proc_dir / "meminfo").write_text("MemTotal: 1000 kB\nMemAvailable: 250 kB\n")
    proc = run("report", "--root", str(tmp_path), "--interval", "0.1")
    assert proc.returncode == 0, proc.stderr
    report = LoadReport.from_json(proc.stdout)
    assert [(r.resource, r.usage) for r in report.resources_usage] == [(ResourceType.Memory, 75.0)]
    assert "cpu left out" in proc.stderr and "proc/stat" in proc.stderr


def test_helpers() -> None:
    assert human_bytes(512) == "512 B/s"
    assert human_bytes(1536) == "1.5 KiB/s"
    assert human_bytes(3 * 1024**3) == "3.0 GiB/s"
    assert bar(0.5, 10) == "[#####.....]"
    assert bar(2.0, 4) == "[####]"
    assert sparkline([0, 50, 100], 100) == "▁▅█"
    assert sparkline([0.0, 0.0], 0.0) == "▁▁"


def test_main_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--json", "--count", "1", "--interval", "0.1"]) == 0
    assert json.loads(capsys.readouterr().out)["memory_percent"] > 0


@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "0", "-1", "1e300", "abc"])
def test_an_interval_that_is_not_a_finite_positive_number_is_refused(value: str) -> None:
    # Issue 11, fault 14: "--interval inf" ended in a traceback from time.sleep.
    proc = run("--interval", value, "--count", "1")
    assert proc.returncode == 2, proc.stderr
    assert "--interval" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["--interval", "0.2", "--root", "/x", "--mode", "host", "--interfaces", "lo", "report"],
        ["report", "--interval", "0.2", "--root", "/x", "--mode", "host", "--interfaces", "lo"],
        ["--interval", "0.2", "--root", "/x", "report", "--mode", "host", "--interfaces", "lo"],
    ],
)
def test_monitor_options_count_before_and_after_the_subcommand(argv: list[str]) -> None:
    # Issue 12: given before "report", they were overwritten by the subcommand's defaults.
    from danube_metrics.cli import build_parser

    args = build_parser().parse_args(argv)
    assert (args.interval, args.root, args.mode, args.interfaces) == (0.2, "/x", "host", "lo")


def test_defaults_without_any_option() -> None:
    from danube_metrics.cli import build_parser

    for argv in (["report"], []):
        args = build_parser().parse_args(argv)
        assert (args.interval, args.root, args.mode, args.interfaces) == (1.0, "/", None, None)


def test_a_root_given_before_report_is_used(tmp_path: Path) -> None:
    proc = run("--root", str(tmp_path / "nonexistent"), "report", "--interval", "0.1")
    assert proc.returncode == 1, proc.stdout  # it exited 0, measuring "/" instead
    assert "nonexistent" in proc.stderr and proc.stdout == ""


def test_a_closed_pipe_ends_quietly() -> None:
    # `danube-metrics --json | head -1`: exit 0, no "Broken pipe" (it was exit 1 and an error).
    proc = subprocess.Popen(
        [sys.executable, "-m", "danube_metrics", "--json", "--interval", "0.05", "--count", "200"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=NEUTRAL_CWD,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert json.loads(proc.stdout.readline())
    proc.stdout.close()  # as head does after its line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert "Broken pipe" not in err and "Traceback" not in err, err


def test_an_interrupted_report_fails() -> None:
    # Ctrl-C during the measured interval: exit 130 and nothing on stdout, so that
    # `report > r.json && publish` publishes nothing (it exited 0).
    proc = subprocess.Popen(
        [sys.executable, "-m", "danube_metrics", "report", "--interval", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=NEUTRAL_CWD,
        text=True,
    )
    time.sleep(1.0)  # past the imports, into the interval
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert out == "" and "Traceback" not in err, err


# --- bounded reading (issue 12: `rank /dev/zero` grew to 4.9 GB) ---------------------------


class EndlessZeros(io.RawIOBase):
    """A stream that never ends, counting what was asked of it."""

    name = "endless"

    def __init__(self) -> None:
        self.handed_out = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)
        view[:] = b"\0" * len(view)
        self.handed_out += len(view)
        return len(view)


def test_an_endless_stream_stops_one_byte_past_the_limit() -> None:
    stream = EndlessZeros()
    with pytest.raises(InputTooLargeError) as caught:
        read_limited(stream, 3 * 1024 * 1024 + 5)
    assert stream.handed_out == 3 * 1024 * 1024 + 6
    err = caught.value
    assert (err.filename, err.limit, err.raise_with) == (
        "endless",
        3 * 1024 * 1024 + 5,
        "max_bytes",
    )
    assert str(err) == (
        "endless: larger than the limit of 3145733 bytes, not read beyond it "
        "(raise the limit with max_bytes)"
    )
    assert isinstance(err, ValueError) and isinstance(err, DanubeMetricsError)


@pytest.mark.parametrize("size", [0, 1, 1023, 1024])
def test_a_file_up_to_the_limit_is_read_whole(tmp_path: Path, size: int) -> None:
    path = tmp_path / "data"
    data = bytes(range(256)) * 4
    path.write_bytes(data[:size])
    assert read_limited(path, 1024) == data[:size]
    assert read_limited(str(path), 1024) == data[:size]
    with open(path, "rb") as f:
        assert read_limited(f, 1024) == data[:size]
    assert read_limited(io.BytesIO(data[:size]), 1024) == data[:size]


def test_a_file_past_the_limit_fails_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b" " * (2 * 1024 * 1024 + 1))
    for limit, shown in ((2 * 1024 * 1024, "2 MiB (2097152 bytes)"), (1536, "1536 bytes")):
        with pytest.raises(
            InputTooLargeError, match=re.escape(f"big.json: larger than the limit of {shown},")
        ):
            read_limited(path, limit)
    # The same past the limit from a stream (the path's size is known without reading).
    with pytest.raises(InputTooLargeError, match="<stream>: larger than the limit of 1 KiB"):
        read_limited(io.BytesIO(b"x" * 1025), 1024)


def test_the_limit_and_the_stream_are_checked() -> None:
    for bad in (0, -1, 1.5, True, "64M"):
        with pytest.raises(ValueError, match="max_bytes must be an int >= 1"):
            read_limited(io.BytesIO(b"{}"), bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="binary stream"):
        read_limited(io.StringIO("{}"))  # type: ignore[arg-type]
    assert DEFAULT_MAX_BYTES == 64 * 1024 * 1024


def test_read_report_file_reads_either_schema_from_a_path_or_a_stream(tmp_path: Path) -> None:
    report = LoadReport([SystemLoad(ResourceType.CPU, 12.5)], 1, ["/a"], 1700000000, broker_id=7)
    path = tmp_path / "r.json"
    path.write_text(report.to_json(schema="upstream"), encoding="utf-8")
    read = read_report_file(path)
    assert (
        read.broker_id == 7 and read.topic_list == ["/a"] and read.usage(ResourceType.CPU) == 12.5
    )
    assert read_report_file(io.BytesIO(report.to_json().encode())) == LoadReport(
        report.resources_usage, 1, ["/a"], 1700000000
    )
    # Read as the seed schema on request: upstream's document lacks its fields.
    with pytest.raises(ReportFormatError, match=r"r\.json: seed schema: missing field"):
        read_report_file(path, schema="seed")
    with pytest.raises(InputTooLargeError, match=r"r\.json: larger than the limit of 10 bytes"):
        read_report_file(path, max_bytes=10)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b'{"resources_usage":[],\n"topic_list":["\xe9"]}',
            "not UTF-8: byte 0xe9 at offset 38 (line 2)",
        ),
        (b'{"resources_usage":[\xf0\x9f', "not UTF-8: byte 0xf0 at offset 20 (line 1)"),
        (b'{"resources_usage": [', "not valid JSON: Expecting value"),
        (b"", "empty, not a report"),
        (b" \n", "empty, not a report"),
        (b'{"topics_len":1}', "seed schema: missing field 'resources_usage'"),
    ],
)
def test_read_report_file_names_the_file_and_the_cause(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ReportFormatError) as caught:
        read_report_file(path)
    assert str(caught.value).startswith(f"{path}: {message}"), caught.value


def test_an_unknown_schema_is_refused_before_anything_is_read() -> None:
    stream = EndlessZeros()
    with pytest.raises(ValueError, match="unknown schema 'v2'"):
        read_report_file(stream, schema="v2")  # type: ignore[arg-type]
    assert stream.handed_out == 0


def test_the_reader_needs_no_c_extension() -> None:
    run_child(
        """
        import io
        from danube_metrics.inputs import read_report_file

        text = '{"resources_usage":[],"topics_len":0,"topic_list":[],"timestamp":1}'
        assert read_report_file(io.BytesIO(text.encode())).timestamp == 1
        """,
        block_native=True,
    )


# A child that runs the command in process and prints how much its peak RSS grew (KiB) and its
# exit code: the growth shows how much of the input was held.
RSS_CHILD = """
import resource, sys
from danube_metrics.cli import main
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
code = main(sys.argv[1:])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(after - before, code)
"""
MiB = 1024 * 1024


def rss_growth_of(*argv: str, timeout: float = 120) -> tuple[int, int, str]:
    """(peak RSS growth in KiB, exit code, stderr) of the command run in a child."""
    proc = run_python("-c", RSS_CHILD, *argv, timeout=timeout)
    growth, code = proc.stdout.split()
    return int(growth), int(code), proc.stderr


def test_rank_of_dev_zero_stops_at_the_limit_with_bounded_memory() -> None:
    growth, code, err = rss_growth_of("rank", "--max-bytes", "8M", "/dev/zero")
    assert code == 1
    assert err.strip() == (
        "danube-metrics: error: /dev/zero: larger than the limit of 8 MiB (8388608 bytes), "
        "not read beyond it (raise the limit with --max-bytes)"
    )
    # An endless input: what was held is the limit and its copy at most, far below any
    # amount /dev/zero could have fed.
    assert growth < 3 * 8 * 1024, growth


def test_a_fifo_fed_forever_stops_at_the_limit(tmp_path: Path) -> None:
    fifo = tmp_path / "reports.fifo"
    os.mkfifo(fifo)
    fed = 0

    def feed() -> None:
        nonlocal fed
        chunk = b"[" * 65536
        try:
            with open(fifo, "wb", buffering=0) as f:
                while True:  # until the reader goes away
                    fed += f.write(chunk)
        except BrokenPipeError:
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    growth, code, err = rss_growth_of("rank", "--max-bytes", "4M", str(fifo))
    writer.join(timeout=60)
    assert not writer.is_alive()
    assert code == 1
    assert f"{fifo}: larger than the limit of 4 MiB" in err and "--max-bytes" in err, err
    # The reader stopped one byte past the limit: the writer got no further than that and
    # what the pipe holds (at most 1 MiB, pipe-max-size's default).
    assert 4 * MiB < fed <= 5 * MiB + 65536, fed
    assert growth < 3 * 4 * 1024, growth


# --- rank: --json, standard input, names, exit codes, conflicts, errors ---------------------

NOW = 1_700_000_000


def seed_report(cpu: float, mem: float, topics: int, age: int) -> LoadReport:
    names = [f"/t/{i}" for i in range(topics)]
    loads = [SystemLoad(ResourceType.CPU, cpu), SystemLoad(ResourceType.Memory, mem)]
    return LoadReport(loads, topics, names, NOW - age)


def write_reports(tmp_path: Path) -> list[str]:
    """a/r.json and b/r.json (seed, same file name), an upstream broker 7 without CPU and
    memory figures, and a stale upstream broker 9."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "r.json").write_text(seed_report(30, 40, 2, 30).to_json())
    (tmp_path / "b" / "r.json").write_text(seed_report(60, 20, 1, 20).to_json())
    blind = LoadReport([SystemLoad(ResourceType.DiskIO, 2e6)], 0, [], NOW - 10, broker_id=7)
    (tmp_path / "up.json").write_text(blind.to_json(schema="upstream"))
    stale = LoadReport(seed_report(1, 1, 0, 0).resources_usage, 0, [], NOW - 600, broker_id=9)
    (tmp_path / "stale.json").write_text(stale.to_json(schema="upstream"))
    return ["a/r.json", "b/r.json", "up.json", "stale.json"]


def rank_in(tmp_path: Path, *args: str, stdin: Optional[bytes] = None) -> Any:
    """`danube-metrics rank ARGS` run in tmp_path, with `stdin` as its standard input."""
    if stdin is None:
        return run_python("-m", "danube_metrics", "rank", *args, cwd=tmp_path)
    return run_python(
        "-m", "danube_metrics", "rank", *args, cwd=tmp_path, stdin=None, input=stdin.decode()
    )


def test_reports_with_the_same_file_name_are_told_apart(tmp_path: Path) -> None:
    # Issue 12: both were named "r.json", and the second was refused as read twice.
    proc = rank_in(tmp_path, *write_reports(tmp_path), "--now", str(NOW), "--strategy", "fair")
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()[2:6]]
    assert [(row[0], row[-1]) for row in rows] == [
        ("a/r.json", "a/r.json"),
        ("b/r.json", "b/r.json"),
        ("7", "up.json"),
        ("9", "stale.json"),
    ]


@pytest.mark.parametrize(
    ("paths", "names"),
    [
        (["r.json"], ["r.json"]),
        (["x/r.json", "y/s.json"], ["r.json", "s.json"]),
        (["a/r.json", "b/r.json", "c/q.json"], ["a/r.json", "b/r.json", "q.json"]),
        (["./a//r.json", "/x/a/r.json"], ["a/r.json", "x/a/r.json"]),
        (["1/a/r.json", "2/a/r.json", "b/r.json"], ["1/a/r.json", "2/a/r.json", "b/r.json"]),
        (["a/r.json", "./a/r.json"], ["a/r.json", "a/r.json"]),  # one file twice: refused
    ],
)
def test_broker_names_are_the_shortest_distinct_ends_of_the_paths(
    paths: list[str], names: list[str]
) -> None:
    assert broker_names(paths) == names


def test_the_same_file_twice_is_still_refused(tmp_path: Path) -> None:
    write_reports(tmp_path)
    proc = rank_in(tmp_path, "a/r.json", "./a/r.json")
    assert proc.returncode == 1
    assert "./a/r.json: broker a/r.json already read from a/r.json" in proc.stderr


def parse_tables(text: str) -> dict[str, tuple[list[list[str]], str]]:
    """Each strategy's rows (rank, broker, score, notes) and its choice, from the tables."""
    tables = {}
    for section in text.split("\n\n")[1:]:
        lines = section.splitlines()
        strategy = lines[0].split(":")[0]
        rows = [
            list(re.fullmatch(r"\s+(\d+|-)\s+(\S+)\s+(not chosen|[\d.]+)\s*(.*)", line).groups())
            for line in lines[2:-1]
        ]
        tables[strategy] = (rows, lines[-1].split("a new topic goes to: ")[1])
    return tables


def test_rank_json_is_one_document_that_agrees_with_the_tables(tmp_path: Path) -> None:
    paths = write_reports(tmp_path)
    table = rank_in(tmp_path, *paths, "--now", str(NOW))
    assert table.returncode == 0, table.stderr
    both_sides = [
        rank_in(tmp_path, *paths, "--now", str(NOW), "--json"),
        run_python(
            "-m", "danube_metrics", "--json", "rank", *paths, "--now", str(NOW), cwd=tmp_path
        ),
    ]
    assert both_sides[0].stdout == both_sides[1].stdout
    proc = both_sides[0]
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    doc = json.loads(proc.stdout)
    assert set(doc) == {"judged_at", "max_age", "reports", "strategies"}
    assert (doc["judged_at"], doc["max_age"]) == (NOW, 90.0)
    assert doc["reports"][0] == {
        "broker": "a/r.json",
        "file": "a/r.json",
        "schema": "seed",
        "timestamp": NOW - 30,
        "age": 30.0,
        "topics": 2,
        "figures": {"CPU": 30.0, "Memory": 40.0, "DiskIO": None, "NetworkIO": None},
    }
    assert [(r["broker"], r["schema"]) for r in doc["reports"][1:]] == [
        ("b/r.json", "seed"),
        (7, "upstream"),
        (9, "upstream"),
    ]
    tables = parse_tables(table.stdout)
    assert list(doc["strategies"]) == list(tables) == list(STRATEGIES)
    for strategy, result in doc["strategies"].items():
        rows, chosen = tables[strategy]
        assert result["formula"] == STRATEGY_FORMULAS[strategy]
        assert [
            [
                "-" if r["rank"] is None else str(r["rank"]),
                str(r["broker"]),
                "not chosen" if r["score"] is None else f"{r['score']:.2f}",
                "; ".join(r["notes"]),
            ]
            for r in result["ranking"]
        ] == rows
        assert str(result["chosen"]) == chosen
        stale = result["ranking"][-1]
        assert stale["broker"] == 9 and stale["eligible"] is False and stale["score"] is None
        assert stale["notes"] == ["stale: report is 600 s old (max 90 s)"]
        assert all(r["eligible"] and r["score"] >= 0 for r in result["ranking"][:-1])
    notes = {r["broker"]: r["notes"] for r in doc["strategies"]["balanced"]["ranking"]}
    assert "CPU unknown: counted as 100 %" in "; ".join(notes[7])


def test_rank_reads_one_report_from_standard_input(tmp_path: Path) -> None:
    write_reports(tmp_path)
    text = (tmp_path / "up.json").read_bytes()
    proc = rank_in(tmp_path, "a/r.json", "-", "--now", str(NOW), "--json", stdin=text)
    assert proc.returncode == 0, proc.stderr
    reports = json.loads(proc.stdout)["reports"]
    assert [(r["broker"], r["file"]) for r in reports] == [("r.json", "a/r.json"), (7, "<stdin>")]
    # A report without a broker_id from standard input is named by it.
    proc = rank_in(
        tmp_path, "-", "--json", "--any-age", stdin=seed_report(1, 2, 0, 0).to_json().encode()
    )
    assert json.loads(proc.stdout)["strategies"]["fair"]["chosen"] == "<stdin>"
    proc = rank_in(tmp_path, "-", "up.json", "-", stdin=text)
    assert proc.returncode == 2 and "FILE - (standard input) may be given once" in proc.stderr
    proc = rank_in(tmp_path, "--max-bytes", "64", "-", stdin=text)
    assert proc.returncode == 1
    assert (
        "<stdin>: larger than the limit of 64 bytes" in proc.stderr and "--max-bytes" in proc.stderr
    )


def test_rank_exits_3_when_no_broker_can_be_chosen(tmp_path: Path) -> None:
    write_reports(tmp_path)
    for extra in ([], ["--json"]):
        proc = rank_in(tmp_path, "stale.json", "--now", str(NOW), *extra)
        assert proc.returncode == 3, proc.stderr
        assert proc.stderr == (
            "danube-metrics: no broker can be chosen (fair, balanced, weighted_load): every "
            "report is stale (older than 90 s, or dated that far ahead)\n"
        )
        assert "stale: report is 600 s old" in proc.stdout  # the output is still printed
    assert json.loads(proc.stdout)["strategies"]["fair"]["chosen"] is None
    # One fresh report is enough; and --any-age makes the stale one eligible.
    assert rank_in(tmp_path, "stale.json", "up.json", "--now", str(NOW)).returncode == 0
    assert rank_in(tmp_path, "stale.json", "--now", str(NOW), "--any-age").returncode == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["rank", "--any-age", "--max-age", "5", "r.json"],
            "--max-age: not allowed with argument --any-age",
        ),
        (
            ["rank", "r.json", "--max-age", "5", "--any-age"],
            "--any-age: not allowed with argument --max-age",
        ),
        (["--count", "3", "rank", "r.json"], "--count is for the live view, not rank"),
        (["--count", "0", "report"], "--count is for the live view, not report"),
        (
            ["--root", "/x", "--interval", "2", "rank", "r.json"],
            "--root, --interval: for the live view, report and publish, not rank",
        ),
        (
            ["--mode", "host", "cluster", "--store", "dir:///x"],
            "--mode: for the live view, report and publish, not cluster",
        ),
        (
            ["--mode", "host", "--interfaces", "lo", "rank", "r.json"],
            "--mode, --interfaces: for the live view, report and publish, not rank",
        ),
        (["--json", "report"], "--json is for the live view and rank; report always prints JSON"),
        (
            ["report", "--broker-id", "7"],
            "--broker-id: the seed schema has no broker id; add --schema upstream",
        ),
        (["report", "--schema", "upstream"], "--schema upstream needs --broker-id N"),
        (
            ["report", "--schema", "upstream", "--broker-id", "-1"],
            "--broker-id: must be an integer from 0 to 2^64-1",
        ),
        (
            ["report", "--schema", "upstream", "--broker-id", str(2**64)],
            "must be an integer from 0 to 2^64-1",
        ),
        (["report", "--schema", "v2", "--broker-id", "1"], "--schema: invalid choice: 'v2'"),
        (["rank", "--max-bytes", "0", "r.json"], "--max-bytes: must be at least 1 byte"),
        (["rank", "--max-bytes", "12T", "r.json"], "--max-bytes: not a size in bytes"),
    ],
)
def test_options_that_conflict_or_would_be_ignored_are_refused(
    argv: list[str], message: str
) -> None:
    proc = run(*argv)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "usage:" in proc.stderr, proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("65536", 65536),
        ("512K", 512 << 10),
        ("64M", 64 << 20),
        ("1g", 1 << 30),
        ("64MiB", 64 << 20),
    ],
)
def test_max_bytes_takes_sizes_in_bytes_kib_mib_gib(text: str, size: int) -> None:
    args = parse_args(["rank", "--max-bytes", text, "r.json"])
    assert args.max_bytes == size
    assert parse_args(["rank", "r.json"]).max_bytes == DEFAULT_MAX_BYTES


def test_rank_errors_name_the_file_and_the_cause(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.json"
    good.write_text(seed_report(10, 10, 0, 0).to_json())
    (tmp_path / "latin1.json").write_bytes(b'{"topic_list":["caf\xe9"]}')
    (tmp_path / "cut.json").write_text('{"resources_usage":')
    (tmp_path / "big.json").write_text(" " * 2048 + "{}")
    (tmp_path / "folder").mkdir()
    cases = [
        ("missing.json", "missing.json: cannot read: No such file or directory"),
        ("folder", "folder: cannot read: Is a directory"),
        (
            "latin1.json",
            "latin1.json: not UTF-8: byte 0xe9 at offset 19 (line 1): invalid continuation byte",
        ),
        ("cut.json", "cut.json: not valid JSON: Expecting value: line 1 column 20 (char 19)"),
        (
            "big.json",
            "big.json: larger than the limit of 2 KiB (2048 bytes), not read beyond it "
            "(raise the limit with --max-bytes)",
        ),
    ]
    for name, message in cases:
        assert main(["rank", "--max-bytes", "2K", str(good), str(tmp_path / name)]) == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err == f"danube-metrics: error: {tmp_path}/{message}\n"


# --- report: --schema, --broker-id, the topics file ----------------------------------------


@pytest.mark.parametrize("schema", ["seed", "upstream"])
def test_report_writes_either_schema(tmp_path: Path, schema: str) -> None:
    topics = tmp_path / "topics.txt"
    topics.write_text("/default/a\n/default/b\n")
    extra = ["--broker-id", str(2**64 - 1)] if schema == "upstream" else []
    proc = run(
        "report",
        "--schema",
        schema,
        *extra,
        "--topics-file",
        str(topics),
        "--interval",
        "0.2",
        "--mode",
        "host",
    )
    assert proc.returncode == 0, proc.stderr
    assert detect_schema(json.loads(proc.stdout)) == schema
    report = LoadReport.from_json(proc.stdout)
    assert report.topic_list == ["/default/a", "/default/b"]
    assert [r.resource for r in report.resources_usage] == list(ResourceType)
    if schema == "upstream":
        assert report.broker_id == 2**64 - 1
        assert [t.topic_name for t in report.topics or []] == report.topic_list
    else:
        assert report.broker_id is None and "broker_id" not in proc.stdout


def test_a_topics_file_that_is_not_utf8_names_the_file_and_the_byte(tmp_path: Path) -> None:
    topics = tmp_path / "topics.txt"
    topics.write_bytes(b"/default/a\n/default/caf\xe9\n")
    proc = run("report", "--topics-file", str(topics), "--interval", "0.1")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == (
        f"danube-metrics: error: {topics}: not UTF-8: byte 0xe9 at offset 23 (line 2): "
        "invalid continuation byte\n"
    )


def test_a_topics_file_is_bounded_too(tmp_path: Path) -> None:
    topics = tmp_path / "topics.txt"
    topics.write_text("/default/a\n" * 100)
    proc = run("report", "--topics-file", str(topics), "--max-bytes", "1K")
    assert proc.returncode == 1 and proc.stdout == ""
    assert f"{topics}: larger than the limit of 1 KiB (1024 bytes)" in proc.stderr
    assert "--max-bytes" in proc.stderr
    proc = run("report", "--topics-file", "/dev/zero", "--max-bytes", "1M")
    assert proc.returncode == 1 and "/dev/zero: larger than the limit of 1 MiB" in proc.stderr


def test_read_topics_skips_comments_and_blank_lines_and_a_byte_order_mark(tmp_path: Path) -> None:
    topics = tmp_path / "topics.txt"
    topics.write_bytes("\ufeff/a\r\n# note\n\n  /b  \r/c".encode())
    assert read_topics(str(topics)) == ["/a", "/b", "/c"]
    topics.write_bytes(b"")
    assert read_topics(str(topics)) == []


# --- --help ------------------------------------------------------------------------------


def test_help_explains_count_0_and_intervals_below_the_minimum() -> None:
    proc = run("--help")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    assert "--count 0, the default, runs the live view until Ctrl-C" in text
    assert "--interval below the monitor's minimum interval of 0.1 s" in text
    assert "its figures change at most every 0.1 s" in text
    assert "20 clock ticks" in text and "less than 10 ms" in text
    report_help = " ".join(run("report", "--help").stdout.split())
    assert "--interval below the monitor's minimum interval of 0.1 s" in report_help
    assert "--schema {seed,upstream}" in report_help and "--broker-id N" in report_help
    rank_help = " ".join(run("rank", "--help").stdout.split())
    assert "- reads one from standard input" in rank_help
    assert "a/r.json and b/r.json" in rank_help
    assert "3 when no broker can be chosen" in rank_help
    # The minimum the help states is the monitor's.
    assert DEFAULT_MIN_INTERVAL == 0.1
