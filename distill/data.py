"""Logged episodes -> span-masked training sequences, and length-bucketed batches.

One episode becomes the exact text the LM agent saw and produced at rollout time::

    agents.react.render(task, first_observation, turns, instructions=agents.prompts.instructions(env))

with ``turns[i] = Turn(thought, action, text=completion_i, observation=observation_{i+1})``. Only
completion tokens carry a loss: ``reason_mask`` / ``act_mask`` come from ``distill.spans`` on each
completion; prompt and observation tokens are in neither. When the log holds the generated
``token_ids`` (and the teacher's ``topk_ids`` / ``topk_logprobs``), those ids are spliced in as they
were generated — re-tokenising a completion can give other ids — so the teacher's top-k lines up
token by token; their span masks come from the decoded characters of each spliced token.

Every completion token is in exactly one span (``distill.spans.partition_completion``: the newline
ending a Thought is reason, the newline ending the action line is act), so SAD and token-KD train
the same tokens. That newline is the completion's last token (``agents.react.render_turn``; the LM agent
stops after generating it), so a student learns to end its action; a logged turn whose ids do not end
with one (stopped by EOS or its token budget) is followed by a newline as context, no loss on it
(``agents.prompt_ids.line_end_ids``, as the agent's next prompt has it).

Context. Each completion is trained under exactly the prompt it was produced in. The LM agent logs,
per step, ``n_dropped_turns`` and ``prompt_tokens``; with ``logged_context=True`` those rebuild the
prompt (header, the ``(... N earlier turns omitted ...)`` note, the kept turns; the last
``prompt_tokens`` ids when even that was over the agent's budget) by the one rule of
:mod:`agents.context`, so logged top-k line up with the context they were computed in. Episodes
without a logged context (expert demos), or ``logged_context=False``, get the context that same
rule gives with the training budget (``max_length`` minus the completion's length). Consecutive
steps that share a context prefix share one training sequence (a *window*); earlier turns in it
carry no loss. Once old turns are being dropped, nearly every step is its own window: exactness
costs roughly one ``max_length`` sequence per late step.

On-policy logs. A turn a guide played instead of the student (the log's optional ``guided`` column;
absent or null: False) marks its completion tokens in ``guided_mask``, and every completion token
records the episode step it belongs to (``step_index``), so a depth curriculum can keep only the first k
turns in the loss. A step without ``token_ids`` (an expert's turn in an otherwise logged episode) is
tokenised from its text.

Every per-token list of an :class:`Example` is indexed by *token* position; :func:`collate` shifts
them to *logit* positions (what ``distill.losses`` expects).
"""
from __future__ import annotations

