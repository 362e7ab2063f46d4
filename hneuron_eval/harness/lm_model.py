"""``hneuron-hf``: lm-eval's HF model with H-neurons scaled during every forward pass."""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import torch
from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM
from tqdm.auto import tqdm

from hneuron_eval.core.generation import generate, unsupported
from hneuron_eval.core.intervention import SCALE_VIA, BoundScaling, NeuronScaling
from hneuron_eval.core.masks import NeuronMask
from hneuron_eval.core.run_kind import RunKind
from hneuron_eval.core.sites import apply_site, parse_site
from hneuron_eval.errors import ModelArgsError
from hneuron_eval.harness.baselines import BASELINES, watch_tokens
from hneuron_eval.harness.builtin_models import BUILTIN_MODELS, builtin_info, resolve_pretrained
from hneuron_eval.harness.detector import Detector, ScoredText, answer_spans
from hneuron_eval.harness.precision import DtypeChoice, DtypeError, choose_dtype

logger = logging.getLogger(__name__)


@register_model("hneuron-hf")
class HNeuronLM(HFLM):
    """HFLM plus ``mask=`` / ``alpha=`` / ``scale_via=`` / ``detector=`` model args; without them it is plain ``hf``.

    ``pretrained`` also accepts the offline built-in names (``smollm2-135m-instruct``,
    ``gemma-3-270m``). ``alpha`` overrides the mask's per-neuron / default alphas;
    ``scale_via`` is ``auto`` (fold when the weights allow it, else hook), ``fold`` or ``hook``.
    ``ffn_site=LAYERS:DOWN_PROJ[:transposed]`` names the down projections of an architecture
    outside ``FFN_SITES`` (checked on load).
    ``decoding`` is ``compact`` (default: greedy generation drops each row from the batch once its
    answer has ended, ``core/generation.py``) or ``hf`` (``model.generate``, every row decoding until
    the batch's last one stops); both give each row the same tokens. Settings the compact decoder does
    not implement (sampling, beams, penalties) take the ``hf`` path, and the results say so.
    The intervention is applied around each model call and undone after it, so the
    model's weights are unchanged between calls and after the run. ``detector`` (a probe folder
    from ``hneuron-eval identify``) scores every generated answer from its own generation's
    activations (``hneuron_eval/harness/detector.py``); each answer carries its score to the task
    (``ScoredText``), and the QA tasks report its AUROC and accuracy. With it, ``baselines`` (default
    true) also scores each answer by the model's own token probabilities over the same span
    (``harness/baselines.py``), reported next to the detector with the paired AUROC difference.
    """

    def __init__(
        self,
        pretrained: Any,
        mask: str | None = None,
        alpha: float | str | None = None,
        scale_via: str = "auto",
        detector: str | None = None,
        detector_controls: str | None = None,
        baselines: bool | str | None = None,
        ffn_site: str | None = None,
        decoding: str = "compact",
        **kwargs: Any,
    ) -> None:
        if "mode" in kwargs:
            raise ModelArgsError(f"hneuron-hf: mode= is now called scale_via= (auto, fold or hook); got "
                                 f"mode={kwargs['mode']!r}")
        if alpha is not None and mask is None:
            raise ModelArgsError("hneuron-hf: alpha= was given without mask=; pass mask=PATH.hneurons.json")
        if scale_via not in SCALE_VIA:
            raise ModelArgsError(f"hneuron-hf: scale_via must be one of {SCALE_VIA}, got {scale_via!r}")
        if decoding not in DECODING:
            raise ModelArgsError(f"hneuron-hf: decoding must be one of {DECODING}, got {decoding!r}")
        self.decoding = decoding
        self._slots: int | None = None  # rows decoding at once under continuous batching (generate_until)
        self.decoding_stats: Counter[str] = Counter()  # decode steps, row-steps, useful row-steps, fallbacks
        if ffn_site:
            parse_site(ffn_site)  # a malformed text is refused before the model loads
        # every file the arguments name is read before the model is loaded: a mistake costs no model load
        mask_file = NeuronMask.load(mask) if mask is not None else None
        alpha_value = _parse_alpha(alpha)
        if detector_controls and not detector:
            raise ModelArgsError("hneuron-hf: detector_controls= was given without detector=")
        control_paths = _control_paths(detector_controls)
        self.baselines = _parse_flag("baselines", baselines, default=bool(detector))
        if self.baselines and not detector:
            raise ModelArgsError("hneuron-hf: baselines= was given without detector=; the output-only baselines are "
                                 "scored next to a detector (detector=PROBE_FOLDER)")
        self.pretrained_name = pretrained if isinstance(pretrained, str) else None
        self.dtype_choice = _dtype_choice(pretrained, kwargs)  # sets kwargs["dtype"] for a built-in model
        if isinstance(pretrained, str):
            pretrained = resolve_pretrained(pretrained)
        super().__init__(pretrained=pretrained, **kwargs)
        if ffn_site:
            apply_site(self.model, ffn_site)  # a missing module or a wrong shape is refused here, table untouched
            logger.info("hneuron-hf: FFN site of %r: %s", self.model.config.model_type, ffn_site)
        accelerator = getattr(self, "accelerator", None)
        if accelerator is not None and accelerator.num_processes > 1 and self.world_size == 1:
            # HFLM shards requests across processes only when it counts more than one GPU
            # (lm_eval/models/huggingface.py `elif gpus > 1`); on CPU (gloo) every process would
            # otherwise evaluate every document. The evaluator's gathers work the same on CPU.
            self._rank, self._world_size = accelerator.process_index, accelerator.num_processes
        self.scaling: BoundScaling | None = None
        if mask_file is not None:
            self.set_scaling(mask_file, alpha_value, scale_via)
        self.detector: Detector | None = None
        self.controls: list[Detector] = []
        self.monitor_stats: Counter[str] = Counter()  # answers per outcome: scored, or why not
        self.baseline_stats: Counter[str] = Counter()  # the same for the output-only baselines
        if detector:
            name = self.pretrained_name or str(self.pretrained)
            self.detector = Detector.load(detector, self.model, name)
            self.controls = [Detector.load(path, self.model, name) for path in control_paths]
            self._setup_monitor()

    def set_scaling(self, mask: NeuronMask | None, alpha: float | None = None, scale_via: str = "auto") -> None:
        """Replace the intervention (None: none) without reloading the model, as a sweep does between runs."""
        if mask is None:
            self.scaling = None
            return
        # layout, plan and fold-or-hook are settled here, once per intervention
        self.scaling = NeuronScaling(mask, alpha, scale_via).bind(self.model)  # type: ignore[arg-type]
        logger.info("hneuron-hf: %s", self.scaling.to_dict())

    def _setup_monitor(self) -> None:
        from hneuron_eval.core.answer_span import SpanFinder

        config = self.model.generation_config
        eos = config.eos_token_id if config.eos_token_id is not None else self.tokenizer.eos_token_id
        # the identification pipeline's answer end: the first end-of-sequence token
        self._end_ids = set(eos if isinstance(eos, list) else [eos]) | {self.tokenizer.eos_token_id}
        self._finder = SpanFinder(self.tokenizer, "span")
        self._pending: list[tuple] = []  # (score, control scores, note) per generated row, in order
        logger.info("hneuron-hf: detector %s", self.detector.to_dict())

    def _model_call(self, *args: Any, **kwargs: Any):
        if self.scaling is None:
            return super()._model_call(*args, **kwargs)
        with self.scaling.apply():
            return super()._model_call(*args, **kwargs)

    def _model_generate(self, context, max_length: int, stop: list[str], **kwargs: Any):
        scaled = self.scaling.apply() if self.scaling is not None else contextlib.nullcontext()
        if self.detector is None:
            with scaled:
                return self._generate(context, max_length, stop, **kwargs)[0]
        detectors = [self.detector, *self.controls]
        with scaled, contextlib.ExitStack() as stack:  # watch inside: a folded mask's columns are read scaled
            recordings = [stack.enter_context(d.watch()) for d in detectors]
            tokens = stack.enter_context(watch_tokens(self.model)) if self.baselines else None
            out, lengths = self._generate(context, max_length, stop, **kwargs)
        rows = [d.answer_features(r, context.shape[1], out, self._end_ids, self._finder, lengths)
                for d, r in zip(detectors, recordings)]
        spans = answer_spans(out, context.shape[1], self._end_ids, self._finder, lengths) if tokens else []
        for row, per_detector in enumerate(zip(*rows)):
            scores = [None if f is None else d.score(f) for d, (f, _) in zip(detectors, per_detector)]
            stats = None
            if tokens is not None:
                stats, why = tokens.statistics(row, *spans[row])
                self.baseline_stats[why] += 1
            self._pending.append((scores[0], tuple(scores[1:]), stats if stats is not None or tokens is None else {},
                                  per_detector[0][1]))
        return out

    def _generate(self, context, max_length: int, stop: list[str], **kwargs: Any):
        """(context + generated ids, generated length per row): the compact decoder where it applies, else HF's."""
        settings = _greedy({k: v for k, v in kwargs.items() if k != "attention_mask"})
        why = ["decoding=hf"] if self.decoding == "hf" else _not_compact(self.model, settings)
        if why and self._slots is not None:  # _continuous checked these settings: a whole group must not go to HF
            raise RuntimeError(f"hneuron-hf: continuous batching reached settings it cannot decode ({why})")
        width = context.shape[1]
        config = self.model.generation_config
        eos = config.eos_token_id if config.eos_token_id is not None else []
        eos = set(eos if isinstance(eos, list) else [eos])
        stopper = StopSequences(self.tokenizer, stop)
        if why:
            for reason in why:
                self.decoding_stats[f"hf path: {reason}"] += 1
            out = super()._model_generate(context, max_length=max_length, stop=stop, **kwargs)
            lengths = [_ended_at(row, eos, stopper) for row in out[:, width:].tolist()]
            steps = out.shape[1] - width - 1
            self.decoding_stats.update(decode_steps=max(steps, 0), row_steps=len(lengths) * max(steps, 0),
                                       useful_row_steps=sum(max(n - 1, 0) for n in lengths))
            return out, lengths
        pad = self.tokenizer.pad_token_id
        slots = self._slots or context.shape[0]
        with torch.autocast(device_type=self.device.type, dtype=self.mixed_precision_dtype,
                            enabled=self.mixed_precision_dtype is not None), \
                tqdm(total=context.shape[0], desc=f"decoding ({slots} rows at once)", unit="answer",
                     disable=self.rank != 0 or context.shape[0] <= slots) as bar:
            result = generate(self.model, context, kwargs.get("attention_mask"), max_length - width, sorted(eos),
                              pad if pad is not None else 0, stop=stopper, slots=slots, progress=bar.update)
        self.decoding_stats.update(result.cost())
        return result.sequences, result.lengths

    @contextlib.contextmanager
    def _continuous(self, requests: list) -> Iterator[None]:
        """Hand each group of greedy requests to the decoder at once, ``batch_size`` rows decoding at a time.

        HFLM cuts the sorted requests into static batches; with ``decoding=compact`` and a numeric
        batch size, its one batch per group of generation settings goes to ``_generate``, which keeps
        ``batch_size`` rows decoding and lets the next prompt in as a row ends (continuous batching).
        """
        slots = self.batch_size_per_gpu
        budgets = ("until", "max_gen_toks", "max_new_tokens", "max_tokens", "max_completion_tokens")
        groups = {json.dumps(r.args[1], sort_keys=True, default=str): r.args[1] for r in requests}
        greedy = all(not _not_compact(self.model, _greedy({k: v for k, v in g.items() if k not in budgets}))
                     for g in groups.values())
        if self.decoding != "compact" or not isinstance(slots, int) or not requests or not greedy:
            yield
            return
        self._slots, self.batch_size_per_gpu = slots, len(requests)
        try:
            yield
        finally:
            self._slots, self.batch_size_per_gpu = None, slots

    def generate_until(self, requests: list, disable_tqdm: bool = False) -> list[str]:
        with self._continuous(requests):
            return self._generate_until(requests, disable_tqdm)

    def _generate_until(self, requests: list, disable_tqdm: bool) -> list[str]:
        if self.detector is None:
            return super().generate_until(requests, disable_tqdm)
        # HFLM reports each answer, in generation order, to its cache hook: pair it there with its score
        by_context: dict[str, list[tuple]] = defaultdict(list)
        hook = self.cache_hook
        self.cache_hook = _ScoreTap(hook, self._pending, by_context)
        try:
            results = super().generate_until(requests, disable_tqdm)
        finally:
            self.cache_hook = hook
            self._pending.clear()
        scored = []
        for request, text in zip(requests, results):
            score, controls, stats, note = _take(by_context.get(request.args[0], []), text, self.baselines)
            self.monitor_stats[note] += 1
            scored.append(ScoredText(text, score, controls, stats))
        logger.info("hneuron-hf: detector answers %s", dict(sorted(self.monitor_stats.items())))
        return scored

    def get_model_info(self) -> dict:
        info = super().get_model_info()
        info["hneuron"] = self.scaling.to_dict() if self.scaling is not None else {"kind": RunKind.BASELINE.value}
        if self.detector is not None:
            info["hneuron_detector"] = {**self.detector.to_dict(), "controls": [c.to_dict() for c in self.controls],
                                        "answers": dict(sorted(self.monitor_stats.items()))}
            if self.baselines:
                info["hneuron_detector"]["baselines"] = {
                    "statistics": list(BASELINES), "direction": dict(BASELINES),
                    "tokens": "the detector's answer span, from the logits of the same generation",
                    "answers": dict(sorted(self.baseline_stats.items()))}
        info["hneuron_decoding"] = _decoding_info(self.decoding, self.decoding_stats)
        dtype = str(getattr(self.model, "dtype", "")).removeprefix("torch.")
        info["hneuron_dtype"] = {**self.dtype_choice.to_dict(), "dtype": dtype or self.dtype_choice.dtype}
        if self.pretrained_name is not None and (builtin := builtin_info(str(self.pretrained))) is not None:
            info["hneuron_builtin_model"] = builtin
        return info


