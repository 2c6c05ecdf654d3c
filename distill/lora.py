"""Optional LoRA fine-tuning (``lora_rank > 0`` in :class:`distill.config.TrainConfig`): low-rank adapters
on a model's linear layers (Hu et al., 2021) through the ``peft`` package (the ``lora`` extra:
``pip install 'agentdistill[lora]'``), for a teacher too big to fine-tune fully.

Only the adapters train. :func:`merge_lora` folds them into the base weights before the model is saved, so
the saved directory is a plain transformers model: ``AutoModelForCausalLM.from_pretrained`` and the LM agent
load it without ``peft``.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported where a model is touched: distill.config imports this module
    import torch

#: the linear layers of a Llama block (SmolLM2's architecture): attention and MLP projections
LLAMA_LINEAR_LAYERS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def require_peft() -> ModuleType:
    """The ``peft`` module, or an ImportError that says how to install it."""
    try:
        import peft
    except ImportError:
        raise ImportError(
            "lora_rank > 0 needs the peft package, which is not installed: pip install 'agentdistill[lora]' "
            "(or pip install 'peft>=0.13'), or set lora_rank 0 for full fine-tuning"
        ) from None
    return peft


def linear_layer_names(model: torch.nn.Module) -> set[str]:
    """The last name part of every ``nn.Linear`` in ``model`` (``q_proj``, ``lm_head``, ...)."""
    import torch

    modules = model.named_modules()
    return {name.rsplit(".", 1)[-1] for name, module in modules if isinstance(module, torch.nn.Linear)}


def apply_lora(model: torch.nn.Module, rank: int, alpha: float, targets: Sequence[str]) -> Any:
    """``model`` wrapped with rank-``rank`` LoRA adapters (scale ``alpha / rank``, no dropout) on its linear
    layers named ``targets``; every base weight is frozen, the adapters' B starts at zero (the wrapped model
    computes what ``model`` did). Returns the ``peft`` model; save it through :func:`merge_lora`."""
    peft = require_peft()
    if rank < 1:
        raise ValueError(f"lora_rank={rank}: LoRA needs a rank >= 1 (0 means full fine-tuning, no adapters)")
    if not targets:
        raise ValueError("lora_targets is empty: name the linear layers to adapt, e.g. q_proj v_proj")
    present = linear_layer_names(model)
    missing = sorted(set(targets) - present)
    if missing:
        raise ValueError(
            f"lora_targets {missing} name no linear layer of this model; its linear layers: {sorted(present)}"
        )
    config = peft.LoraConfig(
        r=rank, lora_alpha=alpha, target_modules=list(targets), lora_dropout=0.0, bias="none",
        task_type="CAUSAL_LM",
    )
    return peft.get_peft_model(model, config)


def merge_lora(model: Any) -> Any:
    """The plain transformers model with the LoRA adapters folded into its weights; a model without
    adapters is returned as it is."""
    peft = sys.modules.get("peft")  # not imported: no model of this process carries adapters
    return model.merge_and_unload() if peft is not None and isinstance(model, peft.PeftModel) else model
