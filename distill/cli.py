"""``agentdistill train`` and ``agentdistill distill``: options built from the config dataclasses.

    agentdistill train   --data runs/demos --out runs/teacher --model tiny
    agentdistill distill --method sad --teacher runs/teacher --student tiny-student \\
                         --data runs/teacher-run --out runs/students/sad
    agentdistill distill --method opd --divergence reverse_kl --teacher runs/teacher \\
                         --student runs/opd/round_0/model --data runs/opd/round_1/rollouts \\
                         --out runs/opd/round_1/model

On several GPUs (no harness needed on that machine)::

    torchrun --nproc-per-node 8 -m distill.cli distill --method sad ...
"""
from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any

from distill.config import METHODS, SFTConfig, TrainConfig, is_required


def _without_none(hint: Any) -> Any:
    """``X | None`` -> ``X``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def _option_kwargs(f: Any, hint: Any) -> dict[str, Any]:
    """argparse keyword arguments for one dataclass field."""
    kwargs: dict[str, Any] = {
        "help": f.metadata.get("help", ""), "default": argparse.SUPPRESS, "dest": f.name,
    }
    base = _without_none(hint)
    if base is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    elif typing.get_origin(base) is typing.Literal:
        kwargs["choices"] = list(typing.get_args(base))
    elif typing.get_origin(base) is list:
        kwargs["nargs"] = f.metadata.get("nargs", "+")
    else:
        kwargs["type"] = base
    if is_required(f):
        kwargs["required"] = True
    return kwargs


def _is_distill(parser: argparse.ArgumentParser) -> bool:
    return parser.prog.split()[-1] != "train"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``train`` (SFT) or ``distill`` (every method's options; ``--method`` picks one)."""
    distill = _is_distill(parser)
    classes: list[type[TrainConfig]] = list(METHODS.values()) if distill else [SFTConfig]
    if distill:
        parser.add_argument("--method", choices=list(METHODS), default="sad",
                            help="distillation method (default sad)")
    added: set[str] = set()
    for cls in classes:
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            if f.name in added:  # a field several methods share (e.g. SAD's λs in sad and sad_opd)
                continue
            added.add(f.name)
            flags = f.metadata.get("flags") or (f"--{f.name.replace('_', '-')}",)
            if not distill and "--student" in flags:
                flags = tuple(x for x in flags if x != "--student")
            parser.add_argument(*flags, **_option_kwargs(f, hints[f.name]))


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The method's config from parsed options, checked against the machine (:func:`check_device`) and the
    files it names (episode logs that are not ones, :func:`distill.data.check_episode_files`; a non-empty
    --out without --resume or --overwrite, damaged model files, a checkpoint trained with other settings:
    see :func:`distill.train.preflight`; nothing is changed). An option the method does not take is an
    error."""
    from distill.data import check_episode_files
    from distill.train import preflight

    method = getattr(args, "method", None) or "sft"
    command = getattr(args, "command", "distill")
    cls = METHODS[method]
    allowed = {f.name for f in fields(cls)}
    given = {k: v for k, v in vars(args).items() if k not in ("method", "command") and not k.startswith("_")}
    foreign = sorted(k for k in given if k not in allowed)
    if foreign:
        names = ", ".join("--" + k.replace("_", "-") for k in foreign)
        raise ValueError(f"{names}: not an option of --method {method}")
    if command == "train":
        given.setdefault("role", "teacher")
    config = cls(**given)
    check_device(config.device)
    check_episode_files(config.data)
    preflight(config)
    return config


def check_device(device: str) -> None:
    """Refuse (``ValueError``) a CUDA ``device`` this torch cannot use: a CPU build, no GPU visible, or an
    index past the visible GPUs; each says what to do."""
    if not device.startswith("cuda"):
        return
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(device.partition(":")[2] or 0)
    if count == 0 and torch.version.cuda is None and torch.version.hip is None:
        raise ValueError(
            f"device={device!r}: this torch ({torch.__version__}) is a CPU build without CUDA; install the "
            "CUDA build (`make install DEVICE=cuda`, see README: GPU install) or use --device cpu"
        )
    if index >= count:
        seen = f"only {count} GPU(s) visible (cuda:0 to cuda:{count - 1})" if count else "no GPU is visible"
        raise ValueError(f"device={device!r}: torch {torch.__version__} has CUDA but {seen}; check "
                         "CUDA_VISIBLE_DEVICES and the driver (see README: GPU install), or use --device cpu")


def run(args: argparse.Namespace) -> int:
    """Train, then print where the model went and the throughput."""
    from distill.train import train

    out = train(config_from_args(args))
    summary_path = Path(out) / "train_summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        rate = summary.get("tokens_per_s")
        print(f"[{args.command}] saved {out}  ({summary['steps']} steps, {rate or 0:,.0f} tokens/s "
              f"on {summary['device']})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m distill.cli {train,distill} ...`` (what torchrun launches)."""
    parser = argparse.ArgumentParser(prog="distill.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("train", "distill"):
        add_arguments(sub.add_parser(name, prog=f"distill.cli {name}"))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
