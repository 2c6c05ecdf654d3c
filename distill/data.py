"""Logged episodes -> span-masked training sequences, and length-bucketed batches.

One episode becomes the exact text the LM agent saw and produced at rollout time::

    agents.react.render(task, first_observation, turns, instructions=agents.prompts.instructions(env))

with ``turns[i] = Turn(thought, action, text=completion_i, observation=observation_{i+1})``. Only
completion tokens carry a loss: ``reason_mask`` / ``act_mask`` come from ``distill.spans`` on each
completion; prompt and observation tokens are in neither. When the log holds the generated
``token_ids`` (and the teacher's ``topk_ids`` / ``topk_logprobs``), those ids are spliced in as they
were generated — re-tokenising a completion can give other ids — so the teacher's top-k lines up
token by token; their span masks come from the decoded characters of each spliced token.

An episode longer than ``max_length`` tokens is split into windows of consecutive turns that each
keep the prompt header, and the turn before the window's first one as context without loss (the
observation it ends with is what the first completion answers); later windows carry the ``(... N earlier turns omitted ...)`` line that
``agents.react.build_prompt`` writes when it drops old turns.

Every per-token list of an :class:`Example` is indexed by *token* position; :func:`collate` shifts
them to *logit* positions (what ``distill.losses`` expects).
"""
from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from agents.prompts import instructions as env_instructions
from agents.react import Turn, header, render_turn
from distill.spans import offsets_to_masks, segment, token_masks

#: columns every episodes.parquet must have for training
REQUIRED_COLUMNS = ("run_id", "env", "episode", "step", "task", "observation", "completion")
#: logged top-k log-prob used to pad positions without a teacher signal (masked out of every loss)
PAD_LOGPROB = -30.0


@dataclass
class EpisodeLog:
    """One logged episode, in step order."""

    key: str  # "<run_id>/<episode>"
    env: str
    task: str
    observations: list[str]  # the observation the agent acted on at each step
    completions: list[str]
    token_ids: list[list[int]] | None = None
    topk_ids: list[list[list[int]]] | None = None
    topk_logprobs: list[list[list[float]]] | None = None

    def turns(self) -> list[Turn]:
        """The agent's turns, each followed by the next step's observation (the last by none)."""
        nexts: list[str | None] = [*self.observations[1:], None]
        return [Turn(thought="", action="", text=c, observation=o) for c, o in zip(self.completions, nexts)]


@dataclass
class Example:
    """One training sequence (an episode or a window of one); per-token lists share one length."""

    key: str
    input_ids: list[int]
    reason_mask: list[bool]
    act_mask: list[bool]
    completion_mask: list[bool]
    topk_ids: list[list[int]] | None = None  # teacher top-k that *predicted* each token ([] where none)
    topk_logprobs: list[list[float]] | None = None
    stats: dict[str, float] = field(default_factory=dict)  # reason/act token counts, teacher entropy

    def __len__(self) -> int:
        return len(self.input_ids)


def find_parquet(path: str | Path) -> Path:
    """``runs/<id>`` or a parquet file -> the episodes.parquet path (clear error when missing)."""
    path = Path(path)
    candidate = path / "episodes.parquet" if path.is_dir() else path
    if not candidate.is_file():
        raise FileNotFoundError(f"{candidate}: no episode log here; expected runs/<run_id>/episodes.parquet")
    return candidate


def load_episodes(paths: Sequence[str | Path]) -> list[EpisodeLog]:
    """Read every episode from the given run directories / parquet files, validating the schema."""
    episodes: list[EpisodeLog] = []
    for path in paths:
        file = find_parquet(path)
        frame = pd.read_parquet(file)
        missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"{file}: missing column(s) {missing}; an episode log needs {list(REQUIRED_COLUMNS)}")
        for (run_id, episode), rows in frame.groupby(["run_id", "episode"], sort=True):
            episodes.append(_episode_from_rows(file, f"{run_id}/{episode}", rows.sort_values("step")))
    if not episodes:
        raise ValueError(f"{[str(p) for p in paths]}: the episode logs hold no rows")
    return episodes


