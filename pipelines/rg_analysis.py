"""The RG fixed point of a block-spin sweep, by Swendsen's matching across its lattice sizes.

A sweep of `experiment=ising_blockspin` over `data.temperature` and two lattice sides L and L/b (for
example `data.L=32,64`) logs, per trial, a short-range observable K of every block-spin level as
`obs/<K>_l<k>`. Swendsen's matching (PRL 42, 859, 1979) compares the side-L lattice blocked n times
with the side-L/b lattice blocked n − 1 times, which end at the same side L/bⁿ:

- below the fixed point the larger lattice is more ordered, above it less, so the curves K_L(T) and
  K_{L/b}(T) cross at T*;
- the RG map T → T′ solves K_{L/b}(T′) = K_L(T), and its slope at T* is λ_T = b^{1/ν}, so ν = ln b / ln λ_T.

Both come from `models.ising.rg_fixed_point` on cubic fits at the `analysis.rg_fit_points` temperatures
nearest each crossing, with parametric-bootstrap CIs; seeds are averaged, their errors added in
quadrature. `analysis.rg_match` names K (`nn_correlation` or `nnn_correlation`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pipelines.sweepdata import Sweep

TEMPERATURE = "data.temperature"


def curve(sweep: Sweep, size_axis: str, side: str, name: str, level: int, temperatures: np.ndarray):
    """`rg.Curve` of `obs/<name>_l<level>` of the side-`side` trials over `temperatures`: the seeds' mean,
    with their errors added in quadrature (√Σσ² / k); None where a temperature has no finished trial."""
    from models.ising.rg import Curve

    key = f"obs/{name}_l{level}"
    values, errors = [], []
    for T in temperatures:
        rows = [
            t
            for t in sweep.trials
            if t.status == "finished"
            and t.values.get(size_axis) == side
            and float(t.values[TEMPERATURE]) == T
            and key in t.metrics
        ]
        if not rows:
            return None
        values.append(np.mean([t.metrics[key] for t in rows]))
        errors.append(math.sqrt(sum(t.metrics.get(f"{key}_err", 0.0) ** 2 for t in rows)) / len(rows))
    return Curve(np.asarray(values), np.maximum(np.asarray(errors), 1e-12))


def matched_pairs(sides: list[int]) -> list[tuple[int, int, int]]:
    """(large side, small side, b) for every pair of swept sides whose ratio is an integer b ≥ 2."""
    out = []
    for i, small in enumerate(sides):
        for large in sides[i + 1 :]:
            if large % small == 0 and large // small >= 2:
                out.append((large, small, large // small))
    return out


def rg_estimates(sweep: Sweep) -> tuple[list[dict[str, Any]], list[str], dict[str, list[tuple[float, float]]]]:
    """Every matched (large, small, level) pair's T* and ν, as estimate dicts like the analysis's own;
    the notes of pairs that could not be matched; and the RG map T → T′ of each pair, for the flow figure."""
    from models.ising import rg

    name = sweep.analysis.get("rg_match")
    size_axis = sweep.analysis.get("size_axis") or "data.L"
    points = int(sweep.analysis.get("rg_fit_points") or 4)
    estimates, notes, maps = [], [], {}
    if not name or TEMPERATURE not in sweep.axes or size_axis not in sweep.axes:
        return estimates, notes, maps
    temperatures = np.array(sorted({float(v) for v in sweep.axes[TEMPERATURE]}))
    sides = sorted(int(v) for v in sweep.axes[size_axis])
    for large, small, b in matched_pairs(sides):
        for n in range(1, 16):
            k_large = curve(sweep, size_axis, str(large), name, n, temperatures)
            k_small = curve(sweep, size_axis, str(small), name, n - 1, temperatures)
            if k_large is None or k_small is None:
                break
            label = f"{large}/{small}, end {large // b**n}"
            try:
                t, wl, ws = rg.nearest_window(temperatures, k_large, k_small, points)
                r = rg.rg_fixed_point(t, wl, ws, b=b, seed=n)
            except ValueError as err:
                notes.append(f"rg_match of {name} [{label}]: {err}")
                continue
            fixed = {"pair": f"{large}/{small}", "end_size": str(large // b**n)}
            details = {"nu": r.nu, "nu_ci": list(r.nu_ci), "eigenvalue": r.eigenvalue, "chi2_dof": list(r.chi2_dof)}
            estimates.append(
                {
                    "method": "rg_match",
                    "axis": TEMPERATURE,
                    "fixed": fixed,
                    "observable": f"obs/{name}",
                    "location": r.t_star,
                    "ci_low": r.t_star_ci[0],
                    "ci_high": r.t_star_ci[1],
                    "n_boot": r.draws,
                    "details": details,
                }
            )
            t_prime = interpolated_map(temperatures, k_large.values, k_small.values)
            maps[label] = [(float(a), float(c)) for a, c in zip(temperatures, t_prime, strict=True) if np.isfinite(c)]
    return estimates, notes, maps


def interpolated_map(temperatures: np.ndarray, large: np.ndarray, small: np.ndarray) -> np.ndarray:
    """The RG map over the whole sweep, T′ solving K_small(T′) = K_large(T), by linear interpolation of the
    measured K_small where it is monotone in T (a short-range correlation falls with T); NaN where K_large(T)
    lies outside K_small's measured range. The cubic fits near T* give T* and ν; this only draws the flow."""
    order = np.argsort(small)
    if np.any(np.diff(small[order]) <= 0) or not (np.all(np.diff(small) < 0) or np.all(np.diff(small) > 0)):
        return np.full(len(temperatures), np.nan)
    t_prime = np.interp(large, small[order], temperatures[order], left=np.nan, right=np.nan)
    return t_prime


