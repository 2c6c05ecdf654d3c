"""Where a pipeline keeps everything: the directory layout of ``runs/<pipeline>/`` (written by
:mod:`harness.experiment.pipeline`, read by :mod:`harness.report`)::

    pipeline.json                  the manifest: env, preset, seeds, methods, command, commit
    run.lock                       while a pipeline runs here: its pid, host and start time
    <unit>/.complete.json          a unit's completion marker (params, inputs, env, tokenizer, wall time)
    demos/                         expert demonstrations, train split   (episodes.parquet, summary.json)
    teacher/                       the SFT teacher (save_pretrained dir + metrics.csv)
    teacher_rollouts/              teacher on the train split with top-k log-probs
    teacher_eval/                  teacher, closed loop on the test split
    teacher_eval_free/             the same teacher decoding freely (runs with constrained decoding only)
    baselines/<agent>/             scripted expert, random agent (WebShop: also first-result), test split
    lr_grid/                       --lr-grid: models/, heldout/ and choice/ (harness/experiment/lr_grid.py)
    students/<label>/              one student per method x variant x size x seed (+ student.json);
                                   an on-policy one also holds round_<r>/ and rounds.json
    student_eval/<label>/          that student, closed loop on the test split
    offline/<label>/metrics.json   its offline metrics against the teacher
    report.md  report.csv  report.html  plots/

``--env all`` makes ``runs/<pipeline>/<env>/`` one such layout per env, with a manifest of
``"env": "all"`` and the combined report at the top.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.run_dir import write_text

MANIFEST = "pipeline.json"
#: the file that marks a unit of work (a stage dir, or one student in it) complete
STAGE_MARKER = ".complete.json"
#: the offline metrics file in each ``offline/<label>/`` folder
OFFLINE_METRICS = "metrics.json"
#: what the report groups a student's rows by, next to its model
STUDENT_DESCRIPTION = "student.json"
#: the trainer's summary next to a trained model (``student_tokens``: completion tokens in the loss)
TRAIN_SUMMARY = "train_summary.json"
#: an on-policy student's per-round record (:func:`harness.experiment.opd.run_opd`), next to its model
ROUNDS = "rounds.json"


@dataclass(frozen=True)
class Layout:
    """The folders of one env's pipeline directory (see the module docstring)."""

    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    @property
    def demos(self) -> Path:
        return self.root / "demos"

    @property
    def teacher(self) -> Path:
        return self.root / "teacher"

    @property
    def teacher_rollouts(self) -> Path:
        return self.root / "teacher_rollouts"

    @property
    def teacher_eval(self) -> Path:
        return self.root / "teacher_eval"

    @property
    def teacher_eval_free(self) -> Path:
        """The teacher decoding freely, where the run's agents decode constrained (a row of its own)."""
        return self.root / "teacher_eval_free"

    def baseline(self, agent: str) -> Path:
        return self.root / "baselines" / agent

    def student(self, label: str) -> Path:
        return self.root / "students" / label

    def student_eval(self, label: str) -> Path:
        return self.root / "student_eval" / label

    def offline(self, label: str) -> Path:
        return self.root / "offline" / label


def read_manifest(root: Path) -> dict[str, Any]:
    """The pipeline manifest at ``root/pipeline.json``; a missing one is an error naming the path."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no pipeline manifest; expected a directory made by `agentdistill pipeline`"
        )
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UserError(
            f"{path}: not valid JSON ({err}); expected the manifest `agentdistill pipeline` writes"
        ) from err
    if not isinstance(manifest, dict):
        raise UserError(f"{path}: holds a JSON {type(manifest).__name__}; expected the object (env, preset, "
                        "seeds, ...) `agentdistill pipeline` writes")
    return manifest


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as JSON atomically, never through a symbolic link (a link at ``path`` is refused:
    :func:`harness.run_dir.write_text`)."""
    write_text(path, json.dumps(payload, indent=2, sort_keys=True, default=str))
