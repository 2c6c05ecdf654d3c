"""Bench figure 9, decoding: what the ``lm`` agent's decoding path is worth against Hugging Face ``generate``
on the same model, precision, prompts and batch (see ``harness.bench.cli``). Two rows:

- **replayed turns/s** (floor 3×): recorded WebShop expert episodes replayed turn by turn. At each turn
  the model is asked for the turn, but the history follows the recording: the prompt of turn t is the
  episode's first observation, its recorded completions and observations up to t, as the agent builds
  it (:meth:`LMAgent.add_turn` for each recorded completion). Ours: ``LMAgent.generate(prompts, slots=...)``,
  which keeps each slot's keys and values across turns, so a turn reads only the last recorded completion
  and the new observation. Baseline: the same prompt ids, left-padded, through ``model.generate`` (greedy)
  every turn, so it reads the whole prompt again. Equal lengths: each row of the baseline decodes exactly
  as many tokens as the agent generated for that row at that turn (a per-row stopping criterion; EOS
  suppressed until then), so both sides decode the same tokens per turn and the ratio measures the cache
  and the decoding loop, not output length; ``details`` holds both counts.
- **ms per decoding step at B = 16** (floor 1.0: not slower): 16 prompts of random ids of the same length,
  the same model architecture with random weights (no row stops early: every row decodes ``N`` tokens on
  both sides). A side's step time is ``(T(N new tokens) - T(1 new token)) / (N - 1)``: the prefill, timed
  alone, taken out. Ours: ``LMAgent.generate``; baseline: ``model.generate`` (dynamic cache).

Both sides use the agent's model object in the agent's precision (:mod:`agents.precision`: bf16 where the
CPU has AMX / AVX512-BF16, and on CUDA), under the same autocast. CPU: SmolLM2-135M (pretrained for the
replay, random weights for the step time); ``--quick``: the ``tiny`` preset, a few episodes and tokens.
"""
from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from harness.bench.core import BenchContext, Result, measure, paired_result

FIGURE, NAME = 9, "decoding"
MODEL = "smollm2-135m"
ENV = "webshop"
#: batch of the decoding-step row, as the issue fixes it
STEP_BATCH = 16


