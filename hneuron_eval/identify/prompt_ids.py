"""How a question is put to the model: chat template + the paper's suffix, or few-shot Q/A for base models."""

from __future__ import annotations

from typing import Any

from hneuron_eval.suite.prompts import QA_SUFFIX

#: Few-shot examples for base models; fixed general-knowledge questions not taken from any evaluation file.
FEW_SHOT = (
    ("What is the capital city of France?", "Paris"),
    ("Which planet is known as the Red Planet?", "Mars"),
    ("Who wrote the play Romeo and Juliet?", "William Shakespeare"),
)


def is_chat(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def prompt_text(tokenizer: Any, question: str) -> str:
    """The exact text fed to the model for ``question`` (special tokens included for chat models)."""
    if is_chat(tokenizer):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": question + QA_SUFFIX}], add_generation_prompt=True, tokenize=False
        )
    shots = "".join(f"Q: {q}\nA: {a}\n\n" for q, a in FEW_SHOT)
    return f"{shots}Q: {question}\nA:"


def prompt_ids(tokenizer: Any, question: str) -> list[int]:
    """Token ids of the prompt; the chat template carries its own special tokens, base prompts get BOS."""
    text = prompt_text(tokenizer, question)
    return list(tokenizer(text, add_special_tokens=not is_chat(tokenizer))["input_ids"])