def rg_metrics(estimates: list[dict[str, Any]]) -> dict[str, float]:
    """`rg/t_star/<L>_<L/b>/end_<side>` and `rg/nu/…`, each with `_ci_low` / `_ci_high`."""
    out = {}
    for e in estimates:
        if e["method"] != "rg_match":
            continue
        where = f"{e['fixed']['pair'].replace('/', '_')}/end_{e['fixed']['end_size']}"
        nu, (nu_low, nu_high) = e["details"]["nu"], e["details"]["nu_ci"]
        for key, value in (
            (f"rg/t_star/{where}", e["location"]),
            (f"rg/t_star/{where}_ci_low", e["ci_low"]),
            (f"rg/t_star/{where}_ci_high", e["ci_high"]),
            (f"rg/nu/{where}", nu),
            (f"rg/nu/{where}_ci_low", nu_low),
            (f"rg/nu/{where}_ci_high", nu_high),
        ):
            if value is not None and math.isfinite(value):
                out[key] = float(value)
    return out


def flow_figure(estimates: list[dict[str, Any]], maps: dict[str, list[tuple[float, float]]]):
    """The RG flow: one row per matched pair, an arrow T → T′ for each swept temperature, the fixed point
    T* with its CI in red, and T_c (Onsager) dashed. Arrows point away from T*: it is unstable."""
    from models.ising import T_CRITICAL
    from pipelines.plots import _plt

    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.7 * max(1, len(maps))))
    found = {f"{e['fixed']['pair']}, end {e['fixed']['end_size']}": e for e in estimates if e["method"] == "rg_match"}
    for row, (label, pairs) in enumerate(maps.items()):
        for t, tp in pairs:
            ax.annotate("", xy=(tp, row), xytext=(t, row), arrowprops=dict(arrowstyle="->", color="tab:blue", lw=1.1))
            ax.plot([t], [row], "o", color="tab:blue", ms=3)
        e = found.get(label)
        if e is not None:
            ax.errorbar(
                [e["location"]],
                [row],
                xerr=[[e["location"] - e["ci_low"]], [e["ci_high"] - e["location"]]],
                fmt="|",
                color="tab:red",
                ms=14,
                capsize=4,
            )
    ends = [v for pairs in maps.values() for pair in pairs for v in pair]
    if ends:  # every arrow's tail and head inside the axes (an annotation outside them is not drawn)
        pad = 0.03 * (max(ends) - min(ends) or 1.0)
        ax.set_xlim(min(ends) - pad, max(ends) + pad)
    ax.axvline(T_CRITICAL, color="k", ls="--", lw=0.8, label="T_c (Onsager)")
    ax.set_yticks(range(len(maps)), list(maps))
    ax.set_ylim(-0.6, len(maps) - 0.4)
    ax.set_xlabel("T  (arrow: T → T′, the RG map; red: the fixed point T* and its CI)")
    ax.set_title("RG flow by Swendsen's matching")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig
