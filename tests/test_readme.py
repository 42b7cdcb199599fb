"""The README's examples, run as a reader would paste them, against the installed package.

- Every ```python block runs on its own, as a script in an empty temporary directory (so the
  installed package is imported, not the source tree), and must exit 0.
- Every command line of the package in a ```sh block (``danube-metrics ...``, also after
  ``.venv/bin/`` or ``&&``, and ``python -m danube_metrics ...``) runs for real and must exit 0,
  in a directory holding the files it names (topics.txt, broker*.json, expanded as a shell
  would); the live view, which runs until Ctrl-C, gets SIGINT once it has shown a frame. Other shell
  lines (installs, the test run, tools/) are setup, not examples of the package, and are not
  run here (.ci/run runs the README's test command).
- A ``$ danube-metrics ...`` line in an output example names files the README does not ship:
  it is run to check that it parses (no usage error).
- A block that cannot run here carries ``<!-- not-run: reason -->`` on the line before its
  fence; it is reported as skipped with that reason.

The runs start together (they mostly sleep through their intervals), so the whole file costs
about as long as its longest command.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest
from conftest import REPO

README = REPO / "README.md"
TIMEOUT = 60  # seconds for one example; the longest takes about 5
FRAME_WAIT = 20  # seconds for the live view's first frame (it comes after one interval)

FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
NOT_RUN = re.compile(r"^\s*<!--\s*not-run:\s*(.*?)\s*-->\s*$")
PYTHONS = {"python", "python3", ".venv/bin/python", ".venv/bin/python3"}
TOPICS = ["/default/orders", "/default/new"]


def command_files() -> dict[str, str]:
    """The files the README's commands name (topics.txt, broker*.json), made where they run:
    two fresh reports, one in each schema."""
    from danube_metrics import LoadReport, ResourceType, SystemLoad

    def usage(cpu: float) -> list[SystemLoad]:
        return [SystemLoad(ResourceType.CPU, cpu), SystemLoad(ResourceType.Memory, 40.0)]

    upstream = LoadReport(usage(62.0), 1, ["/t/1"], broker_id=1)
    seed = LoadReport(usage(35.0), 2, ["/t/2", "/t/3"])
    return {
        "topics.txt": "".join(f"{t}\n" for t in TOPICS),
        "broker1.json": upstream.to_json(schema="upstream"),
        "broker2.json": seed.to_json(),
    }


@dataclass(frozen=True)
class Block:
    lang: str
    line: int  # of the opening fence, 1-based
    text: str
    not_run: Optional[str]  # the marker's reason


def readme_blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown text, with the not-run marker of each."""
    blocks = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, lang = opening.groups()
        previous = next((ln for ln in reversed(lines[:i]) if ln.strip()), "")
        marker = NOT_RUN.match(previous)
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
        if end is None:
            raise ValueError(f"README.md:{i + 1}: a ``` block that never closes")
        body = [ln[len(indent) :] if ln.startswith(indent) else ln for ln in lines[i + 1 : end]]
        blocks.append(Block(lang, i + 1, "\n".join(body) + "\n", marker and marker.group(1)))
        i = end + 1
    return blocks


@dataclass(frozen=True)
class Command:
    line: int  # in README.md
    text: str  # as written
    args: tuple[str, ...]  # after the program
    module: bool  # python -m danube_metrics, rather than the danube-metrics script
    parse_only: bool
    not_run: Optional[str]

    @property
    def id(self) -> str:
        return f"line{self.line}: {self.text}"


def package_command(words: list[str]) -> Optional[tuple[tuple[str, ...], bool]]:
    """(arguments, run as a module) when `words` run the package, else None."""
    if words and os.path.basename(words[0]) == "danube-metrics":
        return tuple(words[1:]), False
    if len(words) >= 3 and words[0] in PYTHONS and words[1:3] == ["-m", "danube_metrics"]:
        return tuple(words[3:]), True
    return None


