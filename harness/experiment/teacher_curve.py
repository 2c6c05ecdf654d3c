"""Success of a fine-tuned teacher against the fine-tuning tokens it saw: how a preset's demos count, steps
and learning rate are chosen (issue 26), measured instead of guessed.

    python -m harness.experiment.teacher_curve --env webshop --model smollm2-135m --demos 128 \\
        --steps 8,16,32 --episodes 20 --out runs/curve-webshop

1. the honest expert plays ``--demos`` train-split episodes (the demos, tasks 0 … demos-1);
2. one fine-tuning run of ``max(--steps)`` steps (one warm-up, one cosine schedule) stops at each of
   ``--steps`` (``stop_at_step``, then ``--resume``), and the model of that step is exported from its
   checkpoint;
3. each exported model plays ``--episodes`` *held-out* train-split episodes (the tasks after the demos'),
   constrained as the pipeline plays, greedy;
4. ``curve.json`` and a printed table: steps, fine-tuning tokens (non-padding tokens of the windows the
   trainer saw), loss tokens, success rate, mean score, invalid-action rate, wall seconds of training and of
   play. Resumable: a finished point is read back, not played again.
5. with ``--dagger-steps S``: one DAgger round from the last point's model (:func:`run_dagger`): it plays
   ``--dagger-episodes`` further train tasks, the expert labels every state it reached
   (:mod:`harness.experiment.dagger`), and S steps on the demos plus those labels start from it; with
   ``--dagger-control`` the same S steps on the demos alone, from the same model. Both play the held-out
   tasks.
"""
from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.experiment.presets import ENV_MAX_STEPS, PRESETS
from harness.options import finite_float
from harness.run_dir import write_text


