"""Saturation in the rankings (issue 14): a broker whose report's pressure passes a threshold is
never chosen while an unsaturated eligible broker exists, in every strategy, through
rank_brokers' (id, score) pairs, select_broker and BrokerSelector, at any tolerance."""

from __future__ import annotations

import json
import math
from typing import Any, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from danube_metrics.rankings import (
    DEFAULT_SATURATION,
    SATURATION_PENALTY,
    STRATEGIES,
    BrokerSelector,
    SaturatedScore,
    SaturationThresholds,
    rank_brokers,
    score_brokers,
    select_broker,
)
from danube_metrics.readings import Pressure
from danube_metrics.report import LoadReport, ResourceType, SystemLoad

NOW = 1_700_000_000
R = ResourceType


def pressure(
    cpu_some: Optional[float] = None,
    memory_full: Optional[float] = None,
    throttled: Optional[float] = None,
) -> Pressure:
    return Pressure(cpu_some, None, memory_full, None, None, throttled, None)


def report(
    cpu: float, mem: float = 20.0, topics: int = 2, p: Optional[Pressure] = None, age: float = 0
) -> LoadReport:
    names = [f"/t/{i}" for i in range(topics)]
    loads = [SystemLoad(R.CPU, cpu), SystemLoad(R.Memory, mem)]
    return LoadReport(loads, topics, names, int(NOW - age), pressure=p)


def scores_of(reports: dict[Any, LoadReport], strategy: str, **kw: Any) -> dict[Any, Any]:
    return {s.broker_id: s for s in score_brokers(reports, strategy, now=NOW, **kw)}


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize(
    ("signal", "note"),
    [
        (pressure(memory_full=14.0), "saturated: memory full pressure 14 % (> 10 %)"),
        (pressure(throttled=62.0), "saturated: CPU throttled 62 % of periods (> 25 %)"),
        (pressure(cpu_some=70.5), "saturated: CPU some pressure 70.5 % (> 50 %)"),
    ],
)
def test_a_saturated_broker_with_the_lowest_cpu_is_not_chosen(
    strategy: str, signal: Pressure, note: str
) -> None:
    # Each signal alone saturates the least loaded broker by every other figure.
    reports = {1: report(5.0, 5.0, 0, signal), 2: report(60.0, 50.0, 4), 3: report(80.0, 70.0, 6)}
    scores = scores_of(reports, strategy)
    assert scores[1].saturated and not scores[2].saturated and not scores[3].saturated
    assert note in scores[1].notes
    assert isinstance(scores[1].score, SaturatedScore) and type(scores[2].score) is float
    ranking = rank_brokers(reports, strategy, now=NOW)
    assert [b for b, _ in ranking] == [2, 3, 1]  # after every unsaturated broker
    assert select_broker(ranking) == 2
    # The penalty and the lift: its own score + 100 + twice the highest unsaturated score.
    alone = score_brokers({1: report(5.0, 5.0, 0)}, strategy, now=NOW)[0].score
    assert scores[1].score == alone + SATURATION_PENALTY + 2 * scores[3].score
    # Round robin among near-equal brokers never reaches it, whatever the window.
    for tolerance in (0.0, 0.1, 1.0, 10.0, 1e300):
        selector = BrokerSelector(tolerance)
        picks = {selector.select(ranking) for _ in range(10)}
        assert 1 not in picks, (tolerance, picks)
        assert select_broker(ranking, last=3, tolerance=tolerance) in (2, 3)
    # Copied into plain floats (sent as JSON, say), the order still keeps it out of a window
    # of up to 100 %.
    plain = [(b, float(s)) for b, s in json.loads(json.dumps(ranking))]
    for last in (None, 2, 3):
        assert select_broker(plain, last=last, tolerance=1.0) != 1


def test_every_broker_saturated_still_gets_a_choice_with_the_note() -> None:
    reports = {
        1: report(50.0, p=pressure(throttled=90.0)),
        2: report(10.0, p=pressure(memory_full=30.0)),
        3: report(30.0, p=pressure(cpu_some=99.0)),
    }
    for strategy in STRATEGIES:
        scores = score_brokers(reports, strategy, now=NOW)
        assert all(s.saturated and s.eligible for s in scores)
        for s in scores:
            assert (
                "every eligible broker is saturated: the least loaded of them is chosen" in s.notes
            )
        alone = {s.broker_id: s.score for s in score_brokers(
            {k: report(r.usage(R.CPU) or 0.0) for k, r in reports.items()}, strategy, now=NOW
        )}  # fmt: skip
        # Among themselves they keep their order: their own score plus the penalty.
        assert {s.broker_id: s.score for s in scores} == {
            b: v + SATURATION_PENALTY for b, v in alone.items()
        }
    assert select_broker(rank_brokers(reports, now=NOW)) == 2
    selector = BrokerSelector(tolerance=10.0)
    assert {selector.select(rank_brokers(reports, now=NOW)) for _ in range(6)} == {1, 2, 3}


def test_a_stale_unsaturated_broker_does_not_count_as_an_alternative() -> None:
    reports = {1: report(5.0, p=pressure(throttled=50.0)), 2: report(5.0, age=500)}
    scores = scores_of(reports, "balanced")
    assert scores[1].eligible and scores[1].saturated and not scores[2].eligible
    assert any(n.startswith("every eligible broker is saturated") for n in scores[1].notes)
    assert select_broker(rank_brokers(reports, now=NOW)) == 1


