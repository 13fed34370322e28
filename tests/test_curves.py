"""A trial's training-curves figure and description: grouped by meaning and scale, readable."""

from __future__ import annotations

import warnings

import pytest

from workers.curves import MAX_SERIES, PAIRS_PER_PANEL, SCALE_SPLIT, panels, plot_history
from workers.trial import describe

# The metric names an RBM trial on Ising data logs (see workers/families/rbm/family.py).
SPIN = ["abs_magnetization", "binder", "energy", "specific_heat", "susceptibility"]
RBM_KEYS = (
    ["train/free_energy_gap", "train/recon_error", "train/lr", "sys/steps_per_s", "chain/tau_m1"]
    + [f"obs/{who}_{name}{err}" for who in ("model", "data") for name in SPIN for err in ("", "_err")]
    + [f"obs/{who}_{q}_{k}" for who in ("model", "data") for q in ("m", "chi") for k in (1, 2, 3)]
    + [f"obs/sigma_{k}" for k in (1, 2, 3)]
    + ["obs/energy_error", "obs/specific_heat_error"]
)


def history(keys, scale=lambda key: 1.0, steps=range(0, 50, 5)):
    return {k: [(s, scale(k) * (1 + 0.01 * s)) for s in steps] for k in keys}


def test_rbm_curves_are_grouped_by_meaning():
    h = history(RBM_KEYS, scale=lambda k: 12.7 if k.startswith("obs/sigma") else 0.01 if k.endswith("error") else 0.5)
    h["train/lr"] = [(0, 0.01), (45, 0.01)]  # constant: logged at the first and last step only
    found, note = panels(h)
    drawn = [k for p in found for k in p.keys]
    assert len(drawn) == len(set(drawn)), "every series in one panel"
    assert note == "lr=0.01", "a constant learning rate is named, not drawn"
    assert not any(k.startswith(("sys/", "train/lr")) for k in drawn)
    expected = {k for k in RBM_KEYS if not k.endswith("_err") and not k.startswith(("sys/", "train/lr"))}
    assert set(drawn) == expected, "every other series is drawn; errors are bands, not curves"
    for panel in found:
        if panel.title.endswith("model vs data"):
            models = [k for k in panel.keys if k.startswith("obs/model_")]
            assert len(models) <= PAIRS_PER_PANEL
            assert [k.replace("model_", "data_") for k in models] == [k for k in panel.keys if "data_" in k]
        else:
            assert len(panel.keys) <= MAX_SERIES
    by_title = {p.title: p.keys for p in found}
    assert by_title["abs magnetization: model vs data"] == ["obs/model_abs_magnetization", "obs/data_abs_magnetization"]
    assert by_title["sigma"] == ["obs/sigma_1", "obs/sigma_2", "obs/sigma_3"], "the cascade together, in order"
    errors = next(p for p in found if p.title == "model − data")
    assert errors.log and set(errors.keys) == {"obs/energy_error", "obs/specific_heat_error"}
    assert by_title["free energy gap"] == ["train/free_energy_gap"], "each learning signal on its own axes"
    assert by_title["chain: tau m1"] == ["chain/tau_m1"], "a sampler diagnostic is named as one"


def test_a_changing_learning_rate_gets_a_twin_axis_and_single_points_are_left_out():
    h = history(["train/loss"])
    h["train/lr"] = [(0, 0.1), (20, 0.1), (21, 0.01), (45, 0.01)]
    h["obs/final_only"] = [(45, 3.0)]
    found, note = panels(h)
    assert note == ""
    assert [p.keys for p in found] == [["train/loss", "train/lr"]]


def test_unrelated_series_are_split_by_scale():
    keys = [f"obs/q{i}" for i in range(8)]  # more than MAX_SINGLES: grouped, by scale
    h = history(keys, scale=lambda k: 1.0 if int(k[-1]) < 4 else 10 * SCALE_SPLIT)
    found, _ = panels(h)
    for panel in found:
        sizes = {abs(h[k][0][1]) for k in panel.keys}
        assert max(sizes) / min(sizes) <= SCALE_SPLIT, panel
    assert sum(len(p.keys) for p in found) == 8


def test_the_figure_draws_without_layout_warnings():
    h = history(RBM_KEYS)
    h["train/lr"] = [(0, 0.01), (45, 0.01)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_history(h, title="experiment=rbm_ising data.temperature=2.2 " * 4)
        fig.canvas.draw()
    visible = [ax for ax in fig.axes if ax.get_visible() and ax.has_data()]
    assert len(visible) == len(panels(h)[0])
    assert plot_history({"obs/only": [(9, 1.0)]}) is not None, "a trial of final values still gets a figure"


@pytest.mark.parametrize("order", [["obs/model_x", "obs/data_x"], ["obs/data_x", "obs/model_x"]])
def test_description_reports_model_against_data_once(order):
    last = {"obs/model_x": 0.5, "obs/model_x_err": 0.01, "obs/data_x": 0.6, "obs/data_x_err": 0.02, "obs/h": 1.5}
    text = describe(
        status="finished", steps=100, seconds=2.0, device="cpu", last=last, headline="obs/h", keys=order, events={}
    )
    assert text.startswith("**Finished** after 100 steps in 2.0 s on cpu.")
    assert "Headline `obs/h` = 1.5." in text
    assert text.count("x: model 0.5 ± 0.01, data 0.6 ± 0.02") == 1 and "obs/data_x" not in text
