"""``HNTask``: the lm-eval task class every ``hn_*`` YAML names; the kind registry does the rest."""

from __future__ import annotations

from typing import Any

from lm_eval.api.task import ConfigurableTask

from hneuron_eval import judges
from hneuron_eval.harness import detector as monitor
from hneuron_eval.suite.kinds import METRICS, classify, get_kind


class HNTask(ConfigurableTask):
    """A generate-until task: chat turns under ``--apply_chat_template``, few-shot ``Q:/A:`` otherwise.

    ``metadata.hn_kind`` picks the prompt, the metrics (``metric_list`` comes from the kind
    when the YAML gives none) and the per-document classes; ``metadata.hn_max_gen_toks``
    sets the task's budget inside the shared ``generation_kwargs``; ``metadata.hn_judge``
    (optional, e.g. from ``--metadata``) picks the judge, so one YAML serves instruct and base
    models. The judge's name and rule version are written into the task's metadata, and so
    into the results JSON (``configs.<task>.metadata.hn_judge_version``).
    """

    def __init__(self, config: dict | None = None, **kwargs: Any):
        config = {k: v for k, v in (config or {}).items() if k != "class"}
        meta = dict(config.get("metadata") or {})
        self.kind = get_kind(meta.get("hn_kind"))
        self.shots = meta.get("hn_shots", "triviaqa")
        judge = judges.judge_from_metadata(meta)
        meta["hn_judge_version"] = f"{judge.name}:{judge.version}"
        config["metadata"] = meta
        config["process_results"] = self._scorer(judge)
        metrics = [{"metric": m, "aggregation": "mean", "higher_is_better": METRICS[m]} for m in self.kind.metrics]
        if self.kind.monitored:  # reported only when a detector watched the generation (hneuron-hf detector=)
            metrics += [{"metric": m, "aggregation": agg, "higher_is_better": hib}
                        for m, (agg, hib) in monitor.METRICS.items()]
        config.setdefault("metric_list", metrics)
        if "hn_max_gen_toks" in meta:
            config["generation_kwargs"] = {
                **(config.get("generation_kwargs") or {}),
                "max_gen_toks": int(meta["hn_max_gen_toks"]),
            }
        super().__init__(config=config, **kwargs)

    def _scorer(self, judge: judges.Judge):
        kind = self.kind

        def process_results(doc: dict, results: list) -> dict:
            cls = classify(kind.name, doc, results, judge)
            metrics: dict = kind.measure(doc, cls)
            if kind.monitored:
                watched = monitor.score_of(results)
                if watched is not None:
                    metrics.update(monitor.detector_metrics(watched.score, cls, watched.controls, watched.baselines))
            return metrics

        return process_results

    def download(self, dataset_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Call the loader with the task metadata, without lm-eval's generic hint about ``--metadata``."""
        self.dataset = self.config.custom_dataset(**(self.config.metadata or {}), **(self.config.dataset_kwargs or {}))

    def fewshot_context(
        self,
        doc,
        num_fewshot,
        system_instruction=None,
        apply_chat_template=False,
        fewshot_as_multiturn=False,
        chat_template=None,
        gen_prefix=None,
    ):
        if num_fewshot:
            raise ValueError(
                f"{self.config.task}: num_fewshot={num_fewshot} is not supported; the task builds its own "
                "prompt (chat turns with --apply_chat_template, a fixed few-shot Q:/A: prefix without)"
            )
        if apply_chat_template and chat_template is not None:
            messages = self.kind.chat(doc)
            if system_instruction:
                messages = [{"role": "system", "content": system_instruction}, *messages]
            return chat_template(messages, add_generation_prompt=True)
        prompt = self.kind.base(doc, self.shots)
        return f"{system_instruction}\n\n{prompt}" if system_instruction else prompt
