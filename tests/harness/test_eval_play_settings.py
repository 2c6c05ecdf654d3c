"""``eval`` plays a saved model as the pipeline did: the play settings the pipeline recorded in its
``agentdistill.json`` apply unless an option overrides them (the summary says which), and with no agent the
pipeline's best-evaluated student is picked, saying why."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from agents.model_files import MODEL_RECORD, ModelFileError, read_play_settings, write_play_settings
from harness import cli
from harness.evaluate import best_student, evaluate, resolve_agent


@pytest.fixture(scope="module")
def tiny_student(tmp_path_factory) -> Path:
    """A tiny random Llama with a byte-level BPE, saved as a pipeline's student would be."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    texts = ["Thought: search first.\nAction: search[ red shoes]\nObservation: [Back to Search] B0001\n"] * 20
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(texts, trainer=trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>", "<|pad|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>",
                                        bos_token="<|endoftext|>", pad_token="<|pad|>")
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id))
    out = tmp_path_factory.mktemp("pipe") / "students" / "tiny_sad_s0"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / MODEL_RECORD).write_text(json.dumps({"kind": "student", "env": "webshop", "method": "sad",
                                                "created": "2026-01-01T00:00:00"}))
    return out


PIPELINE_ROW = {"constrain_actions": True, "max_new_tokens": 24, "max_prompt_tokens": 1000,
                "precision": "fp32"}


def _episodes(run: Path) -> list[tuple[str, str]]:
    import pandas as pd

    frame = pd.read_parquet(run / "episodes.parquet").sort_values(["episode", "step"])
    return list(zip(frame["task_id"], frame["action"], strict=True))


def test_eval_reproduces_a_pipeline_rows_settings_unless_overridden(tiny_student, tmp_path):
    write_play_settings(tiny_student, {"model": str(tiny_student), **PIPELINE_ROW}, source="pipeline test")
    assert read_play_settings(tiny_student) == PIPELINE_ROW
    # the pipeline's row: the settings given explicitly, as its student_eval unit passes them
    row = evaluate("webshop", "lm", episodes=2, workers=0, run=str(tmp_path / "row"), progress=False,
                   env_kwargs={"max_steps": 3}, agent_kwargs={"model": str(tiny_student), **PIPELINE_ROW})
    assert row["invalid_action_rate"] == 0.0  # constrained: a random model never writes an invalid action
    # what a user runs afterwards: only the model
    again = evaluate("webshop", str(tiny_student), episodes=2, workers=0, run=str(tmp_path / "again"),
                     progress=False, env_kwargs={"max_steps": 3})
    assert again["play_settings"]["from_model"] == PIPELINE_ROW and again["play_settings"]["overridden"] == {}
    assert _episodes(tmp_path / "again") == _episodes(tmp_path / "row")
    assert (again["success_rate"], again["mean_score"]) == (row["success_rate"], row["mean_score"])
    # an option wins over the record, and the summary says so
    free = evaluate("webshop", str(tiny_student), episodes=2, workers=0, run=str(tmp_path / "free"),
                    progress=False, env_kwargs={"max_steps": 3}, agent_kwargs={"constrain_actions": False})
    assert free["play_settings"]["overridden"] == {"constrain_actions": False}
    assert "constrain_actions" not in free["play_settings"]["from_model"]
    assert free["invalid_action_rate"] > 0.5  # decoding freely, the random model writes junk


def test_a_bad_play_record_is_one_line_naming_the_field(tiny_student, tmp_path, capsys):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_student, bad)
    record = json.loads((bad / MODEL_RECORD).read_text())
    (bad / MODEL_RECORD).write_text(json.dumps({**record, "play": {"max_new_tokens": "lots"}}))
    with pytest.raises(ModelFileError, match=r"play.max_new_tokens is 'lots'; expected int"):
        read_play_settings(bad)
    assert cli.main(["eval", "--env", "webshop", "--agent", str(bad), "--episodes", "1",
                     "--runs-dir", str(tmp_path / "runs"), "--no-progress"]) == 2
    assert "play.max_new_tokens" in capsys.readouterr().err


def test_no_agent_picks_the_best_evaluated_student_and_says_why(tmp_path):
    def student(pipeline: str, label: str, created: str, success: float | None, score: float = 0.0) -> Path:
        path = tmp_path / pipeline / "students" / label
        path.mkdir(parents=True)
        record = {"kind": "student", "env": "webshop", "created": created}
        (path / MODEL_RECORD).write_text(json.dumps(record))
        if success is not None:
            summary = tmp_path / pipeline / "student_eval" / label / "summary.json"
            summary.parent.mkdir(parents=True)
            summary.write_text(json.dumps({"success_rate": success, "mean_score": score, "episodes": 100,
                                           "split": "test"}))
        return path

    student("p1", "tiny_sft_s0", "2026-01-01", 0.10, 0.5)
    best = student("p1", "tiny_sad_s0", "2026-01-02", 0.30, 0.6)
    student("p2", "tiny_token_kd_s0", "2026-03-01", 0.30, 0.55)  # newer, same success, lower score
    student("p3", "tiny_opd_s0", "2026-06-01", None)  # newest, never evaluated
    path, why = best_student("webshop", tmp_path)
    assert path == best and "success 0.30, score 0.600 on 100 test episodes" in why
    name, kwargs, label = resolve_agent("", "webshop", tmp_path)
    assert kwargs["model"] == str(best) and "best of 3 pipeline-evaluated students" in label
