"""Rankings: upstream's three strategies, each improvement over upstream, select_broker's
round robin, and hypothesis properties."""

from __future__ import annotations

import math
import random
import re
import threading
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Optional

import pytest
from conftest import run_python
from hypothesis import given, settings
from hypothesis import strategies as st

from danube_metrics.cli import main
from danube_metrics.rankings import (
    DEFAULT_IO_FLOOR,
    STRATEGIES,
    BrokerSelector,
    NoEligibleBrokerError,
    rank_brokers,
    score_brokers,
    select_broker,
    weighted_topic_load,
)
from danube_metrics.report import LoadReport, ResourceType, SystemLoad, TopicLoad

NOW = 1_700_000_000
MiB = 1024.0 * 1024.0
R = ResourceType


def report(
    cpu: Optional[float] = None,
    mem: Optional[float] = None,
    disk: Optional[float] = None,
    net: Optional[float] = None,
    topics: int = 0,
    *,
    age: float = 0,
    loads: Optional[list[TopicLoad]] = None,
) -> LoadReport:
    """An upstream-style report: None leaves a resource out (its monitor failed)."""
    resources = [
        SystemLoad(resource, float(value))
        for resource, value in ((R.CPU, cpu), (R.Memory, mem), (R.DiskIO, disk), (R.NetworkIO, net))
        if value is not None
    ]
    per_topic = loads if loads is not None else [TopicLoad(f"/default/t{i}") for i in range(topics)]
    return LoadReport(
        resources,
        len(per_topic),
        [t.topic_name for t in per_topic],
        int(NOW - age),
        topics=per_topic,
    )


def rank(reports: Mapping[int, LoadReport], strategy: str, **kw: object) -> list[tuple[int, float]]:
    kw.setdefault("now", NOW)
    return rank_brokers(reports, strategy, **kw)  # type: ignore[arg-type]


def order(ranking: list[tuple[int, float]]) -> list[int]:
    return [b for b, _ in ranking]


# --- A reference model of upstream v0.15.1, to show where it goes wrong -----------------------
# Written from load_manager/rankings.rs (rankings_simple, calculate_weighted_topic_load,
# rankings_composite, rankings_weighted_load, calculate_max_values) and load_manager.rs
# (get_next_broker). A missing resource is 0 there; scores are truncated to integers.


def up_topic_load(r: LoadReport) -> float:
    topics = r.topics or []
    if not topics:
        return 0.0
    return (
        len(topics) * 0.2
        + sum(t.byte_rate_mbps for t in topics) * 0.3
        + sum(t.producer_count + t.consumer_count for t in topics) * 0.3
        + sum(t.backlog_messages for t in topics) / 10_000.0 * 0.2
    )


def up_usage(r: LoadReport, resource: ResourceType) -> float:
    value = r.usage(resource)
    return 0.0 if value is None else value


def up_balanced(reports: Mapping[int, LoadReport]) -> list[tuple[int, int]]:
    has_data = any(up_usage(r, R.CPU) > 0 or up_usage(r, R.Memory) > 0 for r in reports.values())
    loads = []
    for b, r in sorted(reports.items()):
        if not has_data:
            loads.append((b, len(r.topics or [])))
        else:
            score = up_topic_load(r) * 0.3 + up_usage(r, R.CPU) * 0.35
            loads.append((b, int(score + up_usage(r, R.Memory) * 0.35)))
    return sorted(loads, key=lambda e: e[1])


