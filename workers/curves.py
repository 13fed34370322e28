"""A trial's training curves, grouped so that a person can read them: `plots/training_curves.png`.

One panel per question, a handful of series at most:

- each learning signal (`train/…`) on its own axes; a learning rate that changes is drawn on a twin axis
  of the first, and a constant one is only named in the title;
- each observable the model and the data both have (`obs/model_X` against `obs/data_X`) on shared axes,
  with its `_err` as a band; numbered components (`m_1`, `m_2`, …) share a panel;
- numbered series with no data twin (the singular-value cascade `sigma_1`, `sigma_2`, …) together;
- the model-minus-data errors (`obs/…_error`) together, on a log axis;
- the rest, and the sampler diagnostics (`chain/…`), each on its own axes; a namespace with more than
  `MAX_SINGLES` of them is chunked so that no panel mixes scales that differ by more than `SCALE_SPLIT`×.

`sys/…` (throughput), `theory/…` marks, change-point summaries and values logged once (a final measurement)
are left out: the runs table, the tags and the run's description hold them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

History = dict[str, list[tuple[int, float]]]

CURVES_FILE = "plots/training_curves.png"

MAX_SERIES = 5
"""Most curves in one panel, other than model/data pairs."""
SCALE_SPLIT = 30.0
"""Series whose typical magnitudes differ by more than this go to different panels."""

PAIRS_PER_PANEL = 3
"""Most model/data pairs in one panel: one colour each, the model solid and the data dashed."""
MAX_SINGLES = 6
"""A namespace with at most this many unrelated series gives each its own panel; more are grouped by scale."""

_NUMBERED = re.compile(r"^(?P<stem>.+?)_(?P<index>\d+)$")


@dataclass
class Panel:
    title: str
    keys: list[str] = field(default_factory=list)
    """Series drawn as lines; for a model/data pair, the model's and the data's keys."""
    log: bool = False


def _stem(name: str) -> str:
    match = _NUMBERED.match(name)
    return match["stem"] if match else name


def _magnitude(points: list[tuple[int, float]]) -> float:
    values = sorted(abs(v) for _, v in points if math.isfinite(v))
    return values[len(values) // 2] if values else 0.0


def _chunk_by_scale(keys: list[str], history: History, limit: int = MAX_SERIES) -> list[list[str]]:
    """Split keys into groups of at most `limit` whose magnitudes are within `SCALE_SPLIT` of each other."""
    ordered = sorted(keys, key=lambda k: (_magnitude(history[k]), k))
    chunks: list[list[str]] = []
    for key in ordered:
        size = _magnitude(history[key])
        if chunks and len(chunks[-1]) < limit:
            low = _magnitude(history[chunks[-1][0]])
            if size <= max(low, 1e-12) * SCALE_SPLIT:
                chunks[-1].append(key)
                continue
        chunks.append([key])
    return chunks


def panels(history: History) -> tuple[list[Panel], str]:
    """The panels `plot_history` draws, and a note for the title (e.g. a constant learning rate)."""
    keys = [k for k in sorted(history) if len(history[k]) > 1 and not k.startswith(("sys/", "cp/", "theory/"))]
    used: set[str] = set()
    out: list[Panel] = []
    note = ""

    lr = [k for k in keys if k.startswith("train/") and k.rsplit("/", 1)[-1] == "lr"]
    for key in lr:
        used.add(key)
        values = {v for _, v in history[key]}
        if len(values) == 1:
            note = f"{key.split('/', 1)[1]}={next(iter(values)):.3g}"
    signals = [k for k in keys if k.startswith("train/") and k not in used]
    for key in signals:
        out.append(Panel(key.split("/", 1)[1].replace("_", " "), [key]))
        used.add(key)
    if lr and not note and out:
        out[0].keys.append(lr[0])  # drawn on a twin axis
    elif lr and not note:
        out.append(Panel("lr", [lr[0]]))

    # model against data, by observable (numbered components share a panel)
    pairs: dict[str, list[str]] = {}
    for key in keys:
        if key.startswith("obs/model_") and not key.endswith("_err"):
            name = key.removeprefix("obs/model_")
            if f"obs/data_{name}" in history:
                pairs.setdefault(_stem(name), []).append(name)
    for stem, names in pairs.items():
        names = sorted(names)
        for start in range(0, len(names), PAIRS_PER_PANEL):
            part = names[start : start + PAIRS_PER_PANEL]
            panel = Panel(f"{stem.replace('_', ' ')}: model vs data")
            for name in part:
                panel.keys += [f"obs/model_{name}", f"obs/data_{name}"]
            out.append(panel)
        for name in names:
            used.update({f"obs/model_{name}", f"obs/data_{name}", f"obs/model_{name}_err", f"obs/data_{name}_err"})

    rest = [k for k in keys if k not in used and not (k.endswith("_err") and k[: -len("_err")] in history)]
    errors = [k for k in rest if k.startswith("obs/") and k.endswith("_error")]
    if errors:
        for chunk in _chunk_by_scale(errors, history, limit=MAX_SERIES):
            out.append(Panel("model − data", chunk, log=True))
        used.update(errors)
    rest = [k for k in rest if k not in used]

    numbered: dict[str, list[str]] = {}
    for key in rest:
        ns, name = key.split("/", 1) if "/" in key else ("other", key)
        if _NUMBERED.match(name):
            numbered.setdefault(f"{ns}/{_stem(name)}", []).append(key)
    for stem, members in numbered.items():
        if len(members) < 2:
            continue
        members.sort(key=lambda k: int(_NUMBERED.match(k.split("/", 1)[-1])["index"]))
        for start in range(0, len(members), MAX_SERIES):
            out.append(Panel(stem.split("/", 1)[1].replace("_", " "), members[start : start + MAX_SERIES]))
        used.update(members)

    by_ns: dict[str, list[str]] = {}
    for key in rest:
        if key not in used:
            by_ns.setdefault(key.split("/", 1)[0] if "/" in key else "other", []).append(key)
    for ns, members in by_ns.items():
        few = len(members) <= MAX_SINGLES  # few enough that each reads best on its own axes
        for chunk in [[k] for k in members] if few else _chunk_by_scale(members, history):
            name = chunk[0].split("/", 1)[-1].replace("_", " ") if len(chunk) == 1 else ""
            # a sampler diagnostic says so: `chain: abs magnetization` is the chains', not an observable
            title = name if ns == "obs" and name else f"{ns}: {name}" if name else ns
            out.append(Panel(title, chunk))
    return out, note


def _draw(ax, history: History, key: str, label: str, **style) -> None:
    points = sorted(history[key])
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    (line,) = ax.plot(xs, ys, label=label, marker="." if len(xs) < 40 else None, **style)
    err = history.get(f"{key}_err")
    if err:
        e = dict(err)
        band = [(x, y, e[x]) for x, y in zip(xs, ys, strict=True) if x in e]
        if band:
            bx, by, be = zip(*band, strict=True)
            lo = [y - d for y, d in zip(by, be, strict=True)]
            hi = [y + d for y, d in zip(by, be, strict=True)]
            ax.fill_between(bx, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)


def prepare_drawing() -> None:
    """Import what drawing a figure takes (matplotlib, its Agg backend, its font list): about a second
    of CPU, which a driver spends here while its first trials run rather than after they end."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.backends.backend_agg
    import matplotlib.figure
    from matplotlib import font_manager

    font_manager.fontManager.findfont("DejaVu Sans")


