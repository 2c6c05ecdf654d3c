"""Structured Agent Distillation: span segmentation, datasets, losses, trainer, model presets.

Needs only torch, transformers, pandas and pyarrow (no ray, gymnasium, textworld or alfworld),
so it runs on a bare GPU machine.
"""
