"""Leaderboard tables from lm-eval runs: each intervention against the same model's baseline, paired per document.

Significance comes from the logged samples: an exact two-sided sign test on the documents
whose value changed (McNemar's exact test for 0/1 metrics), a bootstrap CI of the change, and
the Benjamini-Hochberg correction across every test in the table; a change is marked only when
it survives the correction. The dose-response slope (change per unit alpha) of each metric is
fitted to the H-neuron runs and to the pooled random controls, with document-bootstrap CIs.
Everything is computed from the JSON/JSONL files alone; the same inputs give the same bytes.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import binomtest, false_discovery_control

from hneuron_eval.core.fileio import write_text_atomic
from hneuron_eval.core.run_kind import RunKind
from hneuron_eval.core.stats import bootstrap_ci
from hneuron_eval.report.html import render_html
from hneuron_eval.report.runs import EvalRun, RunWarning, find_runs
from hneuron_eval.report.types import Change, Column, Row, Slope, Untested


@dataclass
class Leaderboard:
    """The computed table; its methods render it as markdown, CSV, HTML or a terminal table."""

    out: Path
    title: str
    columns: list[Column]
    rows: list[Row]
    slopes: list[Slope]
    fdr: float
    n_boot: int
    judge_versions: list[str]
    skipped: list[str]
    command: str
    plots: list[tuple[str, str]] = field(default_factory=list)  # (relative path, caption)
    mismatches: list[str] = field(default_factory=list)  # runs of one model on different --limit / documents

    def markdown(self) -> str:
        return _markdown(self)

    def csv(self) -> str:
        return _csv(self)

    def html(self) -> str:
        return _html(self)

    def terminal_table(self) -> str:
        return _terminal(self)


def build_leaderboard(folders: Sequence[str | os.PathLike], out: str | os.PathLike, *, title: str = "H-neuron "
                      "leaderboard", fdr: float = 0.05, n_boot: int = 2000, plots: bool = True,
                      command: str = "") -> Leaderboard:
    """Read the runs, compute every paired test and slope, and write LEADERBOARD.md, leaderboard.csv/.html, plots."""
    if not 0 < fdr < 1:
        raise ValueError(f"--fdr must be in (0, 1), got {fdr}")
    if n_boot < 100:
        raise ValueError(f"--bootstrap must be at least 100, got {n_boot}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RunWarning)
        try:
            runs = find_runs(list(folders))
        finally:  # also when nothing usable is left: the warnings say why
            skipped = [str(w.message) for w in caught if issubclass(w.category, RunWarning)]
            for message in skipped:
                print(f"hneuron-eval: warning: {message}", file=sys.stderr)
    out = Path(out)
    columns = _columns(runs)
    rows = _rows(runs, columns, n_boot)
    _correct(rows, fdr)
    board = Leaderboard(out, title, columns, rows, _slopes(runs, columns, n_boot), fdr, n_boot,
                        sorted(set().union(*(r.judge_versions() for r in runs))), skipped, command,
                        mismatches=_mismatches(runs))
    for message in board.mismatches:
        print(f"hneuron-eval: warning: {message}", file=sys.stderr)
    if plots:
        from hneuron_eval.report.plots import dose_response_plots

        board.plots = dose_response_plots(runs, [c for c in columns if not c.is_group], out / "plots")
    write_text_atomic(out / "LEADERBOARD.md", board.markdown())
    write_text_atomic(out / "leaderboard.csv", board.csv())
    write_text_atomic(out / "leaderboard.html", board.html())
    return board


# ---- columns, rows and tests --------------------------------------------------------------------

def column_agreement(board: Leaderboard, column: Column) -> tuple[float, float] | None:
    """(lowest, highest) sealed-test agreement of the table's one judge on the decision ``column`` counts,
    over the column's member tasks; None with several judges or one the sealed test never scored."""
    from hneuron_eval.judges.quality import metric_agreement

    if len(board.judge_versions) != 1:
        return None
    found = [metric_agreement(board.judge_versions[0], task, column.metric) for task in column.members]
    if not found or None in found:
        return None
    values = [f["value"] for f in found]
    return min(values), max(values)


def _agreement_cell(span: tuple[float, float] | None) -> str:
    if span is None:
        return "n/a"
    low, high = span
    return f"{low:.2f}" if low == high else f"{low:.2f}-{high:.2f}"