DECODING = ("compact", "hf")


class StopSequences:
    """lm-eval's stop test per row: a stop sequence occurs in its last len(ids)+2 generated tokens, decoded."""

    def __init__(self, tokenizer: Any, stops: list[str]):
        self.tokenizer = tokenizer
        self.stops = [(s, len(tokenizer.encode(s, add_special_tokens=False)) + 2) for s in stops if s]

    def __call__(self, rows: list[list[int]], whole: bool = False) -> list[bool]:
        done = [False] * len(rows)
        for text, back in self.stops:
            for i, decoded in enumerate(self.tokenizer.batch_decode([r if whole else r[-back:] for r in rows])):
                done[i] = done[i] or text in decoded
        return done


def _ended_at(row: list[int], eos: set[int], stopper: StopSequences) -> int:
    """Generated tokens a row needed: through its first end token, or the first token whose text holds a stop."""
    cut = next((k for k, token in enumerate(row, start=1) if token in eos), len(row))
    lo, hi = 0, cut  # the first k whose text holds a stop sequence, by bisection (texts grow with k)
    if not stopper.stops or not stopper([row[:cut]], whole=True)[0]:
        return cut
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if stopper([row[:mid]], whole=True)[0] else (mid, hi)
    return hi


def _greedy(settings: dict[str, Any]) -> dict[str, Any]:
    """Generation settings as HFLM reads them: temperature 0 without do_sample is greedy."""
    settings = dict(settings)
    if settings.get("temperature", 0.0) == 0.0 and settings.get("do_sample") is None:
        settings["do_sample"] = False
    if settings.get("do_sample") is False:
        settings.pop("temperature", None)
    return settings


