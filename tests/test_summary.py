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