def _mismatches(runs: list[EvalRun]) -> list[str]:
    """Runs of one model that used different dtypes or ``--limit``, or logged different documents of a task."""
    out = []
    for model in dict.fromkeys(r.model_label for r in runs):
        mine = [r for r in runs if r.model_label == model]
        dtypes = {r.dtype for r in mine}
        if len(dtypes) > 1:
            out.append(f"{model}: its runs used different dtypes ({', '.join(sorted(dtypes))}); a paired change "
                       "against its baseline mixes the intervention with the dtype")
        limits = {str(r.data.get("config", {}).get("limit")) for r in mine}
        if len(limits) > 1:
            out.append(f"{model}: its runs used different --limit ({', '.join(sorted(limits))}); each paired test "
                       "uses only the documents both runs logged")
        for task in sorted({t for r in mine for t in r.tasks()}):
            sizes = {r.sample_size(task) for r in mine if task in r.data["results"]} - {None}
            if len(sizes) > 1:
                out.append(f"{model}: {task} was evaluated on different numbers of documents "
                           f"({', '.join(map(str, sorted(sizes)))}) across its runs")
    return out


def _columns(runs: list[EvalRun]) -> list[Column]:
    """Every task metric any run reports, groups first; a repeat of another metric of its task is dropped."""
    found: dict[tuple[str, str], Column] = {}
    for run in runs:
        for task in run.tasks():
            for metric in run.metric_names(task):
                if (task, metric) not in found:
                    found[(task, metric)] = Column(task, metric, run.higher_is_better(task, metric),
                                                   tuple(run.subtasks(task)))
    kept = []
    for (task, metric), column in sorted(found.items(), key=lambda kv: (not kv[1].is_group, kv[0][0])):
        twin = next((c for c in kept if c.task == task and c.higher_is_better == column.higher_is_better
                     and _same_everywhere(runs, task, c.metric, metric)), None)
        if twin is None:
            kept.append(column)
    return kept


def _same_everywhere(runs: list[EvalRun], task: str, a: str, b: str) -> bool:
    return all(run.metric(task, a) == run.metric(task, b) for run in runs if task in run.data["results"])


def _rows(runs: list[EvalRun], columns: list[Column], n_boot: int) -> list[Row]:
    baselines = {r.model_label: r for r in runs if r.intervention.kind is RunKind.BASELINE}
    rows = []
    for run in runs:
        base = baselines.get(run.model_label)
        row = Row(run, {c.key: run.metric(c.task, c.metric) for c in columns})
        if run.intervention.kind is not RunKind.BASELINE:
            for column in columns:
                if row.values[column.key] is None:
                    continue
                row.changes[column.key] = ("n/a (no baseline run of this model)" if base is None
                                           else _change(base, run, column, n_boot))
        rows.append(row)
    return rows


def _paired(base: EvalRun, run: EvalRun, task: str, metric: str) -> np.ndarray | Untested:
    """Per-document differences run - base over the documents both logged, or why there are none."""
    a, b = base.samples(task), run.samples(task)
    if a is None or b is None:
        return Untested("n/a (no logged samples)")
    shared = sorted(d for d in set(a) & set(b) if metric in a[d] and metric in b[d])
    if not shared:
        return Untested("n/a (no shared documents)")
    return np.array([b[d][metric] - a[d][metric] for d in shared])


def _change(base: EvalRun, run: EvalRun, column: Column, n_boot: int) -> Change | Untested:
    diffs = []
    for task in column.members:
        if column.is_group and base.metric(task, column.metric) is None:
            continue  # a member that does not report this metric
        d = _paired(base, run, task, column.metric)
        if isinstance(d, Untested):
            return d  # a member without logged samples: no test rather than a test on part of the group
        diffs.append((task, d))
    if not diffs:
        return Untested("n/a (no logged samples)")
    weights = _group_weights(base, column, [t for t, _ in diffs])
    if weights is None:
        return Untested("n/a (group weighting not reproduced)")
    w = np.array(weights, dtype=float) / sum(weights)
    arrays = [d for _, d in diffs]
    up = int(sum((d > 0).sum() for d in arrays))
    down = int(sum((d < 0).sum() for d in arrays))
    delta = float(sum(wi * d.mean() for wi, d in zip(w, arrays)))
    ci = None
    if all(len(d) >= 2 for d in arrays):
        ci = bootstrap_ci(arrays, lambda *xs: sum(wi * x.mean() for wi, x in zip(w, xs)), n_boot)
    p = float(binomtest(up, up + down).pvalue) if up + down else 1.0
    return Change(delta, ci, up, down, int(sum(len(d) for d in arrays)), p)