def run_curve(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Demos, one fine-tuning run stopped at each of ``args.steps``, held-out play of each stop, then the
    DAgger round and its control when asked (:func:`run_dagger`)."""
    from distill.config import SFTConfig
    from distill.train import export_checkpoint, train
    from harness.evaluate import evaluate

    out = Path(args.out)
    steps = sorted({int(s) for s in args.steps.split(",")})
    if not steps or steps[0] < 1:
        raise UserError(f"--steps {args.steps!r}: expected comma-separated step counts >= 1")
    demos = out / "demos"
    if not (demos / "summary.json").is_file():
        evaluate(args.env, "expert", split="train", episodes=args.demos, workers=args.workers, run=str(demos),
                 env_kwargs={"max_steps": ENV_MAX_STEPS[args.env]}, progress=False)
    train_dir, points = out / "teacher", []
    for stop in steps:
        point_file = out / f"step_{stop}.json"
        if point_file.is_file():
            points.append(json.loads(point_file.read_text()))
            continue
        began = time.perf_counter()
        resume = (train_dir / "checkpoints" / "last.pt").is_file()
        config = SFTConfig(
            data=[str(demos)], out=str(train_dir), model=args.model, role="teacher", max_steps=steps[-1],
            stop_at_step=stop,
            batch_size=args.batch_size, micro_batch_size=args.micro_batch_size, max_length=args.max_length,
            lr=args.lr, warmup_steps=min(args.warmup_steps, steps[-1]), eval_fraction=0.0, eval_every=0,
            save_every=10**6, first_turn_weight=args.first_turn_weight, precision=args.precision,
            resume=resume, progress=False, tensorboard=False, **_lora_kwargs(args),
        )
        train(config)
        train_s = time.perf_counter() - began
        model_dir = export_checkpoint(config, out / f"model_step_{stop}")
        point = {"steps": stop, **_held_out_point(args, model_dir, out / f"play_step_{stop}",
                                                  train_dir / "metrics.csv", stop, train_s)}
        write_text(point_file, json.dumps(point, indent=2) + "\n")
        points.append(point)
    record = {"env": args.env, "model": args.model, "demos": args.demos, "held_out_tasks": [
        args.demos, args.demos + args.episodes - 1], "lr": args.lr, "batch_size": args.batch_size,
        "max_length": args.max_length, "first_turn_weight": args.first_turn_weight,
        **({"lora": _lora_kwargs(args)} if args.lora_rank else {}), "points": points}
    if args.dagger_steps:
        record["dagger"] = run_dagger(args, out / f"model_step_{steps[-1]}", steps[-1])
    write_text(out / "curve.json", json.dumps(record, indent=2) + "\n")
    return points


def _lora_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The fine-tuning's LoRA settings (``--lora-rank`` > 0; none for full fine-tuning)."""
    return {"lora_rank": args.lora_rank, "lora_alpha": args.lora_alpha} if args.lora_rank else {}


def _held_out_point(args: argparse.Namespace, model_dir: Path, play_dir: Path, metrics_csv: Path, upto: int,
                    train_s: float) -> dict[str, Any]:
    """``model_dir`` played on the held-out tasks (after the demos'), constrained and greedy as the
    pipeline plays, with the fine-tuning tokens of the first ``upto`` steps in ``metrics_csv``."""
    from harness.evaluate import evaluate

    began = time.perf_counter()
    summary = evaluate(
        args.env, "lm", split="train", episodes=args.episodes, workers=args.workers, run=str(play_dir),
        task_offset=args.demos, env_kwargs={"max_steps": ENV_MAX_STEPS[args.env]},
        agent_kwargs=_play_kwargs(args, model_dir), in_flight=args.episodes, progress=False,
    )
    with metrics_csv.open() as f:
        rows = [r for r in csv.DictReader(f) if int(r["step"]) <= upto]
    return {
        "tokens": int(sum(float(r["tokens"]) for r in rows)),
        "loss_tokens": int(sum(float(r["loss_tokens"]) for r in rows)),
        "train_loss": float(rows[-1]["loss"]) if rows else None,
        "success_rate": summary["success_rate"], "mean_score": summary["mean_score"],
        "invalid_action_rate": summary["invalid_action_rate"], "episodes": summary["episodes"],
        "train_s": round(train_s, 1), "play_s": round(time.perf_counter() - began, 1),
    }


def _play_kwargs(args: argparse.Namespace, model_dir: Path) -> dict[str, Any]:
    """How the teacher plays: constrained, greedy, the pipeline's token budgets."""
    return {"model": str(model_dir), "constrain_actions": True, "max_new_tokens": args.max_new_tokens,
            "max_prompt_tokens": args.max_length - args.max_new_tokens}


def run_dagger(args: argparse.Namespace, model_dir: Path, after_steps: int) -> list[dict[str, Any]]:
    """One DAgger round from the curve's last model (:mod:`harness.experiment.dagger`): it plays
    ``--dagger-episodes`` train tasks after the held-out ones, the expert labels every state it reached,
    and ``--dagger-steps`` of SFT on the demos plus those labels (loss on the expert's turns only) start
    from it; with ``--dagger-control``, the same steps on the demos alone from the same model, so that a
    gain can be told from more fine-tuning. Each trained model plays the held-out tasks."""
    from distill.config import SFTConfig
    from distill.train import train
    from harness.evaluate import evaluate
    from harness.experiment.dagger import relabel_played, write_aggregate

    out, demos = Path(args.out), Path(args.out) / "demos"
    arms = [("dagger", True)] + ([("control", False)] if args.dagger_control else [])
    points = []
    for arm, relabelled in arms:
        point_file = out / f"{arm}.json"
        if point_file.is_file():
            points.append(json.loads(point_file.read_text()))
            continue
        began = time.perf_counter()
        counts: dict[str, Any] = {}
        data = demos
        if relabelled:
            play_dir = out / "dagger_rollouts"
            if not (play_dir / "summary.json").is_file():
                evaluate(args.env, "lm", split="train", episodes=args.dagger_episodes, workers=args.workers,
                         run=str(play_dir), task_offset=args.demos + args.episodes,
                         env_kwargs={"max_steps": ENV_MAX_STEPS[args.env]},
                         agent_kwargs=_play_kwargs(args, model_dir), in_flight=args.dagger_episodes,
                         progress=False)
            result = relabel_played(play_dir)
            data = out / "dagger_data"
            write_aggregate([demos], result, data)
            counts = {"played_tasks": [args.demos + args.episodes,
                                       args.demos + args.episodes + args.dagger_episodes - 1],
                      "states": result.states, "disagreements": result.disagreements,
                      "diverged_episodes": result.diverged}
        prepare_s = time.perf_counter() - began
        began = time.perf_counter()
        train_dir = out / f"{arm}_teacher"
        config = SFTConfig(
            data=[str(data)], out=str(train_dir), model=str(model_dir), role="teacher",
            max_steps=args.dagger_steps, loss_on="guided" if relabelled else "completion",
            batch_size=args.batch_size, micro_batch_size=args.micro_batch_size, max_length=args.max_length,
            lr=args.dagger_lr, warmup_steps=min(args.warmup_steps, args.dagger_steps), eval_fraction=0.0,
            eval_every=0, save_every=10**6, first_turn_weight=args.first_turn_weight,
            precision=args.precision, overwrite=True, progress=False, tensorboard=False,
        )
        train(config)
        point = {"arm": arm, "after_steps": after_steps, "steps": args.dagger_steps, "lr": args.dagger_lr,
                 **counts, "prepare_s": round(prepare_s, 1),
                 **_held_out_point(args, train_dir, out / f"{arm}_play", train_dir / "metrics.csv",
                                   args.dagger_steps, time.perf_counter() - began)}
        write_text(point_file, json.dumps(point, indent=2) + "\n")
        points.append(point)
    return points


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.experiment.teacher_curve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", required=True, choices=tuple(ENV_MAX_STEPS))
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--demos", type=int, default=128)
    parser.add_argument("--steps", default="8,16,32")
    parser.add_argument("--episodes", type=int, default=20, help="held-out train-split episodes per point")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--micro-batch-size", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=1536)
    parser.add_argument("--max-new-tokens", type=int, default=None,
                        help="tokens a turn may take at play (default: the smol preset's budget on --env)")
    parser.add_argument("--lr", type=finite_float, default=1e-4)
    parser.add_argument("--warmup-steps", type=int, default=2)
    parser.add_argument("--first-turn-weight", type=finite_float, default=1.0)
    parser.add_argument("--lora-rank", type=int, default=0,
                        help="> 0: fine-tune LoRA adapters of this rank (merged into each exported model); "
                             "0: full fine-tuning")
    parser.add_argument("--lora-alpha", type=finite_float, default=16.0,
                        help="LoRA scale numerator (the update is scaled by alpha / rank)")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dagger-steps", type=int, default=0,
                        help="after the last --steps point, one DAgger round of this many SFT steps "
                             "(0: none)")
    parser.add_argument("--dagger-episodes", type=int, default=32,
                        help="train tasks the teacher plays for the DAgger round (after the held-out ones)")
    parser.add_argument("--dagger-lr", type=finite_float, default=1e-4)
    parser.add_argument("--dagger-control", action="store_true",
                        help="also train --dagger-steps on the demos alone from the same model (the control)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.max_new_tokens is None:
        args.max_new_tokens = PRESETS["smol"].for_env(args.env).max_new_tokens
    points = run_curve(args)
    print(f"{'steps':>5} {'tokens':>8} {'loss tok':>8} {'loss':>6} {'success':>7} {'score':>6} "
          f"{'invalid':>7} {'train s':>7} {'play s':>6}")
    for p in points:
        print(f"{p['steps']:>5} {p['tokens']:>8} {p['loss_tokens']:>8} {p['train_loss'] or 0:>6.3f} "
              f"{p['success_rate']:>7.2f} {p['mean_score']:>6.3f} {p['invalid_action_rate']:>7.2f} "
              f"{p['train_s']:>7.0f} {p['play_s']:>6.0f}")
    for p in json.loads((Path(args.out) / "curve.json").read_text()).get("dagger", []):
        print(f"{p['arm']}: +{p['steps']} steps from step {p['after_steps']} ({p.get('states', 0)} "
              f"relabelled states, {p.get('disagreements', 0)} where the teacher differed): "
              f"success {p['success_rate']:.2f}, score {p['mean_score']:.3f}, train {p['train_s']:.0f} s, "
              f"play {p['play_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
