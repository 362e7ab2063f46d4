"""Dose-response plots (metric vs alpha, H-neurons against random controls), one PNG per model, via matplotlib."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from hneuron_eval.core.fileio import atomic_path
from hneuron_eval.core.run_kind import RunKind

if TYPE_CHECKING:
    from hneuron_eval.report.runs import EvalRun
    from hneuron_eval.report.types import Column


def dose_response_plots(runs: list[EvalRun], columns: list[Column], folder: Path) -> list[tuple[str, str]]:
    """Write ``folder/<model>.png`` per model with an intervened run; returns (path below the board, caption)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for model in sorted({r.model_label for r in runs}):
        mine = [r for r in runs if r.model_label == model]
        if not any(r.intervention.kind is not RunKind.BASELINE and r.intervention.alpha is not None for r in mine):
            continue
        shown = [c for c in columns if any(r.metric(c.task, c.metric) is not None for r in mine)]
        ncols = min(3, len(shown))
        nrows = math.ceil(len(shown) / ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False)
        for ax, column in zip(axes.flat, shown):
            _panel(ax, mine, column)
        for ax in list(axes.flat)[len(shown):]:
            ax.axis("off")
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=3, frameon=False)
        fig.suptitle(f"{model}: metric vs alpha (alpha=1 is the unmodified model)")
        fig.tight_layout(rect=(0, 0.06, 1, 0.97))
        path = folder / f"{_slug(model)}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})  # no version stamp: same bytes
        plt.close(fig)
        written.append((f"{folder.name}/{path.name}", f"{model}: dose-response"))
    kept = {Path(path).name for path, _ in written}
    for stale in folder.glob("*.png") if folder.is_dir() else ():
        if stale.name not in kept:
            stale.unlink()  # a plot of a model no longer among the inputs
    return written


def _panel(ax, runs: list[EvalRun], column: Column) -> None:
    """H-neuron means with their standard errors; each random control seed thin, their mean dashed, min-max band."""
    base = next((r for r in runs if r.intervention.kind is RunKind.BASELINE), None)
    base_point = base.metric(column.task, column.metric) if base else None
    h = sorted((r.intervention.alpha, r.metric(column.task, column.metric)) for r in runs
               if r.intervention.kind is RunKind.HNEURONS and r.intervention.alpha is not None)
    h = [(a, m) for a, m in h if m is not None] + ([(1.0, base_point)] if base_point else [])
    h.sort()
    if h:
        ax.errorbar([a for a, _ in h], [m[0] for _, m in h], yerr=[m[1] or 0 for _, m in h], color="C3", marker="o",
                    capsize=3, label="H-neurons (± s.e.)")
    by_seed: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for r in runs:
        m = r.metric(column.task, column.metric)
        if r.intervention.kind is RunKind.CONTROL and r.intervention.alpha is not None and m is not None:
            by_seed[r.intervention.seed if r.intervention.seed is not None else -1].append((r.intervention.alpha, m[0]))
    if by_seed:
        by_alpha: dict[float, list[float]] = defaultdict(list)
        for seed, points in sorted(by_seed.items()):
            points = sorted(points + ([(1.0, base_point[0])] if base_point else []))
            ax.plot([a for a, _ in points], [v for _, v in points], color="C0", alpha=0.35, linewidth=0.8)
            for a, v in points:
                by_alpha[a].append(v)
        alphas = sorted(by_alpha)
        ax.fill_between(alphas, [min(by_alpha[a]) for a in alphas], [max(by_alpha[a]) for a in alphas],
                        color="C0", alpha=0.15, label="random controls (min-max)")
        ax.plot(alphas, [sum(by_alpha[a]) / len(by_alpha[a]) for a in alphas], color="C0", linestyle="--",
                marker="s", label="random controls (mean)")
    ax.set_title(f"{column.task} / {column.metric} {column.arrow}".strip(), fontsize=9)
    ax.set_xlabel("alpha")
    ax.grid(alpha=0.3)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")
