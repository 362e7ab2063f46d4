"""``hneuron-eval sweep``: baseline, the H-neurons at each alpha and random controls, through lm-eval."""

from __future__ import annotations

import argparse

from hneuron_eval.cli.common import HelpFormatter, renamed
from hneuron_eval.harness.precision import DTYPES


def register(sub: argparse._SubParsersAction) -> None:
    """``hneuron-eval sweep``."""
    p = sub.add_parser(
        "sweep", help="baseline, H-neurons at each alpha and random controls, through lm-eval (one model load)",
        formatter_class=HelpFormatter,
        description="Evaluates the model without intervention, with --mask at every alpha of --alphas (alpha=1 is "
        "the baseline itself) and, at every alpha, --controls random-neuron masks with the mask's per-layer "
        "counts (seeds 0..N-1). Each configuration is a standard lm-eval output folder under --out (results "
        "JSON + logged samples); running the same command again skips finished configurations. "
        "Time: about (configurations x one lm_eval run of the same --tasks/--limit).",
    )
    p.add_argument("--model", required=True, help="built-in name (smollm2-135m-instruct, gemma-3-270m) or HF directory")
    p.add_argument("--mask", required=True, help="the H-neuron mask (*.hneurons.json)")
    p.add_argument("--alphas", default="0,1,2,3", help="comma-separated scale factors")
    p.add_argument("--controls", type=int, default=3, help="random-neuron controls per alpha != 1")
    p.add_argument("--tasks", required=True, help="comma-separated lm-eval tasks or groups")
    p.add_argument("--limit", type=float, default=None, help="documents per task (lm-eval --limit)")
    p.add_argument("--samples", default=None, metavar="JSON|FILE",
                   help='document indices per task, as lm_eval --samples (\'{"hn_triviaqa": [0, 5]}\' or a JSON '
                   "file); instead of --limit")
    p.add_argument("--out", required=True, help="sweep folder (created; running again resumes)")
    # lm-eval's underscore spellings of the shared options work too (copied from an lm_eval command)
    p.add_argument("--batch-size", "--batch_size", default="16", help="lm-eval batch size (a number or auto)")
    p.add_argument("--device", default="cpu", help="torch device")
    p.add_argument("--dtype", default=None, choices=DTYPES,
                   help="model dtype (default: bfloat16 on a GPU or a CPU with bfloat16 matrix units, else float32)")
    p.add_argument("--scale-via", default="auto", choices=("auto", "fold", "hook"),
                   help="scale the neurons by folding the weights' columns or by a hook (auto: fold where possible)")
    renamed(p, "--mode", "--scale-via")
    p.add_argument("--ffn-site", default=None, metavar="LAYERS:DOWN_PROJ[:transposed]",
                   help="the down projections of an architecture outside the site table (as hneuron-hf ffn_site=)")
    p.add_argument("--apply-chat-template", "--apply_chat_template", action="store_true",
                   help="as lm_eval --apply_chat_template")
    p.add_argument("--include-path", "--include_path", default=None,
                   help="extra task folder (as lm_eval --include_path)")
    p.add_argument("--seed", type=int, default=0, help="lm-eval's random, numpy, torch and few-shot seeds")
    p.add_argument("--decoding", default="compact", choices=("compact", "hf"),
                   help="hneuron-hf's decoding= (compact: continuous batching, the default; hf: static batches)")
    p.set_defaults(func=_sweep)


def _sweep(args: argparse.Namespace) -> int:
    from hneuron_eval.harness.sweep import parse_alphas, parse_samples, plan_sweep, run_sweep

    alphas = parse_alphas(args.alphas)
    plan_sweep(alphas, args.controls, args.mask, "masks")  # bad --alphas/--controls: refused before any loading
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not tasks:
        raise ValueError("--tasks: give at least one task")
    if args.batch_size != "auto" and not (args.batch_size.isdigit() and int(args.batch_size) > 0):
        raise ValueError(f"--batch-size: expected a positive number or auto, got {args.batch_size!r}")
    batch_size = args.batch_size if args.batch_size == "auto" else int(args.batch_size)
    samples = parse_samples(args.samples) if args.samples is not None else None
    if samples is not None and args.limit is not None:
        raise ValueError("--samples and --limit: give one of them (as lm_eval, which refuses both)")
    folders = run_sweep(
        model=args.model, mask=args.mask, alphas=alphas, controls=args.controls, tasks=tasks, out=args.out,
        limit=args.limit, samples=samples, batch_size=batch_size, device=args.device, dtype=args.dtype,
        scale_via=args.scale_via,
        apply_chat_template=args.apply_chat_template, include_path=args.include_path, seed=args.seed,
        ffn_site=args.ffn_site, command=args.command_line, decoding=args.decoding,
    )
    print(f"{len(folders)} configurations in {args.out}; next: hneuron-eval leaderboard {args.out} --out DIR")
    return 0
