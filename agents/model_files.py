"""Checks that a saved model directory is whole, and loadable without running code, before anything loads it.

transformers loads weights lazily and reports a truncated or corrupt file with a long traceback, in the
LM agent only at its first step; :func:`check_model_dir` reads what a load needs up front (the JSON
files, every weight file's header and length) and fails with one line that names the file.

Nothing is ever loaded that runs code from the directory: a config or tokenizer that declares its own
code (``auto_map``), a ``model_type`` this transformers does not implement (only the model's own code
could build it) and pickle weights (``pytorch_model.bin``: unpickling can call any function; the
safetensors files ``save_pretrained`` writes hold only tensors) are refused here, by name. Every
``from_pretrained`` in the project passes ``trust_remote_code=False`` as well.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

#: JSON files of a ``save_pretrained`` directory that are read when it loads (when present)
JSON_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
              "special_tokens_map.json")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
#: pickle weights, which are refused: loading them unpickles, and unpickling can run code
PICKLE_WEIGHT_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")


class ModelFileError(ValueError):
    """A model file is missing, truncated or corrupt, or needs code to load; the message names it."""


def check_model_dir(path: str | Path) -> Path:
    """``path`` when it holds a loadable saved model (config.json of an architecture transformers
    implements, tokenizer JSON files that parse, complete safetensors weights, no code of its own);
    otherwise :class:`ModelFileError` naming the file."""
    folder = Path(path)
    if not folder.is_dir() or not (folder / "config.json").is_file():
        raise ModelFileError(
            f"{folder} is not a saved model: expected a directory with config.json "
            "(written by save_pretrained)"
        )
    for name in JSON_FILES:
        if (folder / name).is_file():
            _read_json(folder / name)
    _check_no_code(folder)
    for file in _weight_files(folder):
        _check_weights(file)
    return folder


def _read_json(file: Path) -> object:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFileError(f"{file}: not readable JSON ({err}); the file is damaged: "
                             "save the model again") from None


def _check_no_code(folder: Path) -> None:
    """Refuse a directory whose config or tokenizer needs code of its own to load."""
    from transformers import __version__
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    config_file = folder / "config.json"
    declared = {f: _read_json(f) for f in (config_file, folder / "tokenizer_config.json") if f.is_file()}
    for file, settings in declared.items():
        if isinstance(settings, dict) and "auto_map" in settings:
            raise ModelFileError(f"{file}: declares code of its own (auto_map); code from a model directory "
                                 "is never run: use a model of an architecture transformers implements")
    config = declared[config_file]
    if not isinstance(config, dict):
        raise ModelFileError(f"{config_file}: expected a JSON object (written by save_pretrained), "
                             f"got {type(config).__name__}")
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or model_type not in CONFIG_MAPPING:
        given = "no model_type" if model_type is None else f"model_type {model_type!r}"
        raise ModelFileError(f"{config_file}: {given}; expected an architecture transformers {__version__} "
                             "implements (e.g. 'llama'): code from a model directory is never run")


def _weight_files(folder: Path) -> list[Path]:
    """The weight files a load reads: the single file, or every shard an index names; pickle weights are
    refused."""
    index = folder / "model.safetensors.index.json"
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
    if (folder / "model.safetensors").is_file():
        return [folder / "model.safetensors"]
    for name in PICKLE_WEIGHT_FILES:
        if (folder / name).is_file():
            raise ModelFileError(
                f"{folder / name}: pickle weights are not loaded (unpickling can run code); if you trust "
                "them, re-save the model with save_pretrained, which writes safetensors (model.safetensors)"
            )
    raise ModelFileError(f"{folder}: no model weights (expected one of {', '.join(WEIGHT_FILES)})")


def _check_weights(file: Path) -> None:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(file), framework="pt") as handle:
            handle.keys()
    except (SafetensorError, OSError) as err:
        raise ModelFileError(f"{file}: not a complete safetensors file ({err}); it is truncated or "
                             "damaged: save or copy the model again") from None


# --- the play settings a model was evaluated with ------------------------------------------------------
#: the record the trainer writes beside a saved model (kind, env, method, ...; ``distill.models.MARKER``)
MODEL_RECORD = "agentdistill.json"
#: LM agent options that decide how a model plays, kept in its record's "play" entry: ``eval`` uses them
#: unless an option overrides them, so a model plays as the pipeline played it
PLAY_SETTINGS: dict[str, type | tuple[type, ...]] = {
    "constrain_actions": bool, "max_new_tokens": int, "max_prompt_tokens": int, "few_shot": int,
    "chat_template": bool, "precision": str,
}


def read_play_settings(folder: str | Path) -> dict[str, Any]:
    """The "play" entry of ``folder/agentdistill.json`` ({} when the model has none); a value of the wrong
    type is an error naming the file and the field."""
    record_file = Path(folder) / MODEL_RECORD
    if not record_file.is_file():
        return {}
    record = _read_json(record_file)
    play = record.get("play", {}) if isinstance(record, dict) else {}
    if not isinstance(play, dict):
        raise ModelFileError(f"{record_file}: 'play' is {type(play).__name__}; expected an object")
    settings = {}
    for key, value in play.items():
        kind = PLAY_SETTINGS.get(key)
        if kind is None:
            continue  # provenance ("source") and settings of later versions
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            expected = getattr(kind, "__name__", str(kind))
            raise ModelFileError(f"{record_file}: play.{key} is {value!r}; expected {expected}")
        settings[key] = value
    return settings


def write_play_settings(folder: str | Path, settings: dict[str, Any], source: str) -> None:
    """Record the play settings (the :data:`PLAY_SETTINGS` keys of ``settings``) and where they come from
    (``source``, e.g. the pipeline run) in ``folder/agentdistill.json``, atomically."""
    record_file = Path(folder) / MODEL_RECORD
    record = _read_json(record_file) if record_file.is_file() else {}
    if not isinstance(record, dict):
        raise ModelFileError(f"{record_file}: not a JSON object; expected the record save_final writes")
    play = {k: v for k, v in settings.items() if k in PLAY_SETTINGS and v is not None}
    record["play"] = {**play, "source": source}
    handle, tmp = tempfile.mkstemp(dir=record_file.parent, prefix=f".{MODEL_RECORD}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(json.dumps(record, indent=2) + "\n")
        os.replace(tmp, record_file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
