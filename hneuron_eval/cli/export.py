"""``hneuron-eval export``: a standard Hugging Face checkpoint with a mask folded into its weights."""

from __future__ import annotations

import argparse
import json
from typing import Any

from hneuron_eval.cli.common import HelpFormatter
from hneuron_eval.harness.export import CONFIG_KEY, DTYPES, RECORD, export_folded


def register(subparsers: Any) -> None:
    """``hneuron-eval export``."""
    p = subparsers.add_parser(
        "export",
        formatter_class=HelpFormatter,
        help="write a model with a mask folded into its weights as a Hugging Face checkpoint",
        description="Scale the mask's down-projection columns by --alpha and save the model, tokenizer and "
        f"config as a standard Hugging Face checkpoint (safetensors), with the mask hash and alpha in {RECORD} "
        f"and config.json ({CONFIG_KEY!r}). Any engine then runs the intervened model at full speed, e.g. "
        "lm_eval --model hf --model_args pretrained=DIR (same results as hneuron-hf with that mask and alpha).",
    )
    p.add_argument("--model", required=True,
                   help="built-in name (smollm2-135m-instruct, gemma-3-270m), local directory or hub id")
    p.add_argument("--mask", required=True, help="a *.hneurons.json mask made for --model")
    p.add_argument("--alpha", type=float, default=None,
                   help="scale of every masked neuron (0 ablates); default: the mask's own alphas")
    p.add_argument("--out", required=True, help="checkpoint folder to create")
    p.add_argument("--force", action="store_true", help="replace --out if it exists and is not empty")
    p.add_argument("--ffn-site", default=None, metavar="LAYERS:DOWN_PROJ[:transposed]",
                   help="the down projections of an architecture outside the site table (as hneuron-hf ffn_site=)")
    p.add_argument("--dtype", choices=DTYPES, default="float32", help="dtype of the saved weights")
    p.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    out = export_folded(args.model, args.mask, args.alpha, args.out, force=args.force, dtype=args.dtype,
                        ffn_site=args.ffn_site, command=getattr(args, "command_line", ""))
    record = json.loads((out / RECORD).read_text(encoding="utf-8"))
    alpha = record["alpha"]
    alpha = f"{alpha:g}" if isinstance(alpha, float) else alpha
    print(f"wrote {out}: {args.model} ({args.dtype}) with {record['scaled_neurons']} of {record['num_neurons']} "
          f"mask neurons scaled, alpha {alpha}, mask sha256 {record['mask_sha256']}")
    return 0
