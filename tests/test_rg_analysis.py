"""The sweep-level RG analysis (`pipelines.rg_analysis`): a block-spin sweep built from a known RG map
gives back its fixed point and exponent, and its flow figure and metrics."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.rg_analysis import flow_figure, matched_pairs, rg_estimates, rg_metrics
from pipelines.sweepdata import Sweep, Trial

T_STAR, B, NU = 2.27, 2, 1.0


def K(T):
    """A smooth short-range correlation of the smaller lattice."""
    return 0.6 - 0.9 * (T - 2.2) + 0.4 * (T - 2.2) ** 2


def synthetic_sweep(seeds: int = 3) -> Sweep:
    """Sides 32 and 64 over 13 temperatures: level n−1 of side 32 is K(T), level n of side 64 is
    K(T′) with T′ = T* + b^{1/ν}(T − T*), for n = 1, 2 (so both levels match at T*)."""
    lam = B ** (1 / NU)
    temps = np.round(np.linspace(2.0, 2.6, 13), 10)
    trials = []
    for T in temps:
        for seed in range(seeds):
            for side, shift in (("32", 0.0), ("64", 1.0)):
                t = T_STAR + lam * (T - T_STAR) if shift else T
                metrics = {}
                for level in range(3):
                    metrics[f"obs/nn_correlation_l{level}"] = K(t) + 0.01 * level
                    metrics[f"obs/nn_correlation_l{level}_err"] = 1e-4
                if side == "64":  # level n of 64 meets level n−1 of 32: same offset
                    metrics = {
                        k.replace(f"_l{lv}", f"_l{lv + 1}"): v
                        for lv in (1, 0)
                        for k, v in list(metrics.items())
                        if f"_l{lv}" in k
                    }
                trials.append(
                    Trial(
                        f"{side}-{T}-{seed}",
                        {"data.L": side, "data.temperature": repr(float(T)), "seed": str(seed)},
                        "finished",
                        metrics,
                    )
                )
    axes = {"data.L": ["32", "64"], "data.temperature": [repr(float(T)) for T in temps], "seed": ["0", "1", "2"]}
    return Sweep("parent", "ising_blockspin", axes, {"rg_match": "nn_correlation", "size_axis": "data.L"}, trials)


def test_pairs_are_sides_an_integer_factor_apart():
    assert matched_pairs([16, 32, 48, 64]) == [(32, 16, 2), (48, 16, 3), (64, 16, 4), (64, 32, 2)]


def test_a_known_map_gives_back_its_fixed_point_and_exponent():
    estimates, notes, maps = rg_estimates(synthetic_sweep())
    assert not notes and len(estimates) == 2  # 64 blocked once against 32, and twice against 32 blocked once
    for e in estimates:
        assert e["location"] == pytest.approx(T_STAR, abs=1e-6)
        assert e["details"]["nu"] == pytest.approx(NU, rel=1e-4)
        assert e["ci_low"] <= T_STAR <= e["ci_high"]
    metrics = rg_metrics(estimates)
    assert metrics["rg/t_star/64_32/end_32"] == pytest.approx(T_STAR, abs=1e-6)
    assert metrics["rg/nu/64_32/end_16"] == pytest.approx(NU, rel=1e-4)
    assert all(len(pairs) >= 4 for pairs in maps.values())
    for label, pairs in maps.items():  # T′ − T* = λ (T − T*): the flow runs away from T*
        for t, t_prime in pairs:
            assert t_prime - T_STAR == pytest.approx(B ** (1 / NU) * (t - T_STAR), abs=2e-3), label  # linear interp.
    fig = flow_figure(estimates, maps)
    assert len(fig.axes[0].get_yticks()) == 2


def test_a_sweep_without_two_matching_sides_has_nothing_to_match():
    sweep = synthetic_sweep()
    sweep.axes["data.L"] = ["64"]
    sweep.trials = [t for t in sweep.trials if t.values["data.L"] == "64"]
    assert rg_estimates(sweep) == ([], [], {})