def up_weighted(reports: Mapping[int, LoadReport]) -> list[tuple[int, int]]:
    def top(values: list[float]) -> float:
        return max([1.0, *values])

    rs = list(reports.values())
    mx = {res: top([up_usage(r, res) for r in rs]) for res in ResourceType}
    mx_tp = top([r.total_throughput_mbps or 0.0 for r in rs])
    mx_topic = top([up_topic_load(r) for r in rs])
    scores = []
    for b, r in sorted(reports.items()):
        c, m = up_usage(r, R.CPU) / mx[R.CPU], up_usage(r, R.Memory) / mx[R.Memory]
        d, n = up_usage(r, R.DiskIO) / mx[R.DiskIO], up_usage(r, R.NetworkIO) / mx[R.NetworkIO]
        t = (r.total_throughput_mbps or 0.0) / mx_tp
        p = up_topic_load(r) / mx_topic
        u = max(c, m, d, n, t, p)
        if u > 0.7:
            if u == c:
                s = c * 0.5 + m * 0.2 + t * 0.15 + p * 0.15
            elif u == m:
                s = m * 0.5 + c * 0.2 + t * 0.15 + p * 0.15
            elif u == t:
                s = t * 0.5 + n * 0.2 + c * 0.15 + m * 0.15
            elif u == n:
                s = n * 0.5 + t * 0.2 + c * 0.15 + m * 0.15
            else:
                s = p * 0.5 + c * 0.2 + m * 0.2 + t * 0.1
        else:
            s = p * 0.25 + c * 0.25 + m * 0.25 + t * 0.15 + n * 0.1
        scores.append((b, int(s * 100)))
    return sorted(scores, key=lambda e: e[1])