def readme_commands(blocks: list[Block]) -> list[Command]:
    commands = []
    for block in blocks:
        for n, raw in enumerate(block.text.splitlines(), start=block.line + 1):
            if block.lang == "sh":
                line, parse_only = raw, False
            elif raw.startswith("$ "):
                line, parse_only = raw[2:], True
            else:
                continue
            words = shlex.split(line, comments=True)
            segment: list[str] = []
            for word in [*words, "&&"]:
                if word not in ("&&", "||", ";", "|"):
                    segment.append(word)
                    continue
                found = package_command(segment)
                if found:
                    args, module = found
                    text = " ".join(segment)
                    commands.append(Command(n, text, args, module, parse_only, block.not_run))
                segment = []
    return commands


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))
PYTHON_BLOCKS = [b for b in BLOCKS if b.lang == "python"]
COMMANDS = readme_commands(BLOCKS)


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def report(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def script_path() -> str:
    """The installed danube-metrics script: beside this interpreter (a venv), else on PATH."""
    beside = Path(sys.executable).parent / "danube-metrics"
    if beside.exists():
        return str(beside)
    found = shutil.which("danube-metrics")
    assert found, "the danube-metrics script is not installed (pip install the package)"
    return found


def expand(command: Command, cwd: Path) -> list[str]:
    # As a shell would: a pattern that matches files becomes their names.
    args = []
    for arg in command.args:
        pattern = any(c in arg for c in "*?[")
        matches = sorted(str(p.relative_to(cwd)) for p in cwd.glob(arg)) if pattern else []
        args.extend(matches or [arg])
    if args == ["..."]:
        # "python -m danube_metrics ...": any of the lines above; one short live view stands
        # for them.
        args = ["--count", "1", "--interval", "0.1"]
    program = [sys.executable, "-m", "danube_metrics"] if command.module else [script_path()]
    return program + args


def runs_until_interrupted(args: list[str]) -> bool:
    # The live view (no subcommand) without --count, or with --count 0, runs until Ctrl-C.
    if "report" in args or "rank" in args:
        return False
    if "--count" not in args:
        return True
    i = args.index("--count")
    return i + 1 < len(args) and args[i + 1] == "0"


def interrupt_after_first_frame(proc: subprocess.Popen[str]) -> Run:
    """Ctrl-C once the first frame has ended (a blank line), as a person would."""
    assert proc.stdout is not None and proc.stderr is not None
    out: list[str] = []
    err: list[str] = []
    stderr_reader = threading.Thread(target=lambda: err.append(proc.stderr.read()))  # type: ignore[union-attr]
    stderr_reader.start()
    # Should no frame end (a blank line), Ctrl-C comes anyway, later: the run never hangs.
    late_interrupt = threading.Timer(FRAME_WAIT, proc.send_signal, [signal.SIGINT])
    late_interrupt.start()
    for line in proc.stdout:
        out.append(line)
        if line == "\n":
            break
    late_interrupt.cancel()
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    stdout_reader = threading.Thread(target=lambda: out.append(proc.stdout.read()))  # type: ignore[union-attr]
    stdout_reader.start()
    try:
        proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        err.append(f"\n(killed {TIMEOUT} s after SIGINT)")
    stdout_reader.join()
    stderr_reader.join()
    return Run(proc.returncode, "".join(out), "".join(err))


def run_command(command: Command, cwd: Path) -> Run:
    argv = expand(command, cwd)
    proc = subprocess.Popen(
        argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    if runs_until_interrupted(argv[1:]):
        return interrupt_after_first_frame(proc)
    try:
        stdout, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, err = proc.communicate()
        err += f"\n(killed after {TIMEOUT} s)"
    return Run(proc.returncode, stdout, err)


def run_python_block(block: Block, cwd: Path) -> Run:
    script = cwd / f"readme_line{block.line}.py"
    script.write_text(block.text, encoding="utf-8")
    try:
        r = subprocess.run(
            [sys.executable, script.name], cwd=cwd, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=TIMEOUT,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        return Run(-1, str(exc.stdout or ""), f"{exc.stderr or ''}\n(killed after {TIMEOUT} s)")
    return Run(r.returncode, r.stdout, r.stderr)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Every runnable example, run at once; each in an empty directory of its own."""
    jobs = {}
    with ThreadPoolExecutor(max_workers=len(COMMANDS) + len(PYTHON_BLOCKS)) as pool:
        for block in PYTHON_BLOCKS:
            if block.not_run is None:
                cwd = tmp_path_factory.mktemp("readme-python")
                jobs[f"python{block.line}"] = pool.submit(run_python_block, block, cwd)
        for command in COMMANDS:
            if command.not_run is None:
                cwd = tmp_path_factory.mktemp("readme-command")
                for name, content in command_files().items():
                    (cwd / name).write_text(content, encoding="utf-8")
                jobs[command.id] = pool.submit(run_command, command, cwd)
        return {key: job.result() for key, job in jobs.items()}


def test_the_readme_has_examples_to_run() -> None:
    # The extraction itself: the API and ranking examples and the command-line section.
    assert len(PYTHON_BLOCKS) >= 4, PYTHON_BLOCKS
    assert any(not c.module and not c.parse_only and "report" in c.args for c in COMMANDS)
    assert any(c.module for c in COMMANDS) and any(c.parse_only for c in COMMANDS)


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda b: f"line{b.line}")
def test_python_example_runs(block: Block, runs: dict[str, Run]) -> None:
    if block.not_run is not None:
        pytest.skip(f"README.md:{block.line}: not-run: {block.not_run}")
    r = runs[f"python{block.line}"]
    assert r.returncode == 0, f"README.md:{block.line}: the example fails\n{r.report()}"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.id)
def test_command_line_runs(command: Command, runs: dict[str, Run]) -> None:
    if command.not_run is not None:
        pytest.skip(f"README.md:{command.line}: not-run: {command.not_run}")
    r = runs[command.id]
    where = f"README.md:{command.line}: {command.text}"
    if command.parse_only:
        # Its files are not here: any error but a usage error (argparse's "usage:" and exit 2).
        assert not r.stderr.startswith("usage:"), f"{where}: does not parse\n{r.report()}"
        assert "Traceback" not in r.stderr, f"{where}\n{r.report()}"
        return
    assert r.returncode == 0, f"{where}\n{r.report()}"
    assert "Traceback" not in r.stderr, f"{where}\n{r.report()}"
    assert r.stdout.strip(), f"{where}: no output\n{r.report()}"
    if "--json" in command.args:
        for line in r.stdout.splitlines():
            assert isinstance(json.loads(line), dict), f"{where}: {line!r}"
    if "report" in command.args:
        from danube_metrics import LoadReport

        report = LoadReport.from_json(r.stdout)
        assert report.topic_list == (TOPICS if "--topics-file" in command.args else [])
        if "--broker-id" in command.args:
            broker_id = command.args[command.args.index("--broker-id") + 1]
            assert report.broker_id == int(broker_id), report


# --- the extraction on small texts ---------------------------------------------------------------


def test_blocks_markers_and_commands_are_extracted() -> None:
    text = (
        "intro\n"
        "<!-- not-run: needs macOS -->\n\n"
        "```python\nimport os\n```\n"
        "```sh\n"
        "python3 -m venv v && v/bin/pip install . && .venv/bin/danube-metrics --count 2  # x\n"
        "tools/fuzz\n"
        "python -m danube_metrics --json\n"
        "```\n"
        "```\n$ danube-metrics rank a.json\nout\n```\n"
    )
    blocks = readme_blocks(text)
    assert [(b.lang, b.line, b.not_run) for b in blocks] == [
        ("python", 4, "needs macOS"),
        ("sh", 7, None),
        ("", 12, None),
    ]
    assert blocks[0].text == "import os\n"
    commands = readme_commands(blocks)
    assert [(c.line, c.args, c.module, c.parse_only) for c in commands] == [
        (8, ("--count", "2"), False, False),
        (10, ("--json",), True, False),
        (13, ("rank", "a.json"), False, True),
    ]
    with pytest.raises(ValueError, match="never closes"):
        readme_blocks("```python\nprint(1)\n")


def test_the_live_view_is_told_from_commands_that_end() -> None:
    assert runs_until_interrupted([])
    assert runs_until_interrupted(["--json", "--count", "0"])
    assert not runs_until_interrupted(["--count", "10", "--interval", "0.5"])
    assert not runs_until_interrupted(["report", "--interval", "2"])