def _not_compact(model: Any, settings: dict[str, Any]) -> list[str]:
    """Why these generation settings need HF's generate (empty: the compact decoder reproduces them)."""
    why = [f"{k}={v!r}" for k, v in settings.items() if k not in ("do_sample", "temperature", "top_k", "top_p")]
    if settings.get("do_sample"):
        why.append("do_sample=True")
    return why + unsupported(model, {k: v for k, v in settings.items() if k not in ("do_sample", "temperature")})


def _decoding_info(mode: str, stats: Counter[str]) -> dict[str, Any]:
    """What the results record about decoding: the mode, the steps it ran and the useful share of row-steps."""
    info: dict[str, Any] = {"mode": mode, **{k: stats.get(k, 0) for k in ("decode_steps", "row_steps",
                                                                         "useful_row_steps")}}
    info["useful_share"] = round(info["useful_row_steps"] / info["row_steps"], 4) if info["row_steps"] else None
    info["hf_path"] = {k.removeprefix("hf path: "): v for k, v in sorted(stats.items()) if k.startswith("hf path")}
    return info


def _dtype_choice(pretrained: Any, kwargs: dict[str, Any]) -> DtypeChoice:
    """A given dtype= (checked), the dtype policy for a built-in model, else lm-eval's own default (auto)."""
    given = kwargs.get("dtype")
    if isinstance(given, str) and given != "auto":
        try:
            return choose_dtype(given, kwargs.get("device"))
        except DtypeError as exc:
            raise ModelArgsError(f"hneuron-hf: {exc} (or auto: the checkpoint's own)") from None
    if given is not None:
        return DtypeChoice(str(given).removeprefix("torch."), "given")
    if isinstance(pretrained, str) and pretrained in BUILTIN_MODELS:
        choice = choose_dtype(None, kwargs.get("device"))
        kwargs["dtype"] = choice.dtype
        return choice
    return DtypeChoice("auto", "lm-eval's default: the checkpoint's own dtype")


