"""CETT features: the batched, hooked extraction equals a direct token-by-token computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cett_reference import direct_cett
from identify_fixtures import tiny_gpt2, tiny_llama

from hneuron_eval.core.cett import CETTExtractor, FeatureRow, model_body

ROWS = [
    FeatureRow("a", [2, 5, 6, 7], [8, 9, 10, 1], (1, 3)),
    FeatureRow("b", [2, 11, 12, 13, 14, 15, 16, 17], [18, 19], (0, 2)),
    FeatureRow("c", [2, 20], [21, 22, 23, 24, 25, 26], (2, 3)),
]


@pytest.mark.parametrize("make", [tiny_llama, tiny_gpt2], ids=["llama", "gpt2-transposed"])
@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_batched_equals_direct(make, padding_side):
    model = make()
    ext = CETTExtractor(model, padding_side=padding_side, pad_id=0)
    ans, oth = ext.extract(ROWS)
    assert ans.shape == (3, 2 * 64) and ans.dtype == np.float32
    for i, row in enumerate(ROWS):
        ref_ans, ref_oth = direct_cett(model, row)
        np.testing.assert_allclose(ans[i], ref_ans, rtol=2e-4, atol=1e-6)
        np.testing.assert_allclose(oth[i], ref_oth, rtol=2e-4, atol=1e-6)


def test_features_differ_between_answer_and_other_tokens():
    ans, oth = CETTExtractor(tiny_llama()).extract(ROWS[:1])
    assert np.abs(ans - oth).max() > 1e-3
    assert (ans >= 0).all() and (oth >= 0).all()


def test_padding_without_position_ids_would_differ():
    """Guards the test itself: with absolute positions (GPT-2), left padding changes the result unless corrected."""
    model = tiny_gpt2()
    ext = CETTExtractor(model, padding_side="left")
    t = ext.batch_tensors(ROWS)
    assert t["position_ids"][0, 0].item() == 0 and t["position_ids"][2].tolist()[-1] == len(ROWS[2].ids) - 1
    out_fixed = model_body(model)(
        input_ids=t["input_ids"], attention_mask=t["attention_mask"], position_ids=t["position_ids"]
    ).last_hidden_state
    out_naive = model_body(model)(input_ids=t["input_ids"], attention_mask=t["attention_mask"],
                                  position_ids=torch.arange(t["input_ids"].shape[1]).expand_as(t["input_ids"])).last_hidden_state
    assert not torch.allclose(out_fixed[2, -1], out_naive[2, -1])


def test_no_logits_computed():
    model = tiny_llama()
    called = []
    model.lm_head.register_forward_hook(lambda *a: called.append(1))
    CETTExtractor(model).extract(ROWS)
    assert not called
