"""The hallucination / over-compliance task suite: loaders, prompts, the task-kind registry, the lm-eval task.

``task`` and ``userdata`` import lm-eval; the other modules do not, so identification can share
prompts and judges without it.
"""
