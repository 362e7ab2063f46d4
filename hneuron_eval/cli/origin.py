"""``hneuron-eval origin``: do H-neurons come from pre-training? Drift between checkpoints and probe transfer."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hneuron_eval.cli.common import HelpFormatter
from hneuron_eval.harness.precision import DTYPES


def cmd_origin(args: argparse.Namespace) -> int:
    from hneuron_eval.core.fileio import write_json_atomic, write_text_atomic
    from hneuron_eval.core.masks import NeuronMask
    from hneuron_eval.core.provenance import utc_now
    from hneuron_eval.harness.builtin_models import load_model
    from hneuron_eval.identify import origin
    from hneuron_eval.identify.run import versions

    mask = NeuronMask.load(args.mask)  # every file is read before a model loads
    if args.probe and not Path(args.probe).exists():
        raise origin.OriginError(f"--probe {args.probe}: not found")
    tuned, tuned_tok = load_model(args.tuned, dtype=args.dtype or "float32", device=args.device)
    base, base_tok = load_model(args.base, dtype=args.dtype or "float32", device=args.device)
    lb, lt = origin.check_pair(base, tuned, args.base, args.tuned)
    mask.check_compatible(lt.num_layers, lt.d_ff, args.tuned)
    if mask.model.name and Path(mask.model.name).name != Path(args.tuned).name:
        raise origin.OriginError(f"--mask {args.mask}: made for model {mask.model.name!r}, not the tuned model "
                                 f"{args.tuned!r}")
    parts = origin.drift(base, tuned, lb, lt)
    report: dict[str, Any] = {
        "command": args.command_line, "date": utc_now(), "base": args.base, "tuned": args.tuned,
        "mask": args.mask, "mask_sha256": mask.sha256(), "versions": versions(),
        "drift": {"definition": "mean over components of the z-scored 1 - cosine between the checkpoints "
                                "(input-projection rows, down-projection column)",
                  "components": sorted(k for k in parts if k != "score"),
                  **origin.drift_test(parts["score"], mask, lt.d_ff, args.permutations, args.seed)},
    }
    if args.probe:
        report["transfer"] = origin.transfer(base, base_tok, tuned, tuned_tok, Path(args.probe), args.tuned)
    out = Path(args.out)
    write_json_atomic(out / "origin.json", report)
    write_text_atomic(out / "origin.md", markdown(report))
    print(markdown(report))
    return 0


def markdown(report: dict[str, Any]) -> str:
    d = report["drift"]
    lines = [f"# Origin of the H-neurons: {report['tuned']} against {report['base']}", "",
             f"Written by `{report['command']}` on {report['date']}. Mask `{report['mask']}` "
             f"({d['h_neurons']} neurons).", "",
             f"Drift per neuron: {d['definition']}; components: {', '.join(d['components'])}.", "",
             "| | mean drift (z) |", "|---|---|",
             f"| H-neurons | {d['h_mean_drift']:.3f} |",
             f"| random sets, same per-layer counts ({d['random_sets']:,}) | {d['random_mean_drift']:.3f} "
             f"(95% of sets {d['random_mean_drift_95'][0]:.3f} to {d['random_mean_drift_95'][1]:.3f}) |",
             f"| all neurons | {d['all_mean_drift']:.3f} |", "",
             f"H-neurons' mean percentile of drift among all neurons: {d['h_mean_percentile']:.3f} (median "
             f"{d['h_median_percentile']:.3f}). One-sided tests: drift more than random sets p = "
             f"{d['p_more_than_random']:.4g}, less p = {d['p_less_than_random']:.4g}; more than all other neurons "
             f"(Mann-Whitney U) p = {d['p_more_than_others_mannwhitney']:.4g}."]
    if "transfer" in report:
        t = report["transfer"]
        fmt = lambda s: f"{s['auroc']:.3f} ({s['auroc_ci'][0]:.3f}-{s['auroc_ci'][1]:.3f})"  # noqa: E731
        lines += ["", f"Probe transfer (`{t['probe']}`, {t['responses']} labelled test responses of `{t['run']}`, "
                      f"{t['hallucinated']} hallucinated): AUROC on the tuned model's CETT {fmt(t['tuned'])}, on the "
                      f"base model's ({t['base_prompt']}) {fmt(t['base'])}."]
    return "\n".join(lines) + "\n"


def register(subparsers: Any) -> None:
    """Add the origin subcommand."""
    p = subparsers.add_parser(
        "origin", formatter_class=HelpFormatter, help="H-neurons' parameter drift from base to tuned, probe transfer",
        description="Do H-neurons originate in pre-training? Ranks the H-neurons' parameter drift between a base "
                    "and a tuned checkpoint against random neurons with the same per-layer counts (one-sided "
                    "tests), and with --probe applies the tuned model's probe unchanged to the base model's CETT "
                    "on that identification run's labelled test responses. Writes OUT/origin.json and origin.md.")
    p.add_argument("--base", required=True, help="the base (pre-trained) checkpoint: built-in name, folder or hub id")
    p.add_argument("--tuned", required=True, help="the tuned checkpoint the mask was found in")
    p.add_argument("--mask", required=True, help="the tuned model's *.hneurons.json")
    p.add_argument("--probe", default=None, help="a probe folder of the tuned model's identification run")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--permutations", type=int, default=10_000, help="random neuron sets of the permutation test")
    p.add_argument("--seed", type=int, default=0, help="seed of the random neuron sets")
    p.add_argument("--dtype", default=None, choices=DTYPES, help="model dtype (default float32: exact cosines)")
    p.add_argument("--device", default="cpu", help="torch device")
    p.set_defaults(func=cmd_origin)
