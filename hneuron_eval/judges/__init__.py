"""Judges turn a free-text response into its task class: readable rules, a learned judge, or a model on request.

The rule judge (:mod:`.rules`) answers yes/no decisions that each task kind combines into a class;
the learned judge (:mod:`.learned`) classes a response directly from the rules' decisions and other
inspectable features, distilled from blind labels; an optional model judge (:mod:`.model`) asks any
lm-eval-loadable or OpenAI-compatible model the rules' questions. A run picks one with
``--metadata '{"hn_judge": ...}'``; ``hneuron-eval judge-check`` measures any of them against labels.
"""

from __future__ import annotations

from typing import Any

from hneuron_eval.judges.answers import canonical_answer, clean_response, match_alias, normalize_answer
from hneuron_eval.judges.model import JudgeEndpointError, ModelJudge, lm_eval_completer, openai_completer
from hneuron_eval.judges.protocol import Judge, ResponseJudge
from hneuron_eval.judges.rules import RULE, RULES_VERSION, RuleJudge

__all__ = [
    "RULE",
    "RULES_VERSION",
    "Judge",
    "DEFAULT_JUDGE",
    "JudgeEndpointError",
    "ModelJudge",
    "ResponseJudge",
    "RuleJudge",
    "canonical_answer",
    "clean_response",
    "get_judge",
    "judge_from_metadata",
    "match_alias",
    "normalize_answer",
]


JUDGES = ("rule", "learned", "lm_eval", "openai")
DEFAULT_JUDGE = "learned"  # better than the rules on the sealed test (results/judges/README.md)
_CACHE: dict[tuple, Judge] = {}


def get_judge(name: str = DEFAULT_JUDGE, **options: Any) -> Judge | ResponseJudge:
    """Build (once per process) the judge called ``name`` with its options."""
    if name not in JUDGES:
        raise ValueError(f"unknown judge {name!r}; expected one of {list(JUDGES)}")
    if name == "rule":
        return RULE
    key = (name, tuple(sorted((k, str(v)) for k, v in options.items())))
    if key not in _CACHE and name == "learned":
        from hneuron_eval.judges.learned import BUNDLED, LearnedJudge

        _CACHE[key] = LearnedJudge.load(options.get("path") or BUNDLED)
    elif key not in _CACHE:
        model = options.get("model")
        if not model:
            raise ValueError(f"judge {name!r} needs a model (--judge-model, or hn_judge_model in --metadata)")
        if name == "lm_eval":
            complete = lm_eval_completer(model, options.get("model_args", ""))
        else:
            if not options.get("base_url"):
                raise ValueError("judge 'openai' needs a base URL (--judge-base-url, or hn_judge_base_url in "
                                 "--metadata)")
            complete = openai_completer(model, options["base_url"], timeout=float(options.get("timeout", 60.0)))
        _CACHE[key] = ModelJudge(complete, f"{name}:{model}")
    return _CACHE[key]


def judge_from_metadata(metadata: dict | None) -> Judge | ResponseJudge:
    """Pick the judge from task metadata: ``hn_judge`` plus ``hn_judge_model``/``_model_args``/``_base_url``/..."""
    meta = metadata or {}
    options = {
        k[len("hn_judge_") :]: v for k, v in meta.items() if k.startswith("hn_judge_") and k != "hn_judge_version"
    }
    return get_judge(str(meta.get("hn_judge", DEFAULT_JUDGE)), **options)