def up_next_broker(ranking: list[tuple[int, int]], last: Optional[int]) -> int:
    least = ranking[0][1]
    threshold = least if least < 10 else least + max(least // 10, 1)
    candidates = [b for b, load in ranking if load <= threshold]
    if last in candidates:
        return candidates[(candidates.index(last) + 1) % len(candidates)]
    return candidates[0]


# --- the strategies, as upstream ----------------------------------------------------------------


def test_balanced_matches_upstreams_own_examples_without_truncation() -> None:
    # rankings.rs test_multiple_brokers: "(10x0.2x0.3) + (50x0.35) + (30x0.35) = 28.6 ~ 28" ...
    reports = {
        1: report(50, 30, topics=10),
        2: report(20, 20, topics=5),
        3: report(10, 10, topics=2),
    }
    assert rank(reports, "balanced") == [(3, 7.12), (2, 14.3), (1, 28.6)]
    assert up_balanced(reports) == [(3, 7), (2, 14), (1, 28)]


def test_fair_is_the_topic_count() -> None:
    reports = {1: report(99, 99, topics=3), 2: report(1, 1, topics=7), 3: report(topics=0)}
    assert rank(reports, "fair") == [(3, 0.0), (1, 3.0), (2, 7.0)]
    seed = LoadReport([], 12, ["/only-one-listed"], NOW)  # the seed counts topics_len
    assert rank({1: seed}, "fair") == [(1, 12.0)]


def test_weighted_topic_load_is_upstreams_formula() -> None:
    loads = [
        TopicLoad("/a", byte_rate_mbps=2.0, producer_count=1, consumer_count=2),
        TopicLoad("/b", backlog_messages=50_000),
    ]
    expected = 2 * 0.2 + 2.0 * 0.3 + 3 * 0.3 + 50_000 / 10_000 * 0.2
    assert weighted_topic_load(report(loads=loads)) == pytest.approx(expected)
    assert weighted_topic_load(report(loads=loads)) == pytest.approx(
        up_topic_load(report(loads=loads))
    )
    # No per-topic loads (seed schema): its topics count as topics without traffic.
    assert weighted_topic_load(LoadReport([], 5, [], NOW)) == pytest.approx(1.0)


def test_balanced_falls_back_to_topic_count_while_no_broker_reports_cpu_or_memory() -> None:
    reports = {1: report(topics=4, disk=10 * MiB), 2: report(topics=2), 3: report(topics=3)}
    assert rank(reports, "balanced") == [(2, 2.0), (3, 3.0), (1, 4.0)]
    assert score_brokers(reports, "balanced", now=NOW)[0].notes == (
        "topic count: no fresh report carries CPU or memory",
    )
    assert order(up_balanced(reports)) == [2, 3, 1]


def test_weighted_load_puts_the_bottlenecked_broker_last() -> None:
    reports = {
        1: report(cpu=95, mem=30, topics=5),  # CPU-bound
        2: report(cpu=30, mem=35, topics=5),
        3: report(cpu=40, mem=40, topics=5),
    }
    assert order(rank(reports, "weighted_load")) == [2, 3, 1]
    assert order(up_weighted(reports)) == [2, 3, 1]


# --- improvements over upstream, each with the case upstream gets wrong --------------------


def test_scores_are_floats_so_small_differences_still_order_brokers() -> None:
    quiet, busy = report(cpu=0.2, mem=0.0), report(cpu=2.5, mem=0.0)
    reports = {1: busy, 2: quiet}
    ranking = rank(reports, "balanced")
    assert ranking == [(2, pytest.approx(0.07)), (1, pytest.approx(0.875))]
    # Upstream: int(0.07) == int(0.875) == 0, a tie, so its round robin sends every other topic
    # to the broker that is 12 times busier.
    up = up_balanced(reports)
    assert up == [(1, 0), (2, 0)]
    assert {up_next_broker(up, None), up_next_broker(up, up_next_broker(up, None))} == {1, 2}
    selector = BrokerSelector()
    assert [selector.select(ranking) for _ in range(5)] == [2] * 5


def test_balanced_counts_disk_and_network() -> None:
    reports = {
        1: report(cpu=30, mem=30, disk=200 * MiB, net=0),
        2: report(cpu=30, mem=30, disk=2 * MiB, net=0),
        3: report(cpu=30, mem=30, disk=2 * MiB, net=100 * MiB),
    }
    ranking = dict(rank(reports, "balanced"))
    assert order(rank(reports, "balanced"))[0] == 2
    # disk as % of the busiest (200 MiB/s) at weight 0.10
    assert ranking[1] - ranking[2] == pytest.approx(0.10 * (100 - 1))
    assert ranking[3] - ranking[2] == pytest.approx(0.10 * 100)
    assert up_balanced(reports) == [(1, 21), (2, 21), (3, 21)]  # upstream: a three-way tie


def test_io_below_the_floor_barely_moves_the_score() -> None:
    # A few KiB/s of background disk noise must not decide placement.
    reports = {1: report(cpu=30, mem=30, disk=4096), 2: report(cpu=30, mem=30, disk=0)}
    ranking = dict(rank(reports, "balanced"))
    assert 0 < ranking[1] - ranking[2] < 0.05
    assert MiB == DEFAULT_IO_FLOOR
    ranking = dict(rank(reports, "balanced", io_floor=1.0))  # without a floor: 10 points
    assert ranking[1] - ranking[2] == pytest.approx(10.0)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_stale_report_is_not_chosen(strategy: str) -> None:
    # Broker 1 died an hour ago, idle: upstream would keep placing topics on it.
    reports = {1: report(cpu=1, mem=1, age=3600), 2: report(cpu=60, mem=60, topics=9, age=5)}
    ranking = rank(reports, strategy)
    assert ranking == [(2, ranking[0][1]), (1, math.inf)]
    assert select_broker(ranking) == 2
    assert BrokerSelector().select(ranking) == 2
    (stale,) = [s for s in score_brokers(reports, strategy, now=NOW) if not s.eligible]
    assert stale.notes == ("stale: report is 3600 s old (max 90 s)",)
    # The age is configurable, and can be switched off.
    assert order(rank(reports, strategy, max_age=7200)) == [1, 2]
    assert order(rank(reports, strategy, max_age=None)) == [1, 2]
    assert order(up_balanced(reports)) == [1, 2]


def test_a_report_from_the_future_is_stale_too() -> None:
    reports = {1: report(cpu=1, mem=1, age=-1000), 2: report(cpu=50, mem=50, age=-30)}
    assert rank(reports, "balanced") == [(2, 35.0), (1, math.inf)]
    assert "in the future" in score_brokers(reports, now=NOW)[1].notes[0]


def test_a_stale_report_does_not_set_the_scale_for_fresh_ones() -> None:
    fresh = {1: report(cpu=10, mem=10, disk=50 * MiB), 2: report(cpu=10, mem=10, disk=0)}
    with_dead = {**fresh, 3: report(cpu=0, mem=0, disk=5000 * MiB, age=1000)}
    assert rank(with_dead, "balanced")[:2] == rank(fresh, "balanced")
    assert rank(with_dead, "weighted_load")[:2] == rank(fresh, "weighted_load")


def test_every_report_stale_means_no_broker_can_be_chosen() -> None:
    reports = {1: report(cpu=1, mem=1, age=100), 2: report(cpu=1, mem=1, age=200)}
    ranking = rank(reports, "balanced")
    assert ranking == [(1, math.inf), (2, math.inf)]
    with pytest.raises(NoEligibleBrokerError, match="no eligible broker"):
        select_broker(ranking)
    with pytest.raises(LookupError):
        BrokerSelector().select(ranking)


@pytest.mark.parametrize("strategy", ["balanced", "weighted_load"])
def test_a_broker_whose_monitor_failed_does_not_look_idle(strategy: str) -> None:
    # Broker 1's report lacks CPU and memory (its monitor failed); broker 2 is moderately busy.
    reports = {1: report(topics=3), 2: report(cpu=40, mem=40, topics=3)}
    assert select_broker(rank(reports, strategy)) == 2
    notes = score_brokers(reports, strategy, now=NOW)[1].notes
    assert notes == ("CPU unknown: counted as 100 %", "memory unknown: counted as 100 %")
    # Upstream reads the missing figures as 0: the broken broker looks idle and gets the topic.
    up = up_balanced(reports) if strategy == "balanced" else up_weighted(reports)
    assert up_next_broker(up, None) == 1


def test_an_unknown_broker_still_takes_topics_when_the_others_are_busier() -> None:
    # Counted at 100 % CPU, not excluded: when every known broker is saturated it is chosen.
    reports = {1: report(mem=20), 2: report(cpu=100, mem=90), 3: report(cpu=95, mem=100)}
    assert rank(reports, "balanced") == [(1, 42.0), (2, 66.5), (3, 68.25)]
    reports = {1: report(mem=20), 2: report(cpu=50, mem=50)}
    assert order(rank(reports, "balanced")) == [2, 1]


def test_unknown_disk_counts_as_the_busiest_brokers() -> None:
    reports = {
        1: report(cpu=20, mem=20, disk=30 * MiB),
        2: report(cpu=20, mem=20),  # no disk figure
        3: report(cpu=20, mem=20, disk=10 * MiB),
    }
    scores = {s.broker_id: s for s in score_brokers(reports, now=NOW)}
    assert scores[2].score == scores[1].score
    assert scores[2].notes == ("disk I/O unknown: counted as the busiest broker's",)
    # A figure no broker reports is simply left out.
    no_disk = {b: report(cpu=20, mem=20) for b in (1, 2)}
    assert rank(no_disk, "balanced") == [(1, 14.0), (2, 14.0)]


def test_unknown_throughput_of_a_seed_report_counts_as_the_busiest() -> None:
    seed = LoadReport([SystemLoad(R.CPU, 10.0), SystemLoad(R.Memory, 10.0)], 0, [], NOW)
    upstream = report(cpu=10, mem=10)
    upstream.total_throughput_mbps = 50.0
    scores = {
        s.broker_id: s for s in score_brokers({1: seed, 2: upstream}, "weighted_load", now=NOW)
    }
    assert scores[1].score == scores[2].score
    assert scores[1].notes == (
        "throughput unknown (no per-topic loads): counted as the busiest broker's",
    )


def test_weighted_load_never_lowers_a_score_when_a_figure_rises() -> None:
    # Broker 1 is bottlenecked on throughput and network; then its CPU rises past them.
    # Upstream switches from its throughput formula to its CPU formula: the score drops from
    # 67 to 52 and broker 1 overtakes broker 4, which it did not before.
    def reports(cpu: float) -> dict[int, LoadReport]:
        cluster = {
            1: report(cpu=cpu, mem=0, net=80 * MiB),
            2: report(cpu=0, mem=0, net=100 * MiB),
            3: report(cpu=100, mem=70, net=0),
            4: report(cpu=0, mem=0, net=85 * MiB),
        }
        for b, mbps in ((1, 80.0), (2, 100.0), (3, 0.0), (4, 85.0)):
            cluster[b].total_throughput_mbps = mbps
        return cluster

    assert up_weighted(reports(79))[:2] == [(4, 59), (1, 67)]
    assert up_weighted(reports(81))[:2] == [(1, 52), (4, 59)]
    ours = [dict(rank(reports(c), "weighted_load"))[1] for c in (0, 79, 80, 81, 100)]
    assert ours == sorted(ours) and ours[0] < ours[-1]
    assert order(rank(reports(79), "weighted_load")) == order(rank(reports(81), "weighted_load"))


def test_weighted_load_scores_a_disk_bottleneck_by_its_disk() -> None:
    # Upstream finds broker 1's disk bottleneck, then scores it with its topic formula, which
    # has no disk in it: the saturated broker ranks before the idle one.
    reports = {
        1: report(cpu=10, mem=10, disk=500 * MiB),
        2: report(cpu=10, mem=10, disk=0),
        3: report(cpu=50, mem=50, disk=0),
    }
    assert up_weighted(reports) == [(1, 8), (2, 10), (3, 70)]
    assert order(rank(reports, "weighted_load")) == [2, 1, 3]


def test_weighted_load_takes_percentages_as_percentages() -> None:
    # Upstream divides CPU % by the cluster's highest CPU %: at 2 % CPU broker 1 is "100 %
    # CPU-bound" and ties with broker 2, whose memory is twice as full.
    reports = {1: report(cpu=2, mem=40), 2: report(cpu=1, mem=80)}
    assert up_weighted(reports) == [(1, 60), (2, 60)]
    assert order(rank(reports, "weighted_load")) == [1, 2]


# --- select_broker ---------------------------------------------------------------------------


def test_select_without_state_is_the_least_loaded() -> None:
    assert select_broker([(3, 5.0), (1, 2.0), (2, 2.0)]) == 1
    assert select_broker([("b", 1.0), ("a", 1.0)]) == "a"


def test_select_window_matches_upstream_for_integer_scores() -> None:
    # Under 10 upstream takes exact ties only; from 10 up, 10 % (at least 1) of the minimum.
    for scores in ([5, 5, 6, 9], [20, 21, 22, 23], [10, 11, 12], [0, 0, 1], [100, 110, 111]):
        ranking = [(i, float(s)) for i, s in enumerate(scores)]
        up = [(i, s) for i, s in enumerate(scores)]
        ours, theirs, last_ours, last_theirs = [], [], None, None
        for _ in range(6):
            last_ours = select_broker(ranking, last=last_ours)
            last_theirs = up_next_broker(up, last_theirs)
            ours.append(last_ours)
            theirs.append(last_theirs)
        assert sorted(set(ours)) == sorted(set(theirs)), scores


def test_select_goes_round_robin_by_broker_id_and_wraps() -> None:
    ranking = [(7, 10.0), (3, 10.5), (5, 10.9), (9, 11.5)]  # window: up to 11.0
    picks, last = [], None
    for _ in range(5):
        last = select_broker(ranking, last=last)
        picks.append(last)
    # First the least loaded, then round robin by id among 3, 5 and 7 (9 is outside).
    assert picks == [7, 3, 5, 7, 3]
    # last outside the window (or gone): the next id after it
    assert select_broker(ranking, last=4) == 5
    assert select_broker(ranking, last=9) == 3


def test_select_skips_excluded_and_ineligible_brokers() -> None:
    ranking = [(1, 1.0), (2, 1.0), (3, math.inf), (4, math.nan)]
    assert select_broker(ranking, exclude={1}) == 2
    assert select_broker(ranking, last=2, exclude={1}) == 2
    with pytest.raises(NoEligibleBrokerError):
        select_broker(ranking, exclude={1, 2})
    with pytest.raises(NoEligibleBrokerError):
        select_broker([])
    with pytest.raises(ValueError, match="tolerance"):
        select_broker(ranking, tolerance=-0.1)


def test_selector_state_is_explicit_and_resettable() -> None:
    ranking = [(1, 0.0), (2, 0.0), (3, 0.0)]
    selector = BrokerSelector()
    assert selector.last is None
    assert [selector.select(ranking) for _ in range(4)] == [1, 2, 3, 1]
    assert selector.last == 1
    selector.reset()
    assert selector.select(ranking) == 1
    # A second selector does not share the first one's state.
    assert BrokerSelector().select(ranking) == 1


def test_selector_is_thread_safe() -> None:
    ranking = [(b, 3.0) for b in range(4)]
    selector = BrokerSelector()
    picks: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = [selector.select(ranking) for _ in range(250)]
        with lock:
            picks.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(picks) == {0: 500, 1: 500, 2: 500, 3: 500}


# --- errors and ordering -----------------------------------------------------------------------


def test_bad_arguments_are_rejected() -> None:
    reports = {1: report(cpu=1, mem=1)}
    with pytest.raises(ValueError, match="unknown strategy 'cheapest'"):
        rank(reports, "cheapest")
    with pytest.raises(ValueError, match="max_age"):
        rank(reports, "fair", max_age=0)
    with pytest.raises(ValueError, match="io_floor"):
        rank(reports, "fair", io_floor=0)
    with pytest.raises(TypeError, match="broker 2: expected a LoadReport"):
        rank({1: reports[1], 2: "{}"}, "fair")  # type: ignore[dict-item]
    nan = LoadReport([SystemLoad(R.CPU, 1.0)], 0, [], NOW)
    # SystemLoad refuses NaN; what forces one past it still gets a clear error here.
    object.__setattr__(nan.resources_usage[0], "usage", math.nan)
    with pytest.raises(ValueError, match="broker 1: CPU usage must be finite"):
        rank({1: nan}, "balanced")


def test_ties_are_broken_by_broker_id_whatever_the_id_types() -> None:
    reports: dict[object, LoadReport] = {"b": report(), 2: report(), "a": report(), 1: report()}
    assert [b for b, _ in rank_brokers(reports, "fair", now=NOW)] == [1, 2, "a", "b"]


def test_now_defaults_to_the_clock() -> None:
    import time

    reports = {1: report(cpu=1, mem=1, age=NOW - time.time())}  # timestamp: now
    assert math.isfinite(rank_brokers(reports)[0][1])


# --- hypothesis properties ----------------------------------------------------------------------

usage = st.floats(0, 100, allow_nan=False)
rate = st.one_of(st.just(0.0), st.floats(0, 1e10, allow_nan=False))
topic_loads = st.lists(
    st.builds(
        TopicLoad,
        topic_name=st.just("/t"),
        message_rate=st.integers(0, 10_000),
        byte_rate_mbps=st.floats(0, 500, allow_nan=False),
        producer_count=st.integers(0, 20),
        consumer_count=st.integers(0, 20),
        backlog_messages=st.integers(0, 10**6),
    ),
    max_size=6,
)


@st.composite
def reports_st(draw: st.DrawFn, cpu: bool = False) -> LoadReport:
    figures = {
        R.CPU: draw(usage if cpu else st.none() | usage),
        R.Memory: draw(st.none() | usage),
        R.DiskIO: draw(st.none() | rate),
        R.NetworkIO: draw(st.none() | rate),
    }
    loads = [SystemLoad(res, v) for res, v in figures.items() if v is not None]
    timestamp = NOW - draw(st.sampled_from([0, 10, 89, 91, 500, -20, -200]))
    if draw(st.booleans()):  # seed schema: a count, no per-topic loads
        n = draw(st.integers(0, 50))
        return LoadReport(loads, n, [f"/t{i}" for i in range(n)], timestamp)
    topics = [
        TopicLoad(
            f"/t{i}",
            t.message_rate,
            0,
            t.byte_rate_mbps,
            t.producer_count,
            t.consumer_count,
            0,
            t.backlog_messages,
        )
        for i, t in enumerate(draw(topic_loads))
    ]
    return LoadReport(loads, len(topics), [t.topic_name for t in topics], timestamp, topics=topics)


clusters = st.dictionaries(st.integers(0, 30), reports_st(), min_size=1, max_size=8)


@settings(max_examples=200)
@given(clusters, st.randoms(use_true_random=False))
def test_rankings_do_not_depend_on_input_order(
    cluster: dict[int, LoadReport], rnd: random.Random
) -> None:
    items = list(cluster.items())
    rnd.shuffle(items)
    shuffled = dict(items)
    for strategy in STRATEGIES:
        assert rank(shuffled, strategy) == rank(cluster, strategy)
        ranking = rank(cluster, strategy)
        if any(math.isfinite(score) for _, score in ranking):
            assert select_broker(rank(shuffled, strategy)) == select_broker(ranking)


@settings(max_examples=300)
@given(clusters, reports_st(cpu=True), st.floats(0.001, 100))
def test_raising_a_brokers_cpu_never_improves_its_rank(
    cluster: dict[int, LoadReport], subject: LoadReport, delta: float
) -> None:
    cpu = subject.usage(R.CPU)
    assert cpu is not None
    raised_cpu = min(100.0, cpu + delta)
    raised = LoadReport(
        [
            SystemLoad(r.resource, raised_cpu if r.resource is R.CPU else r.usage)
            for r in subject.resources_usage
        ],
        subject.topics_len,
        subject.topic_list,
        subject.timestamp,
        topics=subject.topics,
    )
    for strategy in STRATEGIES:
        before = order(rank({**cluster, 99: subject}, strategy)).index(99)
        after = order(rank({**cluster, 99: raised}, strategy)).index(99)
        assert after >= before, strategy
        score_before = dict(rank({**cluster, 99: subject}, strategy))[99]
        assert dict(rank({**cluster, 99: raised}, strategy))[99] >= score_before


@settings(max_examples=100)
@given(reports_st(), st.integers(1, 8), st.integers(1, 60), st.sampled_from(STRATEGIES))
def test_equal_brokers_share_new_topics_round_robin(
    template: LoadReport, brokers: int, picks: int, strategy: str
) -> None:
    template.timestamp = NOW
    ranking = rank({b: template for b in range(brokers)}, strategy)
    selector = BrokerSelector()
    chosen = [selector.select(ranking) for _ in range(picks)]
    counts = Counter(chosen)
    assert max(counts.values()) - min(counts.get(b, 0) for b in range(brokers)) <= 1
    # every run of `brokers` picks visits each broker once
    assert all(
        len(set(chosen[i : i + brokers])) == len(chosen[i : i + brokers])
        for i in range(0, picks, brokers)
    )


@settings(max_examples=60)
@given(st.integers(2, 6), st.integers(1, 40), st.sampled_from(STRATEGIES), usage, usage)
def test_a_burst_of_topics_spreads_while_rankings_are_recomputed(
    brokers: int, burst: int, strategy: str, cpu: float, mem: float
) -> None:
    # Upstream's loop: pick, add the topic to the chosen broker's report, rank again.
    topics: dict[int, list[TopicLoad]] = {b: [] for b in range(brokers)}
    selector = BrokerSelector()
    for i in range(burst):
        cluster = {b: report(cpu=cpu, mem=mem, loads=list(ts)) for b, ts in topics.items()}
        chosen = selector.select(rank(cluster, strategy))
        topics[chosen].append(TopicLoad(f"/burst/{i}"))
    counts = [len(ts) for ts in topics.values()]
    assert max(counts) - min(counts) <= 1


# --- the rank command -----------------------------------------------------------------------------


def write_cluster(tmp_path: Path) -> list[str]:
    """Three brokers: two upstream reports (one with a failed CPU/memory monitor), one seed."""
    busy = report(cpu=60, mem=50, disk=10 * MiB, net=MiB, topics=4)
    busy.broker_id = 1
    broken = report(disk=MiB, net=MiB, topics=1)
    broken.broker_id = 2
    seed = LoadReport(
        [SystemLoad(R.CPU, 20.0), SystemLoad(R.Memory, 30.0), SystemLoad(R.DiskIO, 0.0)],
        2,
        ["/a", "/b"],
        NOW - 10,
    )
    paths = []
    for name, r, schema in (("b1.json", busy, "upstream"), ("b2.json", broken, "upstream")):
        (tmp_path / name).write_text(r.to_json(schema=schema), encoding="utf-8")
        paths.append(str(tmp_path / name))
    (tmp_path / "seed-broker.json").write_text(seed.to_json(indent=2), encoding="utf-8")
    paths.append(str(tmp_path / "seed-broker.json"))
    return paths


def test_rank_command_prints_a_table_per_strategy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = write_cluster(tmp_path)
    assert main(["rank", *paths, "--now", str(NOW + 5)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 reports, judged at 2023-11-14 22:13:25 UTC, stale after 90 s\n")
    lines = out.splitlines()
    header = lines[1].split()
    assert header == [
        "broker",
        "schema",
        "age",
        "CPU",
        "%",
        "memory",
        "%",
        "disk",
        "network",
        "topics",
        "file",
    ]
    assert lines[2].split()[:4] == ["1", "upstream", "5", "s"]
    assert lines[3].split()[:6] == ["2", "upstream", "5", "s", "-", "-"]
    assert lines[4].split()[:3] == ["seed-broker.json", "seed", "15"]
    sections = out.split("\n\n")[1:]
    assert [s.split(":")[0] for s in sections] == list(STRATEGIES)
    fair, balanced, weighted = sections
    assert "  a new topic goes to: 2\n" in fair + "\n"
    # The broker whose monitor failed is not taken for idle.
    assert balanced.rstrip().endswith("a new topic goes to: seed-broker.json")
    assert "CPU unknown: counted as 100 %" in balanced
    assert "rank  broker" in weighted


def test_rank_command_marks_stale_reports_and_can_ignore_age(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = write_cluster(tmp_path)
    # Exit 3: no broker can be chosen (the tables are printed all the same).
    assert main(["rank", *paths, "--now", str(NOW + 3600), "--strategy", "fair"]) == 3
    out = capsys.readouterr().out
    assert out.count("not chosen") == 3
    assert "stale: report is 3600 s old (max 90 s)" in out
    assert "a new topic goes to: none (every report is stale)" in out
    assert "balanced" not in out
    assert main(["rank", *paths, "--now", str(NOW + 3600), "--any-age", "--strategy", "fair"]) == 0
    out = capsys.readouterr().out
    assert "no age limit" in out and "not chosen" not in out
    assert "a new topic goes to: 2" in out
    assert main(["rank", *paths, "--now", str(NOW + 3600), "--max-age", "4000"]) == 0
    assert "not chosen" not in capsys.readouterr().out


def test_rank_command_runs_as_a_program(tmp_path: Path) -> None:
    proc = run_python("-m", "danube_metrics", "rank", *write_cluster(tmp_path), "--any-age")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("a new topic goes to:") == 3
    assert proc.stderr == ""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "bad.json: not valid JSON"),
        ('{"topics_len":1}', "bad.json: seed schema: missing field 'resources_usage'"),
        ('{"resources_usage":[],"timestamp":1}', "bad.json: cannot tell the report's schema"),
        (
            '{"resources_usage":[],"timestamp":1,"broker_id":1,"topics":[{}]}',
            r"bad.json: upstream schema \(danube v0.15.1\): topics\[0\]: missing field",
        ),
        (b"\xff\xfe", "bad.json: not UTF-8: byte 0xff at offset 0"),
    ],
)
def test_rank_command_rejects_a_bad_file_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | bytes, message: str
) -> None:
    bad = tmp_path / "bad.json"
    if isinstance(content, bytes):
        bad.write_bytes(content)
    else:
        bad.write_text(content, encoding="utf-8")
    assert main(["rank", *write_cluster(tmp_path), str(bad)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert re.search(f"^danube-metrics: error: .*{message}", captured.err), captured.err


def test_rank_command_rejects_a_missing_file_or_a_broker_read_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = write_cluster(tmp_path)
    assert main(["rank", *paths, str(tmp_path / "missing.json")]) == 1
    assert "missing.json" in capsys.readouterr().err
    copy = tmp_path / "copy.json"
    copy.write_text(Path(paths[0]).read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["rank", *paths, str(copy)]) == 1
    err = capsys.readouterr().err
    assert "copy.json: broker 1 already read from" in err and "b1.json" in err
    proc = run_python("-m", "danube_metrics", "rank", *paths, "--strategy", "cheapest")
    assert proc.returncode == 2 and "invalid choice: 'cheapest'" in proc.stderr
    proc = run_python("-m", "danube_metrics", "rank")
    assert proc.returncode == 2 and "FILE" in proc.stderr
    proc = run_python("-m", "danube_metrics", "rank", *paths, "--now", "nan")
    assert proc.returncode == 2 and "--now: must be Unix seconds" in proc.stderr


def test_topic_byte_rates_that_overflow_when_summed_are_a_value_error_not_an_overflow() -> None:
    # Each rate is finite and the report gives its total, so the report can be built; the
    # weighted topic load sums the rates, which must fail with the documented ValueError.
    huge = [TopicLoad(f"/t{i}", byte_rate_mbps=1.7e308) for i in range(2)]
    report = LoadReport(
        [SystemLoad(ResourceType.CPU, 10.0)], 2, ["/t0", "/t1"], broker_id=1, topics=huge,
        total_throughput_mbps=1.0,
    )  # fmt: skip
    with pytest.raises(ValueError, match="largest float"):
        score_brokers({1: report}, "weighted_load", max_age=None)