def _episode_from_rows(file: Path, key: str, rows: pd.DataFrame) -> EpisodeLog:
    steps = rows["step"].tolist()
    if steps != list(range(len(steps))):
        raise ValueError(f"{file}: episode {key} has steps {steps}; expected 0..{len(steps) - 1}, one row each")
    for column in ("task", "observation", "completion"):
        bad = [s for s, v in zip(steps, rows[column]) if not isinstance(v, str)]
        if bad:
            raise ValueError(f"{file}: episode {key} column {column!r} is not text at step(s) {bad}")
    envs = set(rows["env"])
    if len(envs) != 1:
        raise ValueError(f"{file}: episode {key} mixes envs {sorted(envs)}")
    ep = EpisodeLog(
        key=key,
        env=str(rows["env"].iloc[0]),
        task=str(rows["task"].iloc[0]),
        observations=rows["observation"].tolist(),
        completions=rows["completion"].tolist(),
    )
    if "token_ids" in rows and rows["token_ids"].notna().all():
        ep.token_ids = [[int(t) for t in ids] for ids in rows["token_ids"]]
        if {"topk_ids", "topk_logprobs"} <= set(rows.columns) and rows["topk_ids"].notna().all():
            ep.topk_ids = [[[int(i) for i in k] for k in step] for step in rows["topk_ids"]]
            ep.topk_logprobs = [[[float(x) for x in k] for k in step] for step in rows["topk_logprobs"]]
            for s, ids, top, lps in zip(steps, ep.token_ids, ep.topk_ids, ep.topk_logprobs):
                if len(top) != len(ids) or len(lps) != len(ids) or any(len(a) != len(b) for a, b in zip(top, lps)):
                    raise ValueError(
                        f"{file}: episode {key} step {s}: topk_ids/topk_logprobs must hold one k-list per "
                        f"generated token ({len(ids)} token_ids); got {len(top)} / {len(lps)}"
                    )
    return ep


def has_topk(episodes: Sequence[EpisodeLog]) -> bool:
    """True when every episode logged the teacher's top-k."""
    return all(ep.topk_ids is not None for ep in episodes)


# --------------------------------------------------------------------------- encoding


@dataclass
class _Piece:
    """A run of tokens within an episode: the header, a completion, or an observation block."""

    ids: list[int]
    reason: list[bool]
    act: list[bool]
    completion: bool
    topk_ids: list[list[int]] | None = None
    topk_logprobs: list[list[float]] | None = None


def _plain(tokenizer: Any, text: str) -> _Piece:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return _Piece(ids, [False] * len(ids), [False] * len(ids), completion=False)


def _normalise(text: str) -> str:
    return " ".join(text.split())