def test_thresholds_are_parameters() -> None:
    hot = report(5.0, p=Pressure(30.0, 5.0, 5.0, 1.0, 0.5, 20.0, 0.1))
    cool = report(50.0, 50.0, 6)
    reports = {1: hot, 2: cool}
    # Under every default threshold: not saturated, and the least loaded.
    assert not any(s.saturated for s in score_brokers(reports, now=NOW))
    assert select_broker(rank_brokers(reports, now=NOW)) == 1
    for thresholds, note in (
        (SaturationThresholds(memory_full_percent=4.0), "memory full pressure 5 % (> 4 %)"),
        (SaturationThresholds(cpu_throttled_percent=19.5), "throttled 20 % of periods (> 19.5 %)"),
        (SaturationThresholds(cpu_some_percent=0), "CPU some pressure 30 % (> 0 %)"),
    ):
        scores = scores_of(reports, "weighted_load", saturation=thresholds)
        first = scores[1].notes[0]
        assert scores[1].saturated and first.startswith("saturated: ") and note in first, first
        assert select_broker(rank_brokers(reports, now=NOW, saturation=thresholds)) == 2
    # A threshold equal to the figure is not exceeded; None turns a signal off.
    assert not scores_of(reports, "fair", saturation=SaturationThresholds(cpu_some_percent=30))[
        1
    ].saturated
    off = SaturationThresholds(None, None, None)
    storm = {1: report(1.0, p=Pressure(*[100.0] * 6, 50.0)), 2: cool}
    assert not any(s.saturated for s in score_brokers(storm, now=NOW, saturation=off))
    assert SaturationThresholds(10.0, 25.0, 50.0) == DEFAULT_SATURATION


@pytest.mark.parametrize(
    ("kwargs", "kind", "message"),
    [
        ({"memory_full_percent": 101}, ValueError, "memory_full_percent must be at most 100"),
        ({"cpu_throttled_percent": -1}, ValueError, "must be finite and >= 0"),
        ({"cpu_some_percent": math.nan}, ValueError, "cpu_some_percent must be finite"),
        ({"cpu_some_percent": "50"}, TypeError, "must be a number, not str"),
        ({"memory_full_percent": True}, TypeError, "must be a number, not bool"),
    ],
)
def test_thresholds_are_checked(
    kwargs: dict[str, Any], kind: type[Exception], message: str
) -> None:
    with pytest.raises(kind, match=message):
        SaturationThresholds(**kwargs)


def test_saturation_must_be_thresholds() -> None:
    with pytest.raises(TypeError, match="saturation must be a SaturationThresholds"):
        score_brokers({1: report(1.0)}, saturation=10.0)  # type: ignore[arg-type]


def test_reports_without_pressure_or_with_unknown_figures_rank_as_before() -> None:
    plain = {1: report(5.0), 2: report(60.0, 50.0, 4)}
    unknown = {1: report(5.0, p=Pressure(*[None] * 7)), 2: report(60.0, 50.0, 4, p=pressure())}
    for strategy in STRATEGIES:
        assert rank_brokers(plain, strategy, now=NOW) == rank_brokers(unknown, strategy, now=NOW)
        assert not any(s.saturated for s in score_brokers(unknown, strategy, now=NOW))
        assert all(type(s) is float for _, s in rank_brokers(plain, strategy, now=NOW))


def test_a_huge_unsaturated_score_keeps_the_saturated_broker_eligible() -> None:
    huge = LoadReport([SystemLoad(R.CPU, 1.0)], 2**64 - 1, [], NOW)
    reports = {1: huge, 2: report(1.0, p=pressure(throttled=99.0))}
    scores = scores_of(reports, "fair")
    assert scores[2].eligible and scores[2].score >= scores[1].score
    assert select_broker(rank_brokers(reports, "fair", now=NOW)) == 1


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0, 100),
            st.floats(0, 100),
            st.integers(0, 50),
            st.one_of(st.none(), st.floats(0, 100)),
            st.one_of(st.none(), st.floats(0, 100)),
        ),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from(STRATEGIES),
    st.floats(0, 5),
)
def test_no_saturated_broker_is_chosen_while_another_is_eligible(
    brokers: list[tuple[float, float, int, Optional[float], Optional[float]]],
    strategy: str,
    tolerance: float,
) -> None:
    reports = {
        i: report(cpu, mem, n, pressure(throttled=thr, memory_full=full))
        for i, (cpu, mem, n, thr, full) in enumerate(brokers)
    }
    scores = score_brokers(reports, strategy, now=NOW)
    saturated = {s.broker_id for s in scores if s.saturated}
    assert saturated == {
        i for i, (_, _, _, thr, full) in enumerate(brokers) if (thr or 0) > 25 or (full or 0) > 10
    }
    # Saturated brokers come after every unsaturated one.
    flags = [s.saturated for s in scores]
    assert flags == sorted(flags)
    ranking = rank_brokers(reports, strategy, now=NOW)
    selector = BrokerSelector(tolerance)
    picks = {selector.select(ranking) for _ in range(len(brokers) + 1)}
    if saturated != set(reports):
        assert not picks & saturated
    else:
        assert picks <= saturated
