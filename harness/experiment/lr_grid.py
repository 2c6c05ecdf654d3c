"""``agentdistill pipeline --lr-grid``: each method's student learning rate, chosen on held-out train tasks,
so that no method wins on its learning rate alone.

For each (student size, method) of the main rows, the student of seed :data:`GRID_SEED` is trained at every
multiplier x the preset's ``student_lr`` and plays ``lr_grid_episodes`` episodes of the TRAIN split from
:func:`heldout_offset` on: tasks past every train task the demos, the teacher's rollouts and the on-policy
rounds play (so no student or teacher trained on them, and none is a test task). :func:`choose` picks the best
held-out success, then the best mean score, then the multiplier nearest x1 (x1 itself on a tie). Every student
of that size and method (all seeds, every ablation row of the method) then trains at the chosen rate; the
seed's own student is the grid's model for the chosen rate, copied rather than trained again.

Layout under the pipeline directory (stage ``lr_grid``)::

    lr_grid/models/<label>_x<m>/     the student of seed 0 trained at m x student_lr
    lr_grid/heldout/<label>_x<m>/    its play on the held-out train tasks (episodes.parquet, summary.json)
    lr_grid/choice/<student>_<method>/lr_grid.json   every point's held-out numbers and the chosen rate
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.experiment.presets import Preset

#: ``--lr-grid`` without a value
DEFAULT_MULTIPLIERS = (0.5, 1.0, 2.0)
#: the training seed whose students choose the rate (one choice per size and method, used by every seed)
GRID_SEED = 0
#: the choice record in each ``lr_grid/choice/<key>/`` folder
RECORD = "lr_grid.json"
#: the rule :func:`choose` applies, as recorded and reported
RULE = "best held-out success, then mean score, then the multiplier nearest x1"


def parse_multipliers(text: str) -> tuple[float, ...]:
    """``--lr-grid`` value (comma-separated positive multipliers of ``student_lr``, e.g. ``0.5,1,2``) -> the
    sorted, distinct multipliers; anything else is a one-line error naming the value."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(not (math.isfinite(v) and v > 0) for v in values) or len(set(values)) != len(values):
        raise UserError(f"--lr-grid {text!r}: expected distinct positive multipliers of the preset's "
                        "student_lr, comma-separated (e.g. 0.5,1,2)")
    return tuple(sorted(values))


def heldout_offset(preset: Preset) -> int:
    """The first held-out position of the train split's task order: past the demos, the teacher's rollouts
    and every on-policy round (rounds x episodes), whichever methods a run trains (so the offset, and the
    grid's results, do not change when methods are added)."""
    return max(preset.demo_episodes, preset.rollout_episodes, preset.opd_rounds * preset.opd_episodes)


def multiplier_slug(multiplier: float) -> str:
    """``x0.5``, ``x1``, ``x2``: a grid point's suffix in folder names."""
    return f"x{multiplier:g}"


def choose(points: list[dict[str, Any]]) -> dict[str, Any]:
    """The chosen point of ``points`` (each with ``multiplier``, ``success_rate``, ``mean_score``): the
    highest success, then the highest mean score, then the multiplier nearest 1 on a log scale (x1 itself
    where it ties; between x0.5 and x2, the smaller)."""
    if not points:
        raise ValueError("choose: no grid points")
    return min(points, key=lambda p: (-p["success_rate"], -p["mean_score"],
                                      abs(math.log(p["multiplier"])), p["multiplier"]))


def read_choices(root: Path) -> list[dict[str, Any]]:
    """Every choice record (:data:`RECORD`) of the pipeline directory ``root``, by student and method."""
    records = []
    for path in sorted((Path(root) / "lr_grid" / "choice").glob(f"*/{RECORD}")):
        try:
            records.append(json.loads(path.read_text()))
        except json.JSONDecodeError as err:
            raise UserError(f"{path}: not valid JSON ({err}); expected the record of the learning-rate "
                            "grid's choice (rerun with --force lr_grid+)") from None
    return records
