"""The sweep summary table of a big sweep: what did not finish is listed first, the rest is counted."""

from __future__ import annotations

from rich.console import Console

from pipelines.driver import SUMMARY_ROWS, summary_table
from workers.spec import TrialResult, TrialStatus


def result(status: TrialStatus, error: str = "") -> TrialResult:
    return TrialResult(status=status, steps=10, metrics={}, error=error, headline="m=1", seconds=1.0)


def render(table) -> str:
    console = Console(record=True, width=200)
    console.print(table)
    return console.export_text()


def test_a_long_summary_lists_failures_and_interruptions_and_counts_the_rest():
    results = (
        [([f"seed={i}"], result(TrialStatus.failed, f"ValueError: boom {i}")) for i in range(3)]
        + [([f"seed={i}"], None) for i in range(3, 8)]  # queued, then interrupted
        + [([f"seed={i}"], result(TrialStatus.finished)) for i in range(8, 58)]
        + [([f"seed={i}"], None) for i in range(58, 100)]  # never queued
    )
    text = render(summary_table(results, "sweep s", axes={"seed"}, queued=set(range(58))))
    assert SUMMARY_ROWS == 40
    assert all(f"boom {i}" in text for i in range(3))
    assert text.count("interrupted") == 5 and text.count("│ finished │") == 32
    assert "not started" not in text.split("more trials")[0], "trials never queued come last"
    assert "60 more trials not listed (42 not started, 18 finished); every run is in MLflow" in " ".join(text.split())


def test_a_short_summary_lists_every_trial():
    results = [(["seed=0"], result(TrialStatus.finished)), (["seed=1"], None)]
    text = render(summary_table(results, "sweep s", axes={"seed"}, queued={0}))
    assert "seed=0" in text and "seed=1" in text and "not started" in text and "more trials" not in text


def test_estimates_skipped_for_one_cause_are_one_line():
    from pipelines.analyze import note_lines

    few = "needs >= 4 distinct values of data.temperature with data, got 2; sweep more points, e.g. T=..."
    notes = [
        f"{m} of obs/{o} along data.temperature [model.width={w}]: {fn} {few}"
        for m, fn in (("peak", "peak_location"), ("steepest", "steepest_change"))
        for o in ("a", "b")
        for w in (16, 64)
    ]
    binder = "binder of obs/u along data.temperature [all]: binder_crossing needs >= 2 system sizes, got 1"
    lines = note_lines([*notes, binder])
    assert lines == [
        "8 estimates skipped: they need >= 4 distinct values of data.temperature with data, got 2; sweep more "
        "points, e.g. T=... (each in transitions.json)",
        binder,
    ]