def plot_history(history: History, title: str = ""):
    """The training-curves figure of one trial (see the module docstring for its panels)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    found, note = panels(history)
    if not found:
        note = "; ".join(p for p in (note, "every metric is a single final value: see the run's metrics") if p)
    n = max(1, len(found))
    cols = 1 if n == 1 else 2
    rows = math.ceil(n / cols)
    height = 2.5 * rows + 0.9
    fig = Figure(figsize=(6 * cols, height))
    # fixed margins: constrained layout would double the figure's drawing time, for panels of one shape
    fig.subplots_adjust(left=0.08, right=0.95, bottom=0.45 / height, top=1 - 0.75 / height, hspace=0.55, wspace=0.25)
    axes = fig.subplots(rows, cols, squeeze=False)
    for index, ax in enumerate(axes.flat):
        if index >= len(found):
            ax.set_visible(bool(found))
            ax.axis("off")
            continue
        panel = found[index]
        lines = panel.keys
        if panel.title.endswith("model vs data"):
            colours: dict[str, str] = {}
            for key in lines:
                who, name = key.removeprefix("obs/").split("_", 1)
                label = f"{who} {name}" if _NUMBERED.match(name) else who
                colour = colours.setdefault(name, f"C{len(colours)}")
                # the data's curve is the reference: dashed, in its model's colour
                _draw(ax, history, key, label, color=colour, linestyle="--" if who == "data" else "-")
        else:
            twin = [k for k in lines if k.rsplit("/", 1)[-1] == "lr"] if len(lines) > 1 else []
            for key in lines:
                if key not in twin:
                    _draw(ax, history, key, key.split("/", 1)[-1])
            if twin:
                other = ax.twinx()
                _draw(other, history, twin[0], "lr", color="0.4", linestyle=":")
                other.set_ylabel("lr", fontsize="small", color="0.4")
        if panel.log and all(v > 0 for k in lines for _, v in history[k]):
            ax.set_yscale("log")
        ax.set_title(panel.title, fontsize="medium")
        ax.grid(alpha=0.3)
        if len(lines) > 1 or panel.title.endswith("model vs data"):
            ax.legend(fontsize="x-small", loc="best")
        if index >= len(found) - cols:
            ax.set_xlabel("step")
    heading = "  ·  ".join(p for p in (title, note) if p)
    if heading:
        import textwrap

        fig.suptitle(textwrap.fill(heading, 70 * cols), fontsize="medium")
    return fig


def log_training_curves(client, run_id: str, history: History, title: str) -> None:
    """Draw a trial's training curves from its history and log them to its run (ended or not): how the
    sweep driver draws them for its Ray trials, off their critical path."""
    client.log_figure(run_id, plot_history(history, title=title), CURVES_FILE)
