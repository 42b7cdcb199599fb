"""A real terminal for the tests: a tmux server of the test's own running one command in a
window of a given size (the live view's tests, the cluster commands' tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest
from conftest import NEUTRAL_CWD

# The command runs under bash so that the pane outlives it: what the terminal is left with (the
# cursor, the line under the frame) stays in view, and "exit N" says how the command ended. A
# trap, not an ignored SIGINT, lets Ctrl-C reach the command and bash wait for its end.
SHELL_AROUND = 'trap : INT; "$@"; echo "exit $?"; exec sleep 600'


SANITIZER_ENV = ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "PYTHONMALLOC", "TMPDIR")


class Tmux:
    """A tmux server of its own (its socket in a temporary folder) running one command in a
    detached window of a given size."""

    def __init__(self, folder: Path, command: list[str], width: int, height: int) -> None:
        self.socket = str(folder / "tmux.sock")
        self.width, self.height = width, height
        env = ["LANG=C.UTF-8", "LC_ALL=C.UTF-8", "TERM=screen", "PATH=" + os.defpath]
        # Under tools/sanitized-tests the extension needs the ASan runtime preloaded, and its
        # reports go where the run collects them.
        env += [f"{k}={os.environ[k]}" for k in SANITIZER_ENV if k in os.environ]
        self.tmux(
            "new-session", "-d", "-s", "live", "-x", str(width), "-y", str(height),
            "-c", NEUTRAL_CWD, "env", "-i", *env, "bash", "-c", SHELL_AROUND, "bash", *command,
        )  # fmt: skip

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-u", "-f", os.devnull, "-S", self.socket, *args],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return done.stdout

    def lines(self) -> list[str]:
        """The pane's lines. With -J a line the terminal wrapped is joined to its continuation,
        so a wrapped line shows as one wider than the window."""
        return self.tmux("capture-pane", "-p", "-J", "-t", "live").split("\n")[: self.height]

    def status(self, field: str) -> str:
        return self.tmux("display-message", "-p", "-t", "live", "#{" + field + "}").strip()

    def resize(self, width: int, height: int) -> None:
        self.tmux("resize-window", "-t", "live", "-x", str(width), "-y", str(height))
        self.width, self.height = width, height

    def wait_for(self, what: str, check: Callable[[list[str]], bool]) -> list[str]:
        """Polls the pane until `check` holds for what it shows. The machine may be loaded: the
        deadline is generous, and no time is asserted."""
        deadline = time.monotonic() + 90
        lines = self.lines()
        while not check(lines):
            if time.monotonic() > deadline:
                pytest.fail(f"the pane never showed {what}:\n" + "\n".join(lines))
            time.sleep(0.05)
            lines = self.lines()
        return lines

    def wait_for_exit(self) -> tuple[list[str], int]:
        """The pane once the command has ended, and the index of the "exit 0" line under it."""
        lines = self.wait_for("the end of the command", lambda ls: any(exit_line(x) for x in ls))
        index = next(i for i, line in enumerate(lines) if exit_line(line))
        assert lines[index].rstrip() == "exit 0", lines
        return lines, index

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True)


def exit_line(line: str) -> bool:
    return line.startswith("exit ")


def tmux_windows(tmp_path: Path, *leading: str) -> Iterator[Callable[..., Tmux]]:
    """For a fixture: a maker of windows running ``python -m danube_metrics *leading *args``,
    each closed at the end. CI must have tmux (.ci/run installs it); elsewhere the test skips."""
    if shutil.which("tmux") is None or shutil.which("bash") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux is missing: CI must install it (.ci/run)")
        pytest.skip("tmux is not installed (apt-get install tmux)")
    started: list[Tmux] = []

    def start(*args: str, width: int, height: int) -> Tmux:
        folder = tmp_path / f"tmux{len(started)}"
        folder.mkdir()
        command = [sys.executable, "-m", "danube_metrics", *leading, *args]
        started.append(Tmux(folder, command, width, height))
        return started[-1]

    yield start
    for t in started:
        t.close()