def sync(device: str) -> None:
    """Wait for the device (CUDA); nothing on the CPU."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def make_agent(model: str | Path, *, max_new_tokens: int, batch: int, device: str) -> Any:
    """An ``lm`` agent for WebShop on ``model`` (a directory or a preset), loaded."""
    import agents

    agent = agents.make("lm", model=str(model), env=ENV, max_new_tokens=max_new_tokens, batch_size=batch,
                        device=device)
    agent.load()
    return agent


def recorded_prompts(agent: Any, episodes: Sequence[Any]) -> list[list[list[int]]]:
    """Per episode, the prompt ids of each turn as the agent builds them when the history is the recording
    (``episodes``: :class:`distill.data.EpisodeLog`)."""
    slot = -1  # a slot no replay uses; forgotten at the end
    out = []
    for ep in episodes:
        agent.reset({"task": ep.task}, slot=slot)
        agent.episodes[slot].observe(ep.observations[0])
        prompts = []
        for t, completion in enumerate(ep.completions):
            prompts.append(agent.prompt_ids(slot))
            agent.add_turn(slot, completion)
            if t + 1 < len(ep.observations):
                agent.episodes[slot].observe(ep.observations[t + 1])
        agent.episodes.pop(slot)
        out.append(prompts)
    return out


class _RowLengths:
    """A per-row stopping criterion: row i is done once it has ``targets[i]`` new tokens; ``decoded`` holds
    how many each row had when generation marked it done."""

    def __init__(self, prompt_width: int, targets: list[int], device: str) -> None:
        self.prompt_width = prompt_width
        self.targets = torch.tensor(targets, device=device)  # [B]
        self.decoded = torch.zeros_like(self.targets)  # [B]; 0 until the row is done

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        new = torch.full_like(self.targets, input_ids.shape[1] - self.prompt_width)  # [B]
        done = new >= self.targets  # [B]
        self.decoded = torch.where(done & (self.decoded == 0), new, self.decoded)
        return done


def left_padded(prompts: Sequence[list[int]], pad: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids [B, T], attention mask [B, T]) of ``prompts`` padded on the left to the longest."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad, dtype=torch.long)  # [B, T]
    mask = torch.zeros((len(prompts), width), dtype=torch.long)  # [B, T]
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt):] = torch.tensor(prompt, dtype=torch.long)
        mask[row, width - len(prompt):] = 1
    return ids.to(device), mask.to(device)


class TurnReplay:
    """Recorded episodes replayed in groups of ``batch`` episodes, turn by turn, by the agent (KV kept per
    slot) and by ``model.generate`` (whole prompt every turn), decoding the same tokens per row."""

    def __init__(self, agent: Any, episodes: Sequence[Any], batch: int) -> None:
        self.agent, self.device = agent, agent.device
        prompts = recorded_prompts(agent, episodes)
        self.groups = [prompts[i:i + batch] for i in range(0, len(prompts), batch)]
        self.turns = sum(len(p) for p in prompts)
        #: (group, turn) -> new tokens per live row, fixed by the agent's first replay
        self.lengths: dict[tuple[int, int], list[int]] = {}
        self.tokens = {"ours": 0, "baseline": 0}  # tokens decoded by each side's latest replay
        self._slots = itertools.count()
        tok = agent.tokenizer
        self.pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
        self.prompt_tokens = [len(p) for ep in prompts for p in ep]

    def _live(self, group: list[list[list[int]]], turn: int) -> list[int]:
        return [e for e, turns in enumerate(group) if len(turns) > turn]

    def ours(self) -> float:
        """Replay every group through ``LMAgent.generate`` with one fresh slot per episode; turns/s."""
        agent, tokens = self.agent, 0
        sync(self.device)
        started = time.perf_counter()
        for g, group in enumerate(self.groups):
            slots = [next(self._slots) for _ in group]
            for slot in slots:
                agent.reset({}, slot=slot)
            for turn in range(max(len(turns) for turns in group)):
                live = self._live(group, turn)
                out = agent.generate([group[e][turn] for e in live], slots=[slots[e] for e in live])
                counts = [len(o.token_ids) for o in out]
                self.lengths.setdefault((g, turn), counts)
                tokens += sum(counts)
                for e in live:
                    if len(group[e]) == turn + 1:
                        agent.episodes.pop(slots[e])  # its slot's cache goes with it
        sync(self.device)
        self.tokens["ours"] = tokens
        return self.turns / (time.perf_counter() - started)

    @torch.no_grad()
    def baseline(self) -> float:
        """Replay every group through ``model.generate``, each row decoding the agent's token count for it;
        turns/s."""
        from transformers import StoppingCriteriaList

        from agents.precision import autocast

        if not self.lengths:
            raise RuntimeError("TurnReplay.baseline needs the agent's token counts: run ours() first")
        model, tokens = self.agent.model, 0
        sync(self.device)
        started = time.perf_counter()
        with autocast(self.agent.precision, self.device):
            for g, group in enumerate(self.groups):
                for turn in range(max(len(turns) for turns in group)):
                    targets = self.lengths[(g, turn)]
                    ids, mask = left_padded([group[e][turn] for e in self._live(group, turn)], self.pad,
                                            self.device)
                    longest = max(1, max(targets))
                    stop = _RowLengths(ids.shape[1], [max(1, n) for n in targets], self.device)
                    model.generate(ids, attention_mask=mask, max_new_tokens=longest, min_new_tokens=longest,
                                   do_sample=False, pad_token_id=self.pad,
                                   stopping_criteria=StoppingCriteriaList([stop]))
                    tokens += int(stop.decoded.sum())
        sync(self.device)
        self.tokens["baseline"] = tokens
        return self.turns / (time.perf_counter() - started)


class StepTimer:
    """Milliseconds per decoding step of the agent and of ``model.generate`` on the same random prompts:
    ``(T(N) - T(1)) / (N - 1)``, every row decoding ``N`` tokens."""

    def __init__(self, model_dir: Path, *, batch: int, prompt_tokens: int, new_tokens: int, device: str):
        if new_tokens < 2:
            raise ValueError(f"StepTimer needs new_tokens >= 2, got {new_tokens}")
        self.n, self.device = new_tokens, device
        self.agent = make_agent(model_dir, max_new_tokens=new_tokens, batch=batch, device=device)
        self.prefill = make_agent(model_dir, max_new_tokens=1, batch=batch, device=device)
        vocab = self.agent.model.config.vocab_size
        generator = torch.Generator().manual_seed(0)
        self.ids = torch.randint(0, vocab, (batch, prompt_tokens), generator=generator)  # [B, T]
        self.prompts = [row.tolist() for row in self.ids]
        self.tokens = {"ours": 0, "baseline": 0}  # tokens decoded by each side's latest T(N)

    def _per_step_ms(self, full: float, prefill: float, side: str) -> float:
        if full <= prefill:
            raise RuntimeError(f"{side}: {self.n} new tokens took {full:.4f} s, no longer than 1 "
                               f"({prefill:.4f} s); raise the new tokens")
        return 1000 * (full - prefill) / (self.n - 1)

    def _timed(self, call: Any) -> float:
        sync(self.device)
        t0 = time.perf_counter()
        call()
        sync(self.device)
        return time.perf_counter() - t0

    def ours(self) -> float:
        """The agent's ms per decoding step."""
        out: list[Any] = []
        full = self._timed(lambda: out.extend(self.agent.generate(self.prompts)))
        counts = [len(o.token_ids) for o in out]
        if min(counts) != self.n:
            raise RuntimeError(f"a row stopped early ({min(counts)} of {self.n} new tokens); the step time "
                               "needs every row to decode them all")
        self.tokens["ours"] = sum(counts)
        return self._per_step_ms(full, self._timed(lambda: self.prefill.generate(self.prompts)), "ours")

    @torch.no_grad()
    def baseline(self) -> float:
        """``model.generate``'s ms per decoding step."""
        from agents.precision import autocast

        ids = self.ids.to(self.device)
        mask = torch.ones_like(ids)

        def generate(n: int) -> torch.Tensor:
            with autocast(self.agent.precision, self.device):
                return self.agent.model.generate(ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n,
                                                 do_sample=False, pad_token_id=0)

        out: list[torch.Tensor] = []
        full = self._timed(lambda: out.append(generate(self.n)))
        self.tokens["baseline"] = int(out[0].shape[0] * (out[0].shape[1] - ids.shape[1]))
        return self._per_step_ms(full, self._timed(lambda: generate(1)), "baseline")