def _group_weights(base: EvalRun, column: Column, members: list[str]) -> list[float] | None:
    """Member weights that reproduce the group value lm-eval reported (by size, or equal); [1] for a task."""
    if not column.is_group:
        return [1.0]
    reported = base.metric(column.task, column.metric)
    values = [base.metric(t, column.metric) for t in members]
    sizes = [base.sample_size(t) for t in members]
    if reported is None or any(v is None for v in values) or any(s is None for s in sizes):
        return None
    for weights in (sizes, [1] * len(members)):
        mean = sum(w * v[0] for w, v in zip(weights, values)) / sum(weights)  # type: ignore[index]
        if math.isclose(mean, reported[0], rel_tol=1e-9, abs_tol=1e-12):
            return [float(w) for w in weights]  # type: ignore[misc]
    return None


def min_attainable_p(changed: int) -> float:
    """The smallest two-sided sign-test p-value ``changed`` discordant documents can give: 2 * 0.5**n."""
    return min(1.0, 2 * 0.5 ** changed)


def _family(rows: list[Row], fdr: float) -> list[tuple[Row, str]]:
    """The tests the correction counts: those that could reach p < fdr at all (Tarone 1990).

    With n documents changed the sign test cannot go below 2 * 0.5**n, so a cell with fewer than
    log2(2 / fdr) changed documents (6 at fdr 0.05) can never be a discovery; counting it would
    only make the correction stricter for the cells that can.
    """
    return [(row, key) for row in rows for key, c in row.changes.items()
            if c.tested and min_attainable_p(c.up + c.down) < fdr]


def _correct(rows: list[Row], fdr: float) -> None:
    """Benjamini-Hochberg across the table's testable cells; a change is significant when its q < fdr."""
    tests = _family(rows, fdr)
    if not tests:
        return
    qs = false_discovery_control([row.changes[key].p for row, key in tests], method="bh")  # type: ignore[union-attr]
    for (row, key), q in zip(tests, qs):
        c = row.changes[key]
        row.changes[key] = Change(c.delta, c.ci, c.up, c.down, c.docs, c.p, float(q), bool(q < fdr))  # type: ignore


def _slopes(runs: list[EvalRun], columns: list[Column], n_boot: int) -> list[Slope]:
    out = []
    for model in sorted({r.model_label for r in runs}):
        mine = [r for r in runs if r.model_label == model]
        base = [r for r in mine if r.intervention.kind is RunKind.BASELINE]
        for column in (c for c in columns if not c.is_group):
            for arm, kind in (("H-neurons", RunKind.HNEURONS), ("random controls", RunKind.CONTROL)):
                arm_runs = base + [r for r in mine if r.intervention.kind is kind and r.intervention.alpha is not None]
                slope = _slope(model, column, arm, arm_runs, n_boot)
                if slope is not None:
                    out.append(slope)
    return out


def _slope(model: str, column: Column, arm: str, runs: list[EvalRun], n_boot: int) -> Slope | None:
    alphas = [1.0 if r.intervention.kind is RunKind.BASELINE else float(r.intervention.alpha) for r in runs]  # type: ignore
    logged = [r.samples(column.task) for r in runs]
    pairs = [(a, s) for a, s in zip(alphas, logged) if s is not None]
    if len({a for a, _ in pairs}) < 2:
        return None
    docs = sorted(set.intersection(*(
        {d for d, m in s.items() if column.metric in m} for _, s in pairs)))
    if len(docs) < 2:
        return None
    x = np.array([a for a, _ in pairs])
    ys = tuple(np.array([s[d][column.metric] for d in docs]) for _, s in pairs)

    def fit(*rows: np.ndarray) -> float:
        return float(np.polyfit(x, [r.mean() for r in rows], 1)[0])

    return Slope(model, column, arm, fit(*ys), bootstrap_ci(ys, fit, n_boot, paired=True), len(pairs), len(docs))


# ---- rendering -------------------------------------------------------------------------------------

