"""A tiny official-layout ALFWorld tree (two games per task type), built once per test session."""
from __future__ import annotations

from pathlib import Path

import pytest

from envs.alfworld import data, generator

TINY_SIZES = {task_type: 2 for task_type in generator.TASK_TYPES}


@pytest.fixture(scope="session")
def tiny_alfworld_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<root>/json_2.1.1/valid_unseen`` with 12 generated, engine-checked games."""
    root = tmp_path_factory.mktemp("alfworld")
    data.build_split(root, "valid_unseen", sizes=TINY_SIZES, workers=1)
    return root
