"""A damaged saved model is a one-line error naming the file, before anything loads it."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from agents.model_files import ModelFileError, check_model_dir
from distill.models import build_tiny

TEXTS = ["Thought: I need a mug.\nAction: go to cabinet 1\nObservation: On cabinet 1, you see a mug."] * 20


def starts(path: Path, message: str) -> str:
    """A regex for an error message that starts with ``path: message``."""
    return "^" + re.escape(f"{path}: {message}")


@pytest.fixture()
def model_dir(tmp_path):
    return build_tiny(TEXTS, tmp_path / "m")


def test_a_whole_model_passes(model_dir):
    assert check_model_dir(model_dir) == model_dir


def test_truncated_weights_are_named(model_dir):
    weights = model_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(ModelFileError, match=starts(weights, "not a complete safetensors file (")) as err:
        check_model_dir(model_dir)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", ["config.json", "tokenizer.json", "tokenizer_config.json"])
def test_damaged_json_is_named(model_dir, name):
    file = model_dir / name
    file.write_text(file.read_text()[:40])
    with pytest.raises(ModelFileError, match=starts(file, "not readable JSON")):
        check_model_dir(model_dir)


def test_missing_files_and_shards(model_dir, tmp_path):
    with pytest.raises(ModelFileError, match="is not a saved model: expected a directory with config.json"):
        check_model_dir(tmp_path / "nowhere")
    (model_dir / "model.safetensors").rename(model_dir / "model-00001-of-00002.safetensors")
    with pytest.raises(ModelFileError, match=starts(model_dir, "no model weights (expected one of")):
        check_model_dir(model_dir)
    index = model_dir / "model.safetensors.index.json"
    shards = {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}
    index.write_text(json.dumps({"metadata": {}, "weight_map": shards}))
    with pytest.raises(ModelFileError, match=starts(index, "names shards that are missing: model-00002-of")):
        check_model_dir(model_dir)


def test_older_pytorch_weights_are_refused(model_dir):
    weights = model_dir / "pytorch_model.bin"  # what save_pretrained wrote before safetensors: a pickle
    torch.save(AutoModelForCausalLM.from_pretrained(model_dir).state_dict(), weights)
    (model_dir / "model.safetensors").unlink()
    with pytest.raises(ModelFileError, match=starts(weights, "pickle weights are not loaded")):
        check_model_dir(model_dir)
