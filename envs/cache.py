"""Where generated data lives: ``$AGENTDISTILL_CACHE`` or ``~/.cache/agentdistill``."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """``<cache root>/<parts...>``, created if missing."""
    root = Path(os.environ.get("AGENTDISTILL_CACHE") or Path.home() / ".cache" / "agentdistill")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
