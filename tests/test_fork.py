"""fork() while other threads sample (issue 11, fault 13): every child can take a reading and
exit; none waits forever on a lock a parent's thread held at the fork."""

from __future__ import annotations

import sys
import textwrap

import pytest
from conftest import run_python

pytestmark = pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork here")

FORKS = 150

# Three threads read all the time: a monitor of their own (min_interval=0, so every call takes
# the C lock and reads), and the process's shared monitor through generate_load_report. Each
# child reads both and exits; an alarm kills one that hangs.
SCRIPT = """
import logging, os, signal, sys, threading
from danube_metrics import {cls}, generate_load_report
logging.disable(logging.WARNING)  # readings not ready yet are logged, not failures here
mon = {cls}(min_interval=0)
stop = threading.Event()
def spin():
    while not stop.is_set():
        mon.read_all()
        generate_load_report(0, [])
threads = [threading.Thread(target=spin) for _ in range(3)]
for t in threads:
    t.start()
hung = failed = 0
for _ in range({forks}):
    pid = os.fork()
    if pid == 0:
        signal.alarm(5)
        try:
            mon.read_all()
            generate_load_report(0, [])
            mon.close()
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        hung += 1
    elif os.WEXITSTATUS(status) != 0:
        failed += 1
stop.set()
for t in threads:
    t.join()
print(hung, failed)
"""


@pytest.mark.parametrize("cls", ["NativeResourceMonitor", "CgroupResourceMonitor"])
def test_a_child_forked_while_threads_sample_never_hangs(cls: str) -> None:
    if cls == "CgroupResourceMonitor" and not sys.platform.startswith("linux"):
        pytest.skip("cgroups are Linux's")
    code = textwrap.dedent(SCRIPT).format(cls=cls, forks=FORKS)
    proc = run_python("-W", "ignore::DeprecationWarning", "-c", code, timeout=600)
    if cls == "CgroupResourceMonitor" and "NotSupportedError" in proc.stderr:
        pytest.skip("no cgroup monitor on this machine")
    assert proc.returncode == 0, proc.stderr
    hung, failed = map(int, proc.stdout.split())
    assert (hung, failed) == (0, 0), f"of {FORKS} children, {hung} hung and {failed} failed"