import math
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from agents.context import bos_ids, context_ids, omitted_note, turns_to_drop
from agents.prompt_ids import line_end_ids
from agents.prompts import instructions as env_instructions
from agents.react import Turn, header, render_turn
from distill.spans import completion_masks_from_ids, completion_token_masks

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
    token_ids: list[list[int] | None] | None = None  # per step; None where a step was not logged with ids
    topk_ids: list[list[list[int]]] | None = None
    topk_logprobs: list[list[list[float]]] | None = None
    n_dropped_turns: list[int] | None = None  # per step: earlier turns the agent's prompt left out
    prompt_tokens: list[int] | None = None  # per step: length of the prompt the agent was fed
    guided: list[bool] | None = None  # per step: True when a guide played the turn instead of the agent

    @property
    def has_context(self) -> bool:
        """True when the log records the context of every step (an LM agent's episode)."""
        return self.n_dropped_turns is not None and self.prompt_tokens is not None

    def turns(self) -> list[Turn]:
        """The agent's turns, each followed by the next step's observation (the last by none)."""
        nexts: list[str | None] = [*self.observations[1:], None]
        return [
            Turn(thought="", action="", text=c, observation=o)
            for c, o in zip(self.completions, nexts, strict=True)
        ]


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
    guided_mask: list[bool] = field(default_factory=list)  # completion tokens of guided turns ([]: none)
    step_index: list[int] = field(default_factory=list)  # episode step of each completion token, else -1
    stats: dict[str, float] = field(default_factory=dict)  # reason/act token counts, teacher entropy
    #: the top-k as arrays (:meth:`packed_topk`), built on first use and kept
    _packed: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.input_ids)

    def packed_topk(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The logged top-k as arrays, packed once: ids [T, k] int64 (0 where none), log-probs [T, k] float32
        (``PAD_LOGPROB`` where none) and which tokens have a top-k [T] bool; k is the longest list."""
        if self._packed is None:
            if self.topk_ids is None or self.topk_logprobs is None:
                raise ValueError(f"{self.key}: no logged top-k to pack")
            k = max((len(t) for t in self.topk_ids), default=0)
            ids = np.zeros((len(self), max(k, 1)), dtype=np.int64)  # [T, k]
            lps = np.full((len(self), max(k, 1)), PAD_LOGPROB, dtype=np.float32)  # [T, k]
            has = np.zeros(len(self), dtype=bool)  # [T]
            for t, (row_ids, row_lps) in enumerate(zip(self.topk_ids, self.topk_logprobs, strict=True)):
                if row_ids:
                    ids[t, : len(row_ids)] = row_ids
                    lps[t, : len(row_lps)] = row_lps
                    has[t] = True
            self._packed = (ids, lps, has)
        return self._packed


def find_parquet(path: str | Path) -> Path:
    """``runs/<id>`` or a parquet file -> the episodes.parquet path (clear error when missing)."""
    path = Path(path)
    candidate = path / "episodes.parquet" if path.is_dir() else path
    if not candidate.is_file():
        raise FileNotFoundError(f"{candidate}: no episode log here; expected runs/<run_id>/episodes.parquet")
    return candidate


def _is_text(dtype: pa.DataType) -> bool:
    return pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_null(dtype)


def _lists_of(depth: int, leaf: Callable[[pa.DataType], bool]) -> Callable[[pa.DataType], bool]:
    """A check of an Arrow type: ``depth`` nested lists of ``leaf`` values (or all null)."""
    def check(dtype: pa.DataType) -> bool:
        for _ in range(depth):
            if pa.types.is_null(dtype):
                return True
            if not (pa.types.is_list(dtype) or pa.types.is_large_list(dtype)):
                return False
            dtype = dtype.value_type
        return leaf(dtype) or pa.types.is_null(dtype)
    return check


def _number_or_null(dtype: pa.DataType) -> bool:
    return pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_null(dtype)


#: what the trainer reads from an episode log: column -> (check of its Arrow type, what is expected)
COLUMN_TYPES: dict[str, tuple[Callable[[pa.DataType], bool], str]] = {
    "episode": (pa.types.is_integer, "integers"),
    "step": (pa.types.is_integer, "integers"),
    **{name: (_is_text, "text") for name in ("run_id", "env", "task", "observation", "completion")},
    "token_ids": (_lists_of(1, pa.types.is_integer), "lists of token ids"),
    "topk_ids": (_lists_of(2, pa.types.is_integer), "lists of lists of token ids"),
    "topk_logprobs": (_lists_of(2, pa.types.is_floating), "lists of lists of log-probs"),
    "n_dropped_turns": (_number_or_null, "integers"),
    "prompt_tokens": (_number_or_null, "integers"),
}


def check_episode_file(file: Path) -> None:
    """Refuse (``ValueError`` naming ``file``) a file that is not a Parquet episode log: not Parquet, a
    :data:`REQUIRED_COLUMNS` column missing, or a column of :data:`COLUMN_TYPES` of another type. Reads
    only the file's schema."""
    try:
        schema = pq.read_schema(file)
    except (pa.ArrowException, OSError) as err:
        raise ValueError(f"{file}: cannot be read as a Parquet episode log ({err})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in schema.names]
    if missing:
        raise ValueError(
            f"{file}: missing column(s) {missing}; an episode log needs {list(REQUIRED_COLUMNS)}"
        )
    for name, (ok, expected) in COLUMN_TYPES.items():
        if name in schema.names and not ok(schema.field(name).type):
            raise ValueError(f"{file}: column {name!r} holds {schema.field(name).type}; expected {expected}")


def check_episode_files(paths: Sequence[str | Path]) -> None:
    """:func:`check_episode_file` on the log of each run directory / parquet file (what the trainer reads)."""
    for path in paths:
        check_episode_file(find_parquet(path))


def load_episodes(paths: Sequence[str | Path]) -> list[EpisodeLog]:
    """Read every episode from the given run directories / parquet files, validating the schema
    (:func:`check_episode_file`) and every episode's rows."""
    episodes: list[EpisodeLog] = []
    for path in paths:
        file = find_parquet(path)
        check_episode_file(file)
        try:
            frame = pd.read_parquet(file)
        except (pa.ArrowException, OSError) as err:
            raise ValueError(f"{file}: cannot be read as a Parquet episode log ({err})") from None
        for (run_id, episode), rows in frame.groupby(["run_id", "episode"], sort=True):
            episodes.append(_episode_from_rows(file, f"{run_id}/{episode}", rows.sort_values("step")))
    if not episodes:
        raise ValueError(f"{[str(p) for p in paths]}: the episode logs hold no rows")
    return episodes


def _episode_from_rows(file: Path, key: str, rows: pd.DataFrame) -> EpisodeLog:
    steps = rows["step"].tolist()
    if steps != list(range(len(steps))):
        raise ValueError(
            f"{file}: episode {key} has steps {steps}; expected 0..{len(steps) - 1}, one row each"
        )
    for column in ("task", "observation", "completion"):
        bad = [s for s, v in zip(steps, rows[column], strict=True) if not isinstance(v, str)]
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
    if "token_ids" in rows and rows["token_ids"].notna().any():
        logged = rows["token_ids"].notna().tolist()
        ep.token_ids = [
            [int(t) for t in ids] if present else None
            for ids, present in zip(rows["token_ids"], logged, strict=True)
        ]
        top_logged = {"topk_ids", "topk_logprobs"} <= set(rows.columns) and rows["topk_ids"].notna().all()
        if all(logged) and top_logged:
            ep.topk_ids = [[[int(i) for i in k] for k in step] for step in rows["topk_ids"]]
            ep.topk_logprobs = [[[float(x) for x in k] for k in step] for step in rows["topk_logprobs"]]
            for s, ids, top, lps in zip(steps, ep.token_ids, ep.topk_ids, ep.topk_logprobs, strict=True):
                uneven = any(len(a) != len(b) for a, b in zip(top, lps, strict=False))
                if len(top) != len(ids) or len(lps) != len(ids) or uneven:
                    raise ValueError(
                        f"{file}: episode {key} step {s}: topk_ids/topk_logprobs must hold one k-list per "
                        f"generated token ({len(ids)} token_ids); got {len(top)} / {len(lps)}"
                    )
    if {"n_dropped_turns", "prompt_tokens"} <= set(rows.columns) and rows["prompt_tokens"].notna().all():
        ep.n_dropped_turns = [int(d) for d in rows["n_dropped_turns"]]
        ep.prompt_tokens = [int(p) for p in rows["prompt_tokens"]]
        for s, dropped, length in zip(steps, ep.n_dropped_turns, ep.prompt_tokens, strict=True):
            if not 0 <= dropped <= max(0, s - 1) or length < 1:
                raise ValueError(
                    f"{file}: episode {key} step {s}: n_dropped_turns={dropped}, prompt_tokens={length}; "
                    f"expected 0..{max(0, s - 1)} dropped turns and a prompt of >= 1 token"
                )
    if "guided" in rows:
        ep.guided = [_guided_flag(file, key, s, v) for s, v in zip(steps, rows["guided"], strict=True)]
    return ep


def _guided_flag(file: Path, key: str, step: int, value: Any) -> bool:
    """One row's ``guided`` value: a bool, or null (= False, a turn the agent played)."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return False
    raise ValueError(f"{file}: episode {key} step {step}: column 'guided' is {value!r}; expected true, "
                     "false or null")


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
    step: int = -1  # the episode step of a completion
    guided: bool = False  # a completion a guide played


def _plain(tokenizer: Any, text: str) -> _Piece:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return _Piece(ids, [False] * len(ids), [False] * len(ids), completion=False)


def _normalise(text: str) -> str:
    return " ".join(text.split())


def _completion(tokenizer: Any, ep: EpisodeLog, step: int, text: str) -> _Piece:
    """The tokens of one completion with their span masks (spliced from the log when it has them)."""
    guided = bool(ep.guided[step]) if ep.guided is not None else False
    ids = ep.token_ids[step] if ep.token_ids is not None else None
    if ids is None:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        reason, act = completion_token_masks(text, tokenizer)
        return _Piece(ids, reason, act, completion=True, step=step, guided=guided)
    vocab = len(tokenizer)
    if any(not 0 <= t < vocab for t in ids):
        raise ValueError(
            f"episode {ep.key} step {step}: logged token_ids include {max(ids)} outside the tokenizer's "
            f"{vocab} ids; the student must share the teacher's vocabulary"
        )
    plain = _normalise(tokenizer.decode(ids, skip_special_tokens=True))
    logged = _normalise(text)
    if not (plain.startswith(logged) or logged.startswith(plain)):
        raise ValueError(
            f"episode {ep.key} step {step}: logged token_ids decode to {plain[:80]!r} but the completion is "
            f"{logged[:80]!r}; the tokenizer differs from the one that generated these episodes"
        )
    reason, act = completion_masks_from_ids(tokenizer, ids)
    piece = _Piece(list(ids), reason, act, completion=True, step=step, guided=guided)
    if ep.topk_ids is not None and ep.topk_logprobs is not None:
        piece.topk_ids, piece.topk_logprobs = ep.topk_ids[step], ep.topk_logprobs[step]
    return piece


def _context_only(ids: list[int]) -> _Piece:
    """Tokens shown as context, with no loss on them."""
    return _Piece(ids, [False] * len(ids), [False] * len(ids), False)


@dataclass(frozen=True)
class _Context:
    """The prompt a step's completion follows: the header, the note for ``dropped`` left-out turns
    and the turns after them; ``keep`` (when set) cuts it to its last ``keep`` ids."""

    dropped: int
    keep: int | None = None


class _Episode:
    """One episode tokenised piece by piece: header ids, completion pieces, observation-block ids."""

    def __init__(self, ep: EpisodeLog, tokenizer: Any, instructions: str) -> None:
        self.ep, self.tokenizer = ep, tokenizer
        head = header(ep.task, ep.observations[0], instructions)
        self.head = bos_ids(tokenizer) + _plain(tokenizer, head).ids
        self.completions: list[_Piece] = []
        self.observations: list[list[int]] = []
        for step, turn in enumerate(ep.turns()):
            completion, observation = render_turn(turn)
            piece = _completion(tokenizer, ep, step, completion)
            self.completions.append(piece)
            self.observations.append(line_end_ids(tokenizer, piece.ids) + _plain(tokenizer, observation).ids)
        self.blocks = [c.ids + o for c, o in zip(self.completions, self.observations, strict=True)]
        self._notes: dict[int, list[int]] = {}

    def note(self, dropped: int) -> list[int]:
        if dropped not in self._notes:
            self._notes[dropped] = _plain(self.tokenizer, omitted_note(dropped)).ids
        return self._notes[dropped]

    def context_length(self, step: int, dropped: int) -> int:
        note = len(self.note(dropped)) if dropped else 0
        return len(self.head) + note + sum(len(b) for b in self.blocks[dropped:step])

    def fitted(self, max_length: int) -> list[_Context]:
        """Every step's context by the agent's rule (:func:`agents.context.fit_ids`), with the room
        ``max_length`` leaves for the step's completion as the budget."""
        contexts = []
        for step, completion in enumerate(self.completions):
            budget = max_length - len(completion.ids)
            lengths = [len(b) for b in self.blocks[:step]]
            if budget < 1:
                raise ValueError(
                    f"episode {self.ep.key} step {step}: its completion alone is {len(completion.ids)} "
                    f"tokens; raise max_length above {max_length}"
                )
            dropped = turns_to_drop(len(self.head), lengths, budget, lambda n: len(self.note(n)))
            over = self.context_length(step, dropped) > budget  # then it keeps its last `budget` ids
            contexts.append(_Context(dropped, budget if over else None))
        return contexts

    def logged(self, max_length: int) -> list[_Context]:
        """Every step's context as the log records it, checked against the rebuilt prompt's length."""
        assert self.ep.n_dropped_turns is not None and self.ep.prompt_tokens is not None
        contexts = []
        logged = zip(self.ep.n_dropped_turns, self.ep.prompt_tokens, strict=True)
        for step, (dropped, length) in enumerate(logged):
            rebuilt = self.context_length(step, dropped)
            only_latest = dropped == max(0, step - 1)
            if rebuilt != length and not (rebuilt > length and only_latest):
                raise ValueError(
                    f"episode {self.ep.key} step {step}: the agent's prompt had {length} tokens but the "
                    f"context rebuilt from the log ({dropped} turns dropped) has {rebuilt}: the episode was "
                    "played with another prompt (few-shot examples, instructions, chat template) or "
                    "tokenizer, so its logged top-k cannot be matched to a training context; use "
                    "--teacher-signal logits"
                )
            if length + len(self.completions[step].ids) > max_length:
                raise ValueError(
                    f"episode {self.ep.key} step {step}: the agent's prompt ({length} tokens) and completion "
                    f"({len(self.completions[step].ids)}) exceed max_length={max_length}; raise max_length "
                    "to at least the agent's max_prompt_tokens + max_new_tokens"
                )
            contexts.append(_Context(dropped, None if rebuilt == length else length))
        return contexts

    def window(self, context: _Context, steps: range) -> list[_Piece]:
        """The pieces of one training sequence: ``context`` (no loss), then the turns ``steps``."""
        if context.keep is not None:
            note = self.note(context.dropped)
            ids = context_ids(self.head, self.blocks[:steps.start], context.dropped, note)
            pieces = [_context_only(ids[-context.keep:])]
        else:
            pieces = [_context_only(self.head)]
            if context.dropped:
                pieces.append(_context_only(self.note(context.dropped)))
            pieces += [_context_only(b) for b in self.blocks[context.dropped:steps.start]]
        for step in steps:
            pieces += [self.completions[step], _context_only(self.observations[step])]
        return pieces


def encode_episode(
    ep: EpisodeLog,
    tokenizer: Any,
    max_length: int,
    instructions: str | None = None,
    *,
    logged_context: bool = True,
) -> list[Example]:
    """The training sequence(s) of one episode: one, or several windows when contexts differ.

    ``logged_context``: rebuild the context each step was logged with, when the log records it (an
    error when it cannot be rebuilt); False: always the agent's rule with the training budget."""
    episode = _Episode(ep, tokenizer, env_instructions(ep.env) if instructions is None else instructions)
    use_log = logged_context and ep.has_context
    contexts = episode.logged(max_length) if use_log else episode.fitted(max_length)
    windows: list[tuple[_Context, range]] = []
    for step, context in enumerate(contexts):
        last = windows[-1] if windows else None
        if last is not None and context.keep is None and last[0] == context:
            windows[-1] = (context, range(last[1].start, step + 1))  # the same prefix: one sequence
        else:
            windows.append((context, range(step, step + 1)))
    return [
        _join(f"{ep.key}#{w}", episode.window(context, steps), max_length)
        for w, (context, steps) in enumerate(windows)
    ]


def _join(key: str, pieces: list[_Piece], max_length: int) -> Example:
    """One :class:`Example` of ``pieces``; what follows the last completion is cut at ``max_length``."""
    ids: list[int] = []
    reason: list[bool] = []
    act: list[bool] = []
    completion: list[bool] = []
    guided: list[bool] = []
    step_index: list[int] = []
    topk_ids: list[list[int]] = []
    topk_lps: list[list[float]] = []
    any_topk = False
    for p in pieces:
        ids += p.ids
        reason += p.reason
        act += p.act
        completion += [p.completion] * len(p.ids)
        guided += [p.completion and p.guided] * len(p.ids)
        step_index += [p.step if p.completion else -1] * len(p.ids)
        if p.topk_ids is not None and p.topk_logprobs is not None:
            topk_ids += p.topk_ids
            topk_lps += p.topk_logprobs
            any_topk = True
        else:
            topk_ids += [[] for _ in p.ids]
            topk_lps += [[] for _ in p.ids]
    if any(completion[max_length:]):
        raise AssertionError(f"{key}: a completion token lies beyond max_length={max_length}")
    cut = slice(0, max_length)
    example = Example(
        key, ids[cut], reason[cut], act[cut], completion[cut],
        topk_ids[cut] if any_topk else None, topk_lps[cut] if any_topk else None,
        guided_mask=guided[cut], step_index=step_index[cut],
    )
    example.stats = {
        "reason_tokens": float(sum(example.reason_mask)),
        "act_tokens": float(sum(example.act_mask)),
        "teacher_entropy": mean_topk_entropy(example),
    }
    return example


def mean_topk_entropy(example: Example) -> float:
    """Mean entropy of the teacher's top-k (+ tail bucket) over completion tokens; 0 without top-k."""
    if example.topk_logprobs is None:
        return 0.0
    values = []
    for lps, is_completion in zip(example.topk_logprobs, example.completion_mask, strict=True):
        if is_completion and lps:
            p = np.exp(np.asarray(lps, dtype=np.float64))
            tail = max(0.0, 1.0 - float(p.sum()))
            probs = np.append(p, tail)
            probs = probs[probs > 0]
            values.append(float(-(probs * np.log(probs)).sum()))
    return float(np.mean(values)) if values else 0.0


def encode_episodes(
    episodes: Sequence[EpisodeLog], tokenizer: Any, max_length: int, *, logged_context: bool = True
) -> list[Example]:
    """Every episode's sequence(s), in episode order (``logged_context`` as in :func:`encode_episode`).

    With ``logged_context``, episodes that logged top-k but not their context (logs older than the
    ``n_dropped_turns`` / ``prompt_tokens`` columns) are encoded by the rule, with a warning: their
    top-k may have been produced under another prompt."""
    unknown = [ep.key for ep in episodes if logged_context and ep.topk_ids is not None and not ep.has_context]
    if unknown:
        warnings.warn(
            f"{len(unknown)} episode(s) (e.g. {unknown[0]}) logged top-k but not the context they were "
            "produced in (no n_dropped_turns/prompt_tokens columns): their top-k are paired with the context "
            "the prompt-fitting rule gives at this max_length, which may differ from the agent's",
            stacklevel=2,
        )
    return [
        example for ep in episodes
        for example in encode_episode(ep, tokenizer, max_length, logged_context=logged_context)
    ]


def split_heldout(
    episodes: Sequence[EpisodeLog], fraction: float, seed: int
) -> tuple[list[EpisodeLog], list[EpisodeLog]]:
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
    ``completion_mask``, ``guided_mask`` (bool) and ``step_index`` (long, the token's episode step; -1 off
    completions) (B, T) where position t describes token t + 1 (the last position is padding);
    and with ``topk``, the logged teacher ``topk_ids`` / ``topk_logprobs`` (B, T, k) — completion
    tokens without a logged top-k then leave every mask.
    """
    length = max(len(e) for e in examples)
    batch = len(examples)
    input_ids = torch.full((batch, length), pad_id, dtype=torch.long)  # (B, T)
    attention = torch.zeros((batch, length), dtype=torch.long)  # (B, T)
    labels = torch.full((batch, length), -100, dtype=torch.long)  # (B, T)
    masks = {
        name: torch.zeros((batch, length), dtype=torch.bool)  # (B, T)
        for name in ("reason_mask", "act_mask", "completion_mask", "guided_mask")
    }
    step_index = torch.full((batch, length), -1, dtype=torch.long)  # (B, T)
    lacking = [e.key for e in examples if e.topk_ids is None]
    if topk and lacking:
        raise ValueError(
            f"episode(s) {lacking[:3]} have no logged topk_ids/topk_logprobs; use the teacher's logits"
        )
    with_topk = topk
    packed = [e.packed_topk() for e in examples] if with_topk else []
    k = max((ids.shape[1] for ids, _, has in packed if has.any()), default=1)
    if with_topk:
        topk_ids = torch.zeros((batch, length, k), dtype=torch.long)  # (B, T, k)
        topk_lps = torch.full((batch, length, k), PAD_LOGPROB, dtype=torch.float32)  # (B, T, k)
    for b, e in enumerate(examples):
        n = len(e)
        input_ids[b, :n] = torch.tensor(e.input_ids)
        attention[b, :n] = 1
        labels[b, : n - 1] = torch.tensor(e.input_ids[1:])
        for name, mask in masks.items():
            values = getattr(e, name)
            if values:  # an Example built without guided_mask has no guided turns
                mask[b, : n - 1] = torch.tensor(values[1:], dtype=torch.bool)
        if e.step_index:
            step_index[b, : n - 1] = torch.tensor(e.step_index[1:], dtype=torch.long)
        if with_topk:
            ids, lps, has = packed[b]
            width = min(k, ids.shape[1])
            topk_ids[b, : n - 1, :width] = torch.from_numpy(ids[1:n, :width])
            topk_lps[b, : n - 1, :width] = torch.from_numpy(lps[1:n, :width])
            # completion tokens without a teacher signal leave every mask
            lacking_signal = torch.from_numpy(~has[1:n]) & masks["completion_mask"][b, : n - 1]  # (n-1,)
            for mask in masks.values():
                mask[b, : n - 1] &= ~lacking_signal
    out = {"input_ids": input_ids, "attention_mask": attention, "labels": labels, **masks,
           "step_index": step_index}
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


def micro_batches(
    indices: Sequence[int], micro_batch_size: int, rank: int, world_size: int
) -> list[list[int]]:
    """This process's micro-batches of a global batch: consecutive (length-sorted) slices, dealt
    to processes in contiguous blocks so every process gets ``len / (micro * world)`` of them."""
    slices = [list(indices[i:i + micro_batch_size]) for i in range(0, len(indices), micro_batch_size)]
    per_rank = len(slices) // world_size
    return slices[rank * per_rank:(rank + 1) * per_rank]
