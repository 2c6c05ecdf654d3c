"""Checks that a saved model directory is whole before anything loads it.

transformers loads weights lazily and reports a truncated or corrupt file with a long traceback, in the
LM agent only at its first step; :func:`check_model_dir` reads what a load needs up front (the JSON
files, every weight file's header and length) and fails with one line that names the file.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

#: JSON files of a ``save_pretrained`` directory that are read when it loads (when present)
JSON_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
              "special_tokens_map.json")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")


class ModelFileError(ValueError):
    """A model file is missing, truncated or corrupt; the message names it."""


def check_model_dir(path: str | Path) -> Path:
    """``path`` when it holds a loadable saved model (config.json, tokenizer JSON files that parse, and
    weight files that are complete); otherwise :class:`ModelFileError` naming the file."""
    folder = Path(path)
    if not folder.is_dir() or not (folder / "config.json").is_file():
        raise ModelFileError(
            f"{folder} is not a saved model: expected a directory with config.json "
            "(written by save_pretrained)"
        )
    for name in JSON_FILES:
        if (folder / name).is_file():
            _read_json(folder / name)
    for file in _weight_files(folder):
        _check_weights(file)
    return folder


def _read_json(file: Path) -> object:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFileError(f"{file}: not readable JSON ({err}); the file is damaged: "
                             "save the model again") from None


def _weight_files(folder: Path) -> list[Path]:
    """The weight files a load reads: the single file, or every shard an index names."""
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = folder / index_name
        if index.is_file():
            weight_map = _read_json(index)
            shards = weight_map.get("weight_map") if isinstance(weight_map, dict) else None
            if not isinstance(shards, dict) or not shards:
                raise ModelFileError(f"{index}: no weight_map; expected the index save_pretrained writes")
            files = [folder / str(shard) for shard in sorted(set(shards.values()))]
            missing = [f.name for f in files if not f.is_file()]
            if missing:
                raise ModelFileError(f"{index}: names shards that are missing: {', '.join(missing[:5])}")
            return files
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return [folder / name]
    raise ModelFileError(f"{folder}: no model weights (expected one of {', '.join(WEIGHT_FILES)})")


def _check_weights(file: Path) -> None:
    if file.suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(file), framework="pt") as handle:
                handle.keys()
        except (SafetensorError, OSError) as err:
            raise ModelFileError(f"{file}: not a complete safetensors file ({err}); it is truncated or "
                                 "damaged: save or copy the model again") from None
    elif not zipfile.is_zipfile(file):
        raise ModelFileError(f"{file}: not a complete PyTorch weights archive; it is truncated or damaged: "
                             "save or copy the model again")