def _control_paths(patterns: str | None) -> list[str]:
    """Probe folders matching globs separated by ``;`` (``RUN/detectors/random-seed*;RUN/probe``), in that order.

    A pattern matching none is an error; a folder matched twice is read once.
    """
    found: list[str] = []
    for pattern in (patterns or "").split(";"):
        if not pattern.strip():
            continue
        matched = sorted(glob.glob(pattern.strip()))
        if not matched:
            raise ModelArgsError(f"hneuron-hf: detector_controls pattern {pattern.strip()!r} matches no probe folder")
        found += [m for m in matched if m not in found]
    return found


class _ScoreTap:
    """Stands in for HFLM's cache hook during generate_until: files each answer, with its score, under its context."""

    def __init__(self, inner: Any, pending: list, by_context: dict):
        self.inner, self.pending, self.by_context = inner, pending, by_context

    def add_partial(self, attr: str, req: Any, res: Any) -> None:
        if attr == "generate_until" and self.pending:
            self.by_context[req[0]].append((res, *self.pending.pop(0)))
        self.inner.add_partial(attr, req, res)


def _take(queue: list[tuple], text: str, baselines: bool) -> tuple[float | None, tuple[float | None, ...],
                                                                   dict[str, float] | None, str]:
    """The (score, controls, baselines, note) of the answer ``text`` among those generated for one context, once.

    Requests with the same context (identical documents) each get one of its answers: the very
    object HFLM returned, else an equal text, else the first left.
    """
    pick = next((i for i, entry in enumerate(queue) if entry[0] is text), None)
    if pick is None:
        pick = next((i for i, entry in enumerate(queue) if entry[0] == text), 0 if queue else None)
    if pick is None:
        return None, (), {} if baselines else None, "not generated here (cached response)"
    return queue.pop(pick)[1:]


def _parse_alpha(alpha: float | str | None) -> float | None:
    if alpha is None or (isinstance(alpha, str) and alpha.lower() in ("", "none", "default")):
        return None
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise ModelArgsError(f"hneuron-hf: alpha must be a number, got {alpha!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ModelArgsError(f"hneuron-hf: alpha must be a finite number >= 0 (0 ablates, 1 leaves the neurons as they "
                         f"are, >1 amplifies), got {alpha!r}")
    return value


def _parse_flag(name: str, value: bool | str | None, default: bool) -> bool:
    """A true/false model arg (lm-eval hands them over as text); anything else is refused, naming it."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ModelArgsError(f"hneuron-hf: {name} must be true or false, got {value!r}")