def decoding_rows(ctx: BenchContext, episodes_dir: Path, replay_model: Path | str, step_model: Path, *,
                  episodes: int, batch: int, max_new_tokens: int, step_prompt_tokens: int,
                  step_new_tokens: int, label: str) -> list[Result]:
    """Both rows of figure 9 on recorded episodes in ``episodes_dir`` (a run dir), ``replay_model`` for the
    replay and ``step_model`` (random weights) for the step time."""
    from distill.data import load_episodes

    recorded = load_episodes([episodes_dir])[:episodes]
    if not recorded:
        raise ValueError(f"{episodes_dir}: no recorded episode to replay")
    agent = make_agent(replay_model, max_new_tokens=max_new_tokens, batch=batch, device=ctx.device)
    replay = TurnReplay(agent, recorded, batch)
    replay.ours()  # fixes the per-row token counts both sides decode
    measured = measure({"ours": replay.ours, "baseline": replay.baseline}, [("ours", "baseline")], ctx.budget,
                       ctx.threads)
    prompt_tokens = replay.prompt_tokens
    rows = [paired_result(
        FIGURE, f"replayed WebShop turns, {label}, B={batch}", "turns/s", measured, "ours", "baseline",
        baseline_label="model.generate re-reading the whole prompt every turn, same tokens per row",
        floor=3.0,
        details={"episodes": len(recorded), "turns": replay.turns, "batch": batch,
                 "max_new_tokens": max_new_tokens, "precision": agent.precision,
                 "mean_prompt_tokens": round(sum(prompt_tokens) / len(prompt_tokens), 1),
                 "decoded_tokens": dict(replay.tokens), "seconds": round(measured.seconds, 1)},
        note="ours: LMAgent.generate with per-slot KV across turns; each baseline row decodes the agent's "
             "token count for it",
    )]
    del agent, replay
    timer = StepTimer(step_model, batch=STEP_BATCH, prompt_tokens=step_prompt_tokens,
                      new_tokens=step_new_tokens, device=ctx.device)
    timer.ours()  # loads both agents' kernels before the warm-up round
    measured = measure({"ours": timer.ours, "baseline": timer.baseline}, [("ours", "baseline")], ctx.budget,
                       ctx.threads)
    rows.append(paired_result(
        FIGURE, f"decoding step, {label} arch (random weights), B={STEP_BATCH}", "ms/step", measured, "ours",
        "baseline", baseline_label="model.generate, dynamic cache, same prompts and batch", floor=1.0,
        higher_is_better=False,
        details={"batch": STEP_BATCH, "prompt_tokens": step_prompt_tokens, "new_tokens": step_new_tokens,
                 "precision": timer.agent.precision, "decoded_tokens": dict(timer.tokens),
                 "seconds": round(measured.seconds, 1)},
        note="(T(N) - T(1)) / (N - 1): the prefill timed alone and taken out; ratio = baseline / ours",
    ))
    return rows


def decoding(ctx: BenchContext) -> list[Result]:
    """Figure 9: replayed turns/s against re-prefilling with ``generate`` (floor 3×) and ms per decoding step
    at B = 16 against ``generate`` (floor 1.0)."""
    from harness.bench.policy import smollm2_random_dir
    from harness.bench.training import expert_episodes

    work = ctx.work_dir / NAME
    run_dir = expert_episodes(work / "episodes", ctx.pick(16, 2))
    if ctx.quick:
        model = tiny_model(work, run_dir)
        return decoding_rows(ctx, run_dir, model, model, episodes=2, batch=2, max_new_tokens=8,
                             step_prompt_tokens=16, step_new_tokens=24, label="tiny")
    # one batch of 8 replayed episodes: a full-size repeat of the re-prefilling baseline takes minutes on 2
    # CPU cores (16 episodes did not finish the row's 5 paired repeats in 21 minutes)
    return decoding_rows(ctx, run_dir, MODEL, smollm2_random_dir(work), episodes=8, batch=8,
                         max_new_tokens=48, step_prompt_tokens=512, step_new_tokens=32, label=MODEL)


def tiny_model(folder: Path, run_dir: Path) -> Path:
    """The ``tiny`` preset (random weights, BPE trained on the recorded episodes' text)."""
    from distill.data import load_episodes
    from distill.models import build_tiny
    from distill.train import episode_texts

    return build_tiny(list(episode_texts(load_episodes([run_dir]))), folder / "tiny", preset="tiny")
