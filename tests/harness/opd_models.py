"""The tiny teacher and student the on-policy tests share: a ``tiny`` teacher whose BPE is trained on a few
WebShop-style turns, a ``tiny-student`` with its tokenizer, and the LM agent options they play with."""
from __future__ import annotations

from pathlib import Path

from distill.models import build_tiny

TEXTS = [
    "Thought: I should search for the item.\nAction: search[red running shoes]\n",
    "Observation: [SEP] Back to Search [SEP] Page 1 (Total results: 10) [SEP] Next > [SEP] B0001 shoes\n",
    "Thought: The first result matches.\nAction: click[b0001]\nAction: click[buy now]\n",
] * 20
#: LM agent options of every on-policy test: short turns, on CPU
LM = {"max_new_tokens": 8, "max_prompt_tokens": 384, "device": "cpu"}


def build_opd_models(root: Path) -> tuple[Path, Path]:
    """(teacher, student) model dirs under ``root``."""
    teacher = build_tiny(TEXTS, root / "teacher")
    student = build_tiny([], root / "student", preset="tiny-student", tokenizer_from=teacher, seed=1)
    return teacher, student
