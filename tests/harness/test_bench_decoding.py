"""Bench figure 9 (decoding): the baseline's per-row stopping rule decodes exactly the agent's token count
for each row, and the figure runs end to end at toy size through ``agentdistill bench``, both sides of
each row decoding the same tokens."""
import json

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, StoppingCriteriaList

from harness.bench.decoding import _RowLengths, left_padded
from harness.cli import main as cli_main


def test_row_lengths_stop_each_row_at_its_own_count():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, eos_token_id=1, pad_token_id=0)
    model = LlamaForCausalLM(config).eval()
    ids, mask = left_padded([[5, 6, 7], [8, 9], [10, 11, 12, 13]], pad=0, device="cpu")
    assert mask.tolist() == [[0, 1, 1, 1], [0, 0, 1, 1], [1, 1, 1, 1]] and ids[1, :2].tolist() == [0, 0]
    targets = [2, 5, 3]
    stop = _RowLengths(ids.shape[1], targets, "cpu")
    out = model.generate(ids, attention_mask=mask, max_new_tokens=5, min_new_tokens=5, do_sample=False,
                         pad_token_id=0, stopping_criteria=StoppingCriteriaList([stop]))
    assert stop.decoded.tolist() == targets
    assert out.shape[1] - ids.shape[1] == max(targets)  # generation ran as long as the longest row


@pytest.mark.slow
def test_decoding_figure_at_toy_size_decodes_the_same_tokens_on_both_sides(tmp_path):
    code = cli_main(["bench", "--quick", "--threads", "1", "--only", "decoding", "--out", str(tmp_path)])
    assert code == 0
    rows = json.loads((tmp_path / "bench.json").read_text())["figures"]
    assert [r.get("error") for r in rows] == [None, None]
    replay, step = rows
    assert (replay["figure"], replay["unit"], replay["floor"]) == (9, "turns/s", 3.0)
    assert (step["figure"], step["unit"], step["floor"]) == (9, "ms/step", 1.0)
    for row in rows:
        tokens = row["details"]["decoded_tokens"]
        assert tokens["ours"] == tokens["baseline"] > 0
        assert row["repeats"] == 2 and row["verdict"] in ("ok", "MISS", "unstable")
        assert 0 < row["ratio"]["low"] <= row["ratio"]["median"] <= row["ratio"]["high"]
        assert row["details"]["precision"] in ("bf16", "fp32")
    assert replay["details"]["turns"] > replay["details"]["episodes"] == 2  # several turns per episode
    assert step["details"]["decoded_tokens"]["ours"] == 16 * step["details"]["new_tokens"]
    # ms/step: lower is better, so the ratio is baseline / ours
    assert step["ratio"]["values"] == pytest.approx(
        [b / a for a, b in zip(step["value"]["values"], step["baseline"]["values"], strict=True)])
