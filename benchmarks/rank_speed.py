"""The cost of ranking 1,000 brokers (issue 15: under 2 ms), without etcd.

    python benchmarks/rank_speed.py [--brokers 1000] [--rounds 200] [--against REV]

The reports are benchmarks/cluster.py's (CPU, memory, three topics, a broker id), as its
``rank_cost`` times them. With ``--against``, danube_metrics/rankings.py as it was at git
revision REV is loaded beside the current one and both are timed in the same run, interleaved
call by call (best of the rounds: the machine is shared), after checking that they give the
same rankings.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cluster import report  # noqa: E402

from danube_metrics import rankings  # noqa: E402
from danube_metrics.report import LoadReport  # noqa: E402

Ranker = Callable[[Mapping[int, LoadReport], str], object]


def rankings_at(revision: str) -> ModuleType:
    """danube_metrics/rankings.py as it was at ``revision``, as a module of its own."""
    source = subprocess.run(
        ["git", "show", f"{revision}:danube_metrics/rankings.py"],
        cwd=HERE.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rankings_then.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("rankings_then", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    return module


def best_ms(
    rankers: dict[str, Ranker], reports: Mapping[int, LoadReport], rounds: int
) -> dict[str, dict[str, float]]:
    """Best time of each ranker and strategy over the rounds, the rankers taking turns."""
    best = {name: {s: float("inf") for s in rankings.STRATEGIES} for name in rankers}
    for _ in range(rounds):
        for strategy in rankings.STRATEGIES:
            for name, rank in rankers.items():
                start = time.perf_counter()
                rank(reports, strategy)
                spent = (time.perf_counter() - start) * 1000
                best[name][strategy] = min(best[name][strategy], spent)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brokers", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--against", metavar="REV", help="also time rankings.py at this revision")
    args = ap.parse_args()
    now = int(time.time())
    reports = {b: report(b, float(b % 97), now) for b in range(args.brokers)}
    rankers: dict[str, Ranker] = {}
    if args.against:
        then = rankings_at(args.against)
        for strategy in rankings.STRATEGIES:
            old = then.score_brokers(reports, strategy, now=now)
            new = rankings.score_brokers(reports, strategy, now=now)
            same = [(s.broker_id, s.score, s.notes, s.saturated) for s in old] == [
                (s.broker_id, s.score, s.notes, s.saturated) for s in new
            ]
            if not same:
                sys.exit(f"{strategy}: the rankings differ from {args.against}'s")
        rankers[args.against] = then.rank_brokers
    rankers["now"] = rankings.rank_brokers
    best = best_ms(rankers, reports, args.rounds)
    print(f"rank_brokers of {args.brokers:,} brokers, best of {args.rounds} interleaved rounds:")
    for strategy in rankings.STRATEGIES:
        times = ", ".join(f"{name} {best[name][strategy]:.3f} ms" for name in rankers)
        ratio = ""
        if args.against:
            ratio = f" ({best[args.against][strategy] / best['now'][strategy]:.1f}x faster)"
        print(f"  {strategy:<14} {times}{ratio}  (target < 2 ms)")


if __name__ == "__main__":
    main()
