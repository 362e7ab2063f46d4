"""The sparsity path as a picture: neurons kept against cross-validated AUROC and accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hneuron_eval.core.fileio import atomic_path


def plot_sparsity_path(path: list[dict[str, Any]], chosen: float, title: str, out: Path) -> None:
    """Neurons kept against cross-validated AUROC and accuracy (± one standard error), the chosen C marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kept = [max(g["n_h_neurons"], 1) for g in path]  # log axis: a C that keeps none is drawn at 1
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for key, label, marker in (("cv_auroc", "CV AUROC", "o"), ("cv_accuracy", "CV accuracy", "s")):
        ax.errorbar(kept, [g[key] for g in path], yerr=[g[f"{key}_se"] for g in path], marker=marker,
                    capsize=3, label=label)
    pick = next(g for g in path if g["C"] == chosen)
    ax.axvline(max(pick["n_h_neurons"], 1), color="grey", linestyle="--", label=f"chosen C={chosen:g}")
    for g, x in zip(path, kept):
        ax.annotate(f"C={g['C']:g}", (x, g["cv_auroc"]), textcoords="offset points", xytext=(0, 6), fontsize=6,
                    ha="center")
    ax.set_xscale("log")
    ax.set_xlabel("H-neurons kept (fit on all train responses)")
    ax.set_ylabel("held-out folds")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
