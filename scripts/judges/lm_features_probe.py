"""Would frozen SmolLM2 features help the learned judge? A development read on a test already scored once.

usage: python scripts/judges/lm_features_probe.py --train FILE ... --dev FILE --cache NPZ --out JSON
       [--layers L,...] [--batch N]

Per group (``learned.group_of``), one logistic regression is fitted on the --train labels over (a) the
judge's named features (``features.dense``: the rules' decisions and the statistics) and (b) those plus
the bundled SmolLM2's hidden states, mean-pooled over the response's tokens, at each of --layers (the
text fed is "Question: ...\nAnswer: ..."; the states are cached in --cache so a second read costs
nothing). C is chosen by question-grouped 5-fold CV on the train rows. Both, and the bundled judge, are
then scored on the --dev file: agreement per task side, raw hits. The dev file must be a test whose
sealed read is over (round 7's): this read only says whether a new round is worth its labels.
It reads every asked layer in one batched pass in the policy's dtype, to compare layers cheaply;
the judge itself reads one layer, in its spec's dtype, one response at a time (``judges/states.py``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from hneuron_eval.core.provenance import utc_now
from hneuron_eval.judges.labels import Labelled, read_labels, read_many
from hneuron_eval.judges.learned import LearnedJudge, features_of, group_of


def lm_states(rows: list[Labelled], layers: list[int], batch: int) -> np.ndarray:
    """(rows, layers * hidden) float32: each row's response tokens' mean hidden state at each layer."""
    import torch
    from tqdm import tqdm

    from hneuron_eval.harness.builtin_models import load_model

    model, tok = load_model("smollm2-135m-instruct")
    heads = [tok(f"Question: {r.doc['question']}\nAnswer:", add_special_tokens=False)["input_ids"] for r in rows]
    tails = [tok(" " + r.response.strip(), add_special_tokens=False)["input_ids"][:96] or [tok.eos_token_id]
             for r in rows]
    order = sorted(range(len(rows)), key=lambda i: len(heads[i]) + len(tails[i]))
    out = np.zeros((len(rows), len(layers) * model.config.hidden_size), dtype=np.float32)
    with torch.no_grad():
        for start in tqdm(range(0, len(order), batch), desc="SmolLM2 states"):
            idx = order[start:start + batch]
            seqs = [heads[i] + tails[i] for i in idx]
            width = max(map(len, seqs))
            ids = torch.full((len(idx), width), tok.pad_token_id or 0)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            tail = torch.zeros((len(idx), width), dtype=torch.bool)
            for j, i in enumerate(idx):  # right-padded: positions are those of the row alone
                ids[j, :len(seqs[j])] = torch.tensor(seqs[j])
                mask[j, :len(seqs[j])] = 1
                tail[j, len(heads[i]):len(seqs[j])] = True
            hidden = model.model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
            w = tail.unsqueeze(-1).float()
            pooled = [(hidden[layer].float() * w).sum(1) / w.sum(1) for layer in layers]
            out[idx] = torch.cat(pooled, -1).numpy()
    return out


def main(argv: list[str]) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", nargs="+", required=True)
    p.add_argument("--dev", required=True)
    p.add_argument("--cache", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--layers", default="6,15,24,30")
    p.add_argument("--batch", type=int, default=32)
    args = p.parse_args(argv)
    layers = [int(x) for x in args.layers.split(",")]
    train, dev = read_many(args.train), read_labels(args.dev)
    rows = train + dev
    cache = Path(args.cache)
    ids = np.array([f"{r.id}|{r.response}" for r in rows])
    if cache.exists() and np.array_equal(np.load(cache)["ids"], ids):
        states = np.load(cache)["states"]
    else:
        states = lm_states(rows, layers, args.batch)
        np.savez(cache, ids=ids, states=states)
    feats = [features_of(r.kind, r.doc, r.response)[0] for r in rows]
    judge = LearnedJudge.load()
    said_judge = [judge.classify_response(r.kind, r.doc, r.response) for r in dev]
    result: dict = {"command": shlex.join(["python", "scripts/judges/lm_features_probe.py", *argv]),
                    "date": utc_now(), "judge": judge.version, "layers": layers, "groups": {}, "sides": {}}
    per_side: dict[str, dict[str, int]] = {}
    for group in sorted({group_of(r.kind, r.side) for r in rows}):
        tr = [i for i, r in enumerate(train) if group_of(r.kind, r.side) == group]
        dv = [i for i, r in enumerate(dev) if group_of(r.kind, r.side) == group]
        if not dv or len({train[i].label for i in tr}) < 2:
            continue
        names = sorted(feats[tr[0]])
        named = np.array([[feats[i].get(n, 0.0) for n in names] for i in range(len(rows))])
        y = np.array([train[i].label for i in tr])
        questions = [train[i].doc["question"] for i in tr]
        variants = {"named": named, "named+lm": np.hstack([named, states])}
        variants |= {f"named+lm@{layer}": np.hstack([named, states[:, k * (states.shape[1] // len(layers)):
                                                                   (k + 1) * (states.shape[1] // len(layers))]])
                     for k, layer in enumerate(layers)}
        info: dict = {"train_rows": len(tr), "dev_rows": len(dv)}
        for name, x in variants.items():
            best = None
            for C in (0.003, 0.01, 0.03, 0.1):
                clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
                cv = cross_val_predict(clf, x[tr], y, groups=questions, cv=GroupKFold(5))
                hits = int(np.sum(cv == y))
                if best is None or hits > best[0]:
                    best = (hits, C)
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=best[1], max_iter=2000)).fit(x[tr], y)
            said = clf.predict(x[[len(train) + i for i in dv]])
            info[name] = {"C": best[1], "cv_agreement": round(best[0] / len(tr), 4),
                          "dev_hits": int(np.sum(said == np.array([dev[i].label for i in dv])))}
            for i, s in zip(dv, said):
                side = per_side.setdefault(dev[i].task_side, {"rows": 0})
                side[name] = side.get(name, 0) + int(s == dev[i].label)
        info["judge_dev_hits"] = int(sum(said_judge[i] == dev[i].label for i in dv))
        for i in dv:
            side = per_side.setdefault(dev[i].task_side, {"rows": 0})
            side["rows"] += 1
            side["judge"] = side.get("judge", 0) + int(said_judge[i] == dev[i].label)
        result["groups"][group] = info
        print(group, json.dumps(info), flush=True)
    result["sides"] = per_side
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
