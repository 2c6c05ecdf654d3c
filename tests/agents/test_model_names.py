"""Model names at the agents layer (agents.model_names), the span code agents count with (agents.spans), and
the layering they exist for: agents never import distill, which re-exports both under its old names."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import agents
import agents.model_names as model_names
import agents.spans as spans
import distill.models
import distill.spans


def test_agents_never_import_distill():
    root = Path(agents.__file__).parent
    offenders = []
    for file in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{file.name}: {name}" for name in names if name.split(".")[0] == "distill"]
    assert offenders == []


def test_distill_names_are_the_agents_ones():
    for name in ("cache_root", "ensure_smollm2", "find_smollm2_gguf", "GGUF_PACKAGE"):
        assert getattr(distill.models, name) is getattr(model_names, name)
    for name in ("segment", "token_masks", "completion_token_masks", "completion_masks_from_ids", "Span"):
        assert getattr(distill.spans, name) is getattr(spans, name)


def test_resolve_model_path_at_both_layers(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        model_names.resolve_model_path(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="'no-such-model' is neither a model directory nor a preset; "
                                                "presets: smollm2-135m$"):
        model_names.resolve_model_path("no-such-model")
    # a config preset has no weights: the trainer's resolver says so, the agents' one does not know it
    with pytest.raises(ValueError, match="preset 'tiny' is built from a config"):
        distill.models.resolve_model_path("tiny")
    with pytest.raises(FileNotFoundError, match="presets: tiny, tiny-student, smollm2-135m"):
        distill.models.resolve_model_path("no-such-model")