def spliced_offsets(tokenizer: Any, ids: Sequence[int]) -> tuple[str, list[tuple[int, int]]]:
    """The decoded text of ``ids`` and each token's (start, end) character range in it."""
    text = tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
    offsets, previous = [], 0
    for i in range(1, len(ids) + 1):
        prefix = tokenizer.decode(ids[:i], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        end = min(max(previous, len(prefix)), len(text))  # a split UTF-8 character decodes late
        offsets.append((previous, end))
        previous = end
    return text, offsets


def _completion(tokenizer: Any, ep: EpisodeLog, step: int, text: str) -> _Piece:
    """The tokens of one completion with their span masks (spliced from the log when it has them)."""
    if ep.token_ids is None:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        reason, act = token_masks(text, tokenizer)
        return _Piece(ids, reason, act, completion=True)
    ids = ep.token_ids[step]
    vocab = len(tokenizer)
    if any(not 0 <= t < vocab for t in ids):
        raise ValueError(
            f"episode {ep.key} step {step}: logged token_ids include {max(ids)} outside the tokenizer's "
            f"{vocab} ids; the student must share the teacher's vocabulary"
        )
    decoded, offsets = spliced_offsets(tokenizer, ids)
    plain = _normalise(tokenizer.decode(ids, skip_special_tokens=True))
    logged = _normalise(text)
    if not (plain.startswith(logged) or logged.startswith(plain)):
        raise ValueError(
            f"episode {ep.key} step {step}: logged token_ids decode to {plain[:80]!r} but the completion is "
            f"{logged[:80]!r}; the tokenizer differs from the one that generated these episodes"
        )
    reason, act = offsets_to_masks(offsets, len(decoded), segment(decoded))
    piece = _Piece(list(ids), reason, act, completion=True)
    if ep.topk_ids is not None and ep.topk_logprobs is not None:
        piece.topk_ids, piece.topk_logprobs = ep.topk_ids[step], ep.topk_logprobs[step]
    return piece


def _context_only(piece: _Piece) -> _Piece:
    """The same tokens with no loss on them (a turn shown only as context)."""
    none = [False] * len(piece.ids)
    return _Piece(piece.ids, none, list(none), False)


def omitted_note(dropped: int) -> str:
    """The line ``agents.react.build_prompt`` writes in place of ``dropped`` old turns."""
    return f"(... {dropped} earlier turns omitted ...)\n"


def encode_episode(ep: EpisodeLog, tokenizer: Any, max_length: int, instructions: str | None = None) -> list[Example]:
    """The training sequence(s) of one episode: one, or windows of turns when it exceeds ``max_length``."""
    instructions = env_instructions(ep.env) if instructions is None else instructions
    bos = _bos(tokenizer)
    head = _plain(tokenizer, header(ep.task, ep.observations[0], instructions))
    head = _Piece(bos + head.ids, [False] * (len(bos) + len(head.ids)), [False] * (len(bos) + len(head.ids)), False)
    turns: list[list[_Piece]] = []
    for step, turn in enumerate(ep.turns()):
        completion, observation = render_turn(turn)
        turns.append([_completion(tokenizer, ep, step, completion), _plain(tokenizer, observation or "\n")])

    windows: list[list[_Piece]] = []
    current: list[_Piece] = [head]
    used, first = len(head.ids), 0
    for index, pieces in enumerate(turns):
        size = sum(len(p.ids) for p in pieces)
        if used + size > max_length and index > first:
            windows.append(current)
            # the new window shows the turn before as context (no loss), as the agent's prompt does:
            # the observation that turn ``index`` answers is part of it
            context = [_context_only(piece) for piece in turns[index - 1]]
            note = _plain(tokenizer, omitted_note(index - 1))
            current = [head, note, *context]
            if sum(len(p.ids) for p in current) + size > max_length:
                note = _plain(tokenizer, omitted_note(index))
                current = [head, note]
            used, first = sum(len(p.ids) for p in current), index
        if used >= max_length - 8:
            raise ValueError(
                f"episode {ep.key}: its prompt alone is {used} tokens; raise max_length above {max_length}"
            )
        current.extend(pieces)
        used += size
    windows.append(current)
    return [_join(f"{ep.key}#{w}", pieces, max_length) for w, pieces in enumerate(windows)]


def _bos(tokenizer: Any) -> list[int]:
    """[bos] when the tokenizer adds one by default, else []."""
    bos = tokenizer.bos_token_id
    return [bos] if bos is not None and tokenizer("a")["input_ids"][:1] == [bos] else []


def _join(key: str, pieces: list[_Piece], max_length: int) -> Example:
    ids: list[int] = []
    reason: list[bool] = []
    act: list[bool] = []
    completion: list[bool] = []
    topk_ids: list[list[int]] = []
    topk_lps: list[list[float]] = []
    any_topk = False
    for p in pieces:
        ids += p.ids
        reason += p.reason
        act += p.act
        completion += [p.completion] * len(p.ids)
        if p.topk_ids is not None and p.topk_logprobs is not None:
            topk_ids += p.topk_ids
            topk_lps += p.topk_logprobs
            any_topk = True
        else:
            topk_ids += [[] for _ in p.ids]
            topk_lps += [[] for _ in p.ids]
    cut = slice(0, max_length)  # a single over-long turn is cut at the end
    example = Example(
        key, ids[cut], reason[cut], act[cut], completion[cut],
        topk_ids[cut] if any_topk else None, topk_lps[cut] if any_topk else None,
    )
    example.stats = {
        "reason_tokens": float(sum(example.reason_mask)),
        "act_tokens": float(sum(example.act_mask)),
        "teacher_entropy": _mean_topk_entropy(example),
    }
    return example


def _mean_topk_entropy(example: Example) -> float:
    """Mean entropy of the teacher's top-k (+ tail bucket) over completion tokens; 0 without top-k."""
    if example.topk_logprobs is None:
        return 0.0
    values = []
    for lps, is_completion in zip(example.topk_logprobs, example.completion_mask):
        if is_completion and lps:
            p = np.exp(np.asarray(lps, dtype=np.float64))
            tail = max(0.0, 1.0 - float(p.sum()))
            probs = np.append(p, tail)
            probs = probs[probs > 0]
            values.append(float(-(probs * np.log(probs)).sum()))
    return float(np.mean(values)) if values else 0.0


def encode_episodes(episodes: Sequence[EpisodeLog], tokenizer: Any, max_length: int) -> list[Example]:
    """Every episode's sequence(s), in episode order."""
    return [ex for ep in episodes for ex in encode_episode(ep, tokenizer, max_length)]


def split_heldout(episodes: Sequence[EpisodeLog], fraction: float, seed: int) -> tuple[list[EpisodeLog], list[EpisodeLog]]:
    """(train, held-out) by episode, deterministic in ``seed``; at least one of each when possible."""
    if fraction <= 0 or len(episodes) < 2:
        return list(episodes), []
    ranked = sorted(episodes, key=lambda ep: zlib.crc32(f"{seed}:{ep.key}".encode()))
    n_eval = min(len(episodes) - 1, max(1, round(fraction * len(episodes))))
    return ranked[n_eval:], ranked[:n_eval]


# --------------------------------------------------------------------------- batching


def collate(examples: Sequence[Example], pad_id: int, topk: bool = False) -> dict[str, torch.Tensor]:
    """Right-pad a micro-batch and shift per-token lists to logit positions.

    Returns ``input_ids``, ``attention_mask`` (B, T); ``labels``, ``reason_mask``, ``act_mask``,
    ``completion_mask`` (B, T) where position t describes token t + 1 (the last position is padding);
    and with ``topk``, the logged teacher ``topk_ids`` / ``topk_logprobs`` (B, T, k) — completion
    tokens without a logged top-k then leave every mask.
    """
    length = max(len(e) for e in examples)
    batch = len(examples)
    input_ids = torch.full((batch, length), pad_id, dtype=torch.long)  # (B, T)
    attention = torch.zeros((batch, length), dtype=torch.long)  # (B, T)
    labels = torch.full((batch, length), -100, dtype=torch.long)  # (B, T)
    masks = {name: torch.zeros((batch, length), dtype=torch.bool) for name in ("reason_mask", "act_mask", "completion_mask")}
    lacking = [e.key for e in examples if e.topk_ids is None]
    if topk and lacking:
        raise ValueError(f"episode(s) {lacking[:3]} have no logged topk_ids/topk_logprobs; use the teacher's logits")
    with_topk = topk
    k = max((len(t) for e in examples if e.topk_ids for t in e.topk_ids), default=0) if with_topk else 0
    if with_topk:
        topk_ids = torch.zeros((batch, length, max(k, 1)), dtype=torch.long)  # (B, T, k)
        topk_lps = torch.full((batch, length, max(k, 1)), PAD_LOGPROB, dtype=torch.float32)  # (B, T, k)
    for b, e in enumerate(examples):
        n = len(e)
        input_ids[b, :n] = torch.tensor(e.input_ids)
        attention[b, :n] = 1
        labels[b, : n - 1] = torch.tensor(e.input_ids[1:])
        for name, mask in masks.items():
            mask[b, : n - 1] = torch.tensor(getattr(e, name)[1:], dtype=torch.bool)
        if with_topk:
            for t in range(1, n):
                ids, lps = e.topk_ids[t], e.topk_logprobs[t]  # type: ignore[index]
                if ids:
                    topk_ids[b, t - 1, : len(ids)] = torch.tensor(ids)
                    topk_lps[b, t - 1, : len(lps)] = torch.tensor(lps)
                elif masks["completion_mask"][b, t - 1]:
                    masks["completion_mask"][b, t - 1] = False  # no teacher signal for this token
                    masks["reason_mask"][b, t - 1] = masks["act_mask"][b, t - 1] = False
    out = {"input_ids": input_ids, "attention_mask": attention, "labels": labels, **masks}
    if with_topk:
        out["topk_ids"], out["topk_logprobs"] = topk_ids, topk_lps
    return out


class BatchPlan:
    """Which examples make up the global batch of each optimizer step — a pure function of
    (seed, step), so a resumed run sees exactly the batches the uninterrupted run would have.

    Without a curriculum: epochs of a seeded permutation, cut into length buckets (examples of
    similar length batch together, so padding stays small). With one: each step draws its batch
    from the easiest ``pacing(step)`` fraction of examples (see ``distill.curriculum``).
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        seed: int,
        order: Sequence[int] | None = None,
        pacing: Any = None,
    ) -> None:
        if not lengths:
            raise ValueError("no training examples: the episode logs gave no sequences")
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.order = None if order is None else np.asarray(order)  # easiest first
        self.pacing = pacing
        self.batches_per_epoch = max(1, math.ceil(len(lengths) / batch_size))
        self._epoch_cache: dict[int, list[np.ndarray]] = {}

    def _epoch(self, epoch: int) -> list[np.ndarray]:
        if epoch not in self._epoch_cache:
            rng = np.random.default_rng([self.seed, epoch])
            perm = rng.permutation(len(self.lengths))
            need = self.batches_per_epoch * self.batch_size - len(perm)
            perm = np.concatenate([perm, rng.choice(len(self.lengths), need)]) if need > 0 else perm
            bucket = self.batch_size * 16
            chunks = [perm[i:i + bucket] for i in range(0, len(perm), bucket)]
            batches = []
            for chunk in chunks:
                chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
                batches += [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
            self._epoch_cache = {epoch: [batches[i] for i in rng.permutation(len(batches))]}
        return self._epoch_cache[epoch]

    def global_batch(self, step: int) -> list[int]:
        """Indices of the examples of optimizer step ``step`` (0-based), sorted by length."""
        if self.order is not None and self.pacing is not None:
            available = max(1, math.ceil(self.pacing(step) * len(self.order)))
            pool = self.order[:available]
            rng = np.random.default_rng([self.seed, step, 1])
            chosen = rng.choice(pool, self.batch_size, replace=len(pool) < self.batch_size)
        else:
            epoch, index = divmod(step, self.batches_per_epoch)
            chosen = self._epoch(epoch)[index]
        return [int(i) for i in chosen[np.argsort(self.lengths[chosen], kind="stable")]]


def micro_batches(indices: Sequence[int], micro_batch_size: int, rank: int, world_size: int) -> list[list[int]]:
    """This process's micro-batches of a global batch: consecutive (length-sorted) slices, dealt
    to processes in contiguous blocks so every process gets ``len / (micro * world)`` of them."""
    slices = [list(indices[i:i + micro_batch_size]) for i in range(0, len(indices), micro_batch_size)]
    per_rank = len(slices) // world_size
    return slices[rank * per_rank:(rank + 1) * per_rank]
