"""Logits at the positions a loss reads, and nowhere else.

A completion-only loss reads a few percent of a window's positions (~8% of a 1,536-token WebShop
window), yet ``model(ids).logits`` projects every position onto the whole vocabulary: for SmolLM2's
49,152 words that projection is ~21% of the 135M model's FLOPs and the largest tensor of the step.
:class:`LossPositionLM` runs the decoder over the whole window (every position still attends to its
context) and the LM head on the selected positions only:

    lm = LossPositionLM(model)                        # wraps it; DDP / torch.compile wrap ``lm``
    rows, cols = loss_positions(batch["completion_mask"])   # (N,), (N,)
    logits = lm(batch["input_ids"], batch["attention_mask"], rows, cols)   # (1, N, V)
    picked = at_positions(batch, rows, cols)          # every (B, T, ...) tensor -> (1, N, ...)
    teacher = picked["topk_ids"], picked["topk_logprobs"]
    loss = losses.token_kd_loss(logits, teacher, picked["completion_mask"])

The losses take any (B, T, V) layout, so a (1, N, V) batch of selected positions gives the same sums,
and so the same losses and gradients, as the full (B, T, V) logits masked to those positions.

A model whose logits are not ``lm_head(decoder(ids))`` (a final soft-cap or scale, say) is detected once
by :func:`head_matches` and then run in full and indexed (same result, no saving).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn


def loss_positions(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, cols) of the true entries of a (B, T) mask, row-major: (N,), (N,) long."""
    rows, cols = mask.bool().nonzero(as_tuple=True)
    return rows, cols


def at_positions(
    batch: dict[str, torch.Tensor], rows: torch.Tensor, cols: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Every (B, T, ...) tensor of ``batch`` at (rows, cols), as a batch of one sequence: (1, N, ...).
    ``input_ids`` and ``attention_mask`` are left out: the model reads the whole window."""
    return {
        name: value[rows, cols].unsqueeze(0)
        for name, value in batch.items()
        if name not in ("input_ids", "attention_mask") and value.dim() >= 2
    }


def _decoder_and_head(model: Any) -> tuple[nn.Module, nn.Module] | None:
    get_decoder = getattr(model, "get_decoder", None)
    get_head = getattr(model, "get_output_embeddings", None)
    if get_decoder is None or get_head is None:
        return None
    decoder, head = get_decoder(), get_head()
    if decoder is None or head is None or decoder is model:
        return None
    return decoder, head


@torch.no_grad()
def head_matches(model: Any, device: torch.device | str = "cpu", atol: float = 1e-4) -> bool:
    """Whether ``lm_head(decoder(ids))`` equals ``model(ids).logits`` (fp32, a short probe sequence)."""
    parts = _decoder_and_head(model)
    if parts is None:
        return False
    decoder, head = parts
    vocab = int(getattr(model.config, "vocab_size", 2))
    ids = torch.arange(1, 9, device=device).remainder(vocab)[None]  # (1, 8)
    mask = torch.ones_like(ids)
    was_training = model.training
    model.eval()
    try:
        full = model(input_ids=ids, attention_mask=mask).logits.float()  # (1, 8, V)
        hidden = decoder(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
        split = head(hidden).float()  # (1, 8, V)
    finally:
        model.train(was_training)
    return full.shape == split.shape and bool(torch.allclose(full, split, atol=atol, rtol=1e-4))


class LossPositionLM(nn.Module):
    """A causal LM whose forward returns logits at given positions only: (1, N, V).

    ``model`` stays a submodule (``.model``): its parameters are this module's, so an optimizer,
    DDP or ``torch.compile`` wrap this module as they would the model."""

    def __init__(self, model: Any, split: bool | None = None) -> None:
        super().__init__()
        self.model = model
        device = next(model.parameters()).device
        #: True: decoder over the window, head at the positions; False: full logits, then indexed
        self.split = head_matches(model, device) if split is None else split

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, rows: torch.Tensor,
        cols: torch.Tensor,
    ) -> torch.Tensor:
        """input_ids, attention_mask (B, T); rows, cols (N,) -> logits (1, N, V). A right-padded batch needs
        no ``attention_mask`` (None): under the causal mask no real position sees a pad."""
        if not self.split:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).logits[rows, cols][None]
        decoder, head = _decoder_and_head(self.model)  # type: ignore[misc]
        hidden = decoder(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        return head(hidden.last_hidden_state[rows, cols])[None]  # (N, H) -> (1, N, V)