def _fmt(x: float | None, digits: int = 3, signed: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    text = f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"
    return "+0.000"[: len(text)] if signed and float(text) == 0 else text


def _p(p: float) -> str:
    return "n/a" if math.isnan(p) else f"{p:.2g}"


def _value_cell(value: tuple[float, float | None] | None) -> str:
    if value is None:
        return ""
    v, se = value
    return f"{_fmt(v)} ± {_fmt(se)}" if se is not None else _fmt(v)


def _change_cell(change: Change | Untested | None) -> str:
    if change is None:
        return ""
    if not change.tested:
        return change.reason
    return f"{_fmt(change.delta, signed=True)}{change.mark()}"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _markdown(board: Leaderboard) -> str:
    lines = [f"# {board.title}", ""]
    lines += [
        "Each row is a model x intervention; each cell is lm-eval's value ± its standard error and, in brackets, "
        "the change against the same model's run without intervention. A change is marked `*` when its paired "
        "test (exact two-sided sign test on the documents that changed; for 0/1 metrics this is McNemar's exact "
        f"test) survives the Benjamini-Hochberg correction at FDR {board.fdr} across the {_n_family(board)} "
        f"tests of this table that could reach p < {board.fdr} at all (of {_n_tests(board)}: a cell with fewer "
        "changed documents can never be a discovery and is not counted, Tarone 1990). ↑/↓: higher/lower is "
        "better. The first row gives, per column, how often the judge agreed with two blind labellers on the "
        "sealed test about the yes/no decision the column counts (a range over a group's tasks; n/a: no sealed-test "
        "score for this judge, or several judges).",
        "",
        f"Judges: {', '.join(f'`{v}`' for v in board.judge_versions) or 'not recorded'}"
        + (" — **more than one judge version: these rows are not comparable**" if len(board.judge_versions) > 1
           else ""),
        "",
    ]
    if board.command:
        lines += [f"Command: `{board.command}`", ""]
    if board.mismatches:
        lines += ["**Runs that are not like for like:**", ""] + [f"- {_md_escape(m)}" for m in board.mismatches] + [""]
    header = ["model", "intervention"] + [f"{c.key} {c.arrow}".strip() for c in board.columns]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.append("| judge agreement | sealed test | " + " | ".join(_agreement_cell(column_agreement(board, c))
                                                              for c in board.columns) + " |")
    for row in board.rows:
        cells = [row.run.model_label, row.run.intervention.label]
        for c in board.columns:
            value = _value_cell(row.values[c.key])
            change = _change_cell(row.changes.get(c.key))
            cells.append(f"{value} ({change})" if value and change else value)
        lines.append("| " + " | ".join(_md_escape(x) for x in cells) + " |")
    lines += ["", "## Paired tests", "",
              f"Per document against the baseline: Δ (change of the mean), its 95% bootstrap CI ({board.n_boot} "
              "resamples of the documents), documents up / down / compared, sign-test p and BH q (n/a: too few "
              "changed documents to be tested).", "",
              "| model | intervention | metric | Δ | 95% CI | up | down | docs | p | q | survives |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in board.rows:
        for c in board.columns:
            ch = row.changes.get(c.key)
            if ch is None:
                continue
            lead = [row.run.model_label, row.run.intervention.label, c.key]
            if not ch.tested:
                lines.append("| " + " | ".join(lead + [ch.reason] + [""] * 7) + " |")
                continue
            ci = f"[{_fmt(ch.ci[0], signed=True)}, {_fmt(ch.ci[1], signed=True)}]" if ch.ci else "n/a"
            lines.append("| " + " | ".join(lead + [_fmt(ch.delta, signed=True), ci, str(ch.up), str(ch.down),
                                                  str(ch.docs), _p(ch.p), _p(ch.q), "yes" if ch.significant
                                                  else "no"]) + " |")
    if board.slopes:
        lines += ["", "## Dose-response", "",
                  "Slope of the metric against alpha (least squares over the configurations' means on the documents "
                  "all of them logged; the baseline counts as alpha=1), with a 95% bootstrap CI over documents. "
                  "Random controls are pooled over seeds.", "",
                  "| model | metric | arm | slope per unit alpha | 95% CI | configurations | docs |",
                  "|---|---|---|---|---|---|---|"]
        for s in board.slopes:
            lines.append(f"| {s.model} | {s.column.key} {s.column.arrow} | {s.arm} | {_fmt(s.slope, signed=True)} | "
                         f"[{_fmt(s.ci[0], signed=True)}, {_fmt(s.ci[1], signed=True)}] | {s.configs} | {s.docs} |")
    if board.plots:
        lines += ["", "## Plots", ""] + [f"![{caption}]({path})" for path, caption in board.plots]
    lines += ["", "## Inputs", ""] + [f"- `{_rel(row.run.path, board.out)}`: {row.run.model_label}, "
                                       f"{row.run.intervention.label}" for row in board.rows]
    if board.skipped:
        lines += ["", "## Skipped", ""] + [f"- {_md_escape(m)}" for m in board.skipped]
    return "\n".join(lines) + "\n"


def _n_tests(board: Leaderboard) -> int:
    return sum(c.tested for row in board.rows for c in row.changes.values())


def _n_family(board: Leaderboard) -> int:
    return len(_family(board.rows, board.fdr))


def _rel(path: Path, out: Path) -> str:
    return Path(os.path.relpath(path.resolve(), out.resolve())).as_posix()


def _csv(board: Leaderboard) -> str:
    buf = io.StringIO()
    if board.command:  # a comment line, as pandas.read_csv(comment="#") reads it
        buf.write(f"# command: {board.command}\n")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["model", "dtype", "intervention", "kind", "alpha", "seed", "mask_sha256", "task", "metric",
                     "higher_is_better", "value", "stderr", "delta", "ci_low", "ci_high", "up", "down", "docs", "p",
                     "q", "significant", "note", "judge_agreement_low", "judge_agreement_high"])
    agreement = {c.key: column_agreement(board, c) or ("", "") for c in board.columns}
    for row in board.rows:
        i = row.run.intervention
        for c in board.columns:
            value = row.values[c.key]
            if value is None:
                continue
            ch = row.changes.get(c.key)
            test = ([ch.delta, *(ch.ci or ("", "")), ch.up, ch.down, ch.docs, ch.p, "" if math.isnan(ch.q) else ch.q,
                     ch.significant, ""]
                    if ch is not None and ch.tested else [""] * 9 + [ch.reason if ch else ""])
            writer.writerow([row.run.model_label, row.run.dtype, i.label, i.kind.value,
                             "" if i.alpha is None else i.alpha, "" if i.seed is None else i.seed,
                             i.mask_sha256 or "", c.task, c.metric, c.higher_is_better,
                             value[0], "" if value[1] is None else value[1], *test, *agreement[c.key]])
    return buf.getvalue()


def _html(board: Leaderboard) -> str:
    columns = [{"key": "model", "label": "model", "type": "text"},
               {"key": "intervention", "label": "intervention", "type": "text"}]
    for c in board.columns:
        columns.append({"key": c.key, "label": f"{c.key} {c.arrow}".strip(), "type": "number",
                        "title": "lm-eval value ± standard error; judge agreement on the sealed test: "
                                 + _agreement_cell(column_agreement(board, c))})
        columns.append({"key": c.key + ":delta", "label": "Δ", "type": "number",
                        "title": f"change of {c.key} against the model's baseline; bold: survives BH at FDR "
                                 f"{board.fdr}"})
    rows = []
    for row in board.rows:
        cells: dict = {"model": row.run.model_label,
                       "intervention": {"text": row.run.intervention.label,
                                        "sort": _natural(row.run.intervention.label)}}
        for c in board.columns:
            value = row.values[c.key]
            cells[c.key] = None if value is None else {"text": _value_cell(value), "sort": value[0]}
            ch = row.changes.get(c.key)
            if ch is not None and ch.tested:
                better = (ch.delta > 0) == bool(c.higher_is_better)
                cls = ("sig-up" if better else "sig-down") if ch.significant else ""
                cells[c.key + ":delta"] = {"text": _change_cell(ch), "sort": ch.delta, "class": cls}
            else:
                reason = ch.reason if ch is not None else ""
                cells[c.key + ":delta"] = {"text": reason, "sort": None, "class": "na" if reason else ""}
        rows.append(cells)
    intro = (f"Paired per-document tests against each model's baseline; marked (*) and coloured when the change "
             f"survives Benjamini-Hochberg at FDR {board.fdr} over the {_n_family(board)} testable cells. Judges: "
             f"{', '.join(board.judge_versions) or 'not recorded'}. Details and slopes: LEADERBOARD.md."
             + ("".join(f" Not like for like: {m}." for m in board.mismatches)))
    return render_html(board.title, columns, rows, intro, [{"src": p, "caption": c} for p, c in board.plots])


def _natural(text: str) -> str:
    return re.sub(r"\d+(\.\d+)?", lambda m: f"{float(m.group()):012.4f}", text)


def _terminal(board: Leaderboard) -> str:
    """Per model: a metric per line, an intervention per column (fits a terminal for a few interventions)."""
    blocks = []
    for model in dict.fromkeys(r.run.model_label for r in board.rows):
        rows = [r for r in board.rows if r.run.model_label == model]
        header = ["metric"] + [r.run.intervention.label for r in rows]
        table = [header]
        for c in board.columns:
            if all(r.values[c.key] is None for r in rows):
                continue
            line = [f"{c.key} {c.arrow}".strip()]
            for r in rows:
                value = r.values[c.key]
                ch = r.changes.get(c.key)
                text = _fmt(value[0]) if value else ""
                if ch is not None and ch.tested:
                    text += f" ({_fmt(ch.delta, signed=True)}{ch.mark()})"
                line.append(text)
            table.append(line)
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        body = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
        blocks.append("\n".join([model, *body]))
    legend = f"(change vs the model's baseline; * survives Benjamini-Hochberg at FDR {board.fdr})"
    return "\n\n".join(blocks + [legend])
