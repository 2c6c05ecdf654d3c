"""The LM agent: any ``transformers`` causal LM played as a ReAct agent, batched across episodes.

    agent = agents.make("lm", model="runs/pipe/students/sad", env="webshop", log_topk=20)

The prompt is the text of ``agents.react.build_prompt(task, first_observation, turns,
instructions=agents.prompts.instructions(env))`` and is tokenised piece by piece exactly as the
distillation data builder (``distill.data.encode_episode``) tokenises a logged episode: [bos] +
header + each earlier turn's *generated* token ids + its ``Observation:`` block
(:func:`agents.prompt_ids.episode_prompt_ids`). So a student sees
at play time exactly the ids it was trained on. Over ``max_prompt_tokens`` the oldest turns give
way to the ``(... N earlier turns omitted ...)`` line by the one rule of :mod:`agents.context`; each
``AgentStep`` records ``n_dropped_turns`` and ``prompt_tokens``, so ``distill.data`` rebuilds exactly
the context every logged token (and its top-k) was produced in. With
``chat_template=True`` (pretrained chat models) the prompt text goes through the tokenizer's chat
template as one user message instead.

Generation: greedy by default (``temperature`` / ``top_p`` for sampling); a sequence stops at the newline
that ends its ``Action:`` line (:func:`turn_end`, the token holding it is the turn's last: the token training
labels act, so a trained model ends its action by itself), at an ``Observation:`` it starts writing itself, at
EOS, or after ``max_new_tokens``. ``token_ids`` are the tokens generated up to the stop, a self-written
``Observation:`` tail cut off (EOS is not among them); the completion is their text up to the stop, stripped.
With ``log_topk=k`` each generated token also gets the top-k ids and log-probabilities of the
model's distribution at temperature 1 (log-softmax in fp32 over the full vocabulary).
Sampling draws each episode's tokens from its own generator, seeded at :meth:`LMAgent.reset` by the agent's
``seed`` and the episode's ``task_id``, so an episode's samples do not depend on what shares its batch.

Decoding costs what the model costs:

- *KV reuse across turns.* Each slot keeps the ids its model has read and their keys and values; the next
  turn reads only what follows the longest prefix its prompt shares with them (the last generated token
  and the new ``Observation:`` block). When earlier turns give way to the omitted-turns note the prefix
  ends where they did, and the rest is read again. In fp32 that gives the greedy tokens of reading every
  prompt whole, top-k log-probs within 1e-4 (tested). A slot's cache goes with its episode
  (``episodes.pop(slot)``, as the harness forgets a finished one).
- *Prefill.* The new part of each row is read in length-grouped batches (padding at most
  :data:`PREFILL_PAD_SLACK` of a group's tokens), written straight into one preallocated key/value buffer
  in which every row's last prompt token sits in the same column: the decoding steps then write one column
  each, in place (no copy of the cache per step), and (the default step) attend over the filled columns only.
- *The fixed-shape step* (``static_step``, default: on CUDA only). Every step attends over the whole
  buffer: each layer's keys and values are their own ``[B, heads, total, head_dim]`` tensor (``total`` rounded
  up to :data:`STATIC_COLUMNS`), the new column is written at a step index held in a device tensor
  (``index_copy_``), position ids are a device tensor incremented in place, and the padding mask built for
  the prefill (future columns marked) is left as it is: the causal mask at that index hides the columns not
  written yet. No shape changes within a call, so on CUDA the step runs under
  ``torch.compile(mode="reduce-overhead", dynamic=False)`` (CUDA graphs; each step's logits copied out of
  the graph's memory before the next replay). On the CPU the growing step (filled columns only) stays the
  default; ``static_step=True`` there runs the fixed-shape step eagerly (tested to give the same turns).
  The compiled CUDA path has not been run here (no GPU in the session that wrote it).
- *The step.* One host copy per step (the chosen ids and the top-k together). The stop is found on token
  ids first: only a token among :func:`stop_candidates` (its text holds a newline or a colon) can end a
  turn, and only then is the text since the last newline decoded and searched (:class:`_TurnText`), never
  the whole turn. Constraint masks are built on the model's device: one index tensor of the allowed ids,
  scattered there (:func:`agents.constrained.allowed_mask`).

``precision`` (:mod:`agents.precision`): ``"auto"`` is bf16 on CUDA and on a CPU with AMX / AVX512-BF16,
fp32 elsewhere; the resolved one is :attr:`LMAgent.precision`. Under bf16 the weights are bf16 and the
forward passes run under bf16 autocast (fp32 weights under autocast are cast again at every step: on
SmolLM2-135M that made decoding slower than fp32, where bf16 weights make it faster); log-probabilities
are computed in fp32 either way. bf16 and fp32 runs do not give the same tokens.

With ``constrain_actions=True`` each turn is one thought line and an ``Action:`` restricted to what the
env can take (:mod:`agents.constrained`: a prefix trie over the ids of ``info["admissible_actions"]``,
open ``search[...]``, HotPotQA's extractive ``finish[...]``); logged top-k stay those of the model's
own distribution *before* the constraint mask.
"""
from __future__ import annotations

import functools
import inspect
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from agents.base import Agent, AgentStep
from agents.constrained import ActionConstraint, TokenVocabulary, action_space, allowed_mask
from agents.model_files import check_model_dir
from agents.model_names import resolve_model_path
from agents.precision import autocast, resolve_precision
from agents.prompt_ids import episode_prompt_ids
from agents.prompts import few_shot as env_few_shot
from agents.prompts import instructions as env_instructions
from agents.react import Turn, completion_end, fit_prompt, parse, render_turn
from agents.spans import completion_masks_from_ids

DEFAULT_TOPK = 20
#: a prefill group of new chunks is padded to its longest: at most this share of its tokens is padding
PREFILL_PAD_SLACK = 0.2
#: at most this many tokens (padding included) are read in one prefill forward pass
PREFILL_TOKENS = 4096
#: the fixed-shape step's buffer length is a multiple of this (fewer distinct shapes to compile)
STATIC_COLUMNS = 256
#: where a generated turn is complete (:func:`agents.react.completion_end`): the LM agent's stop rule
turn_end = completion_end


def stop_candidates(tokenizer: Any) -> frozenset[int] | None:
    """The ids that may end a turn, precomputed once per tokenizer: :func:`turn_end` ends one only at the
    token that writes the newline of an ``Action:`` line or the colon of an ``Observation:``, so every id
    whose text holds a ``\n`` or a ``:`` (merged with anything: BPE merges never hide the character). For any
    other id the decoding loop decodes nothing. None (every token checked on the text) for a tokenizer whose
    token texts depend on their neighbours (one that cleans up spaces)."""
    if getattr(tokenizer, "clean_up_tokenization_spaces", False):
        return None
    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))], skip_special_tokens=True)
    return frozenset(i for i, text in enumerate(texts) if "\n" in text or ":" in text)


def ids_through(tokenizer: Any, ids: Sequence[int], end: int) -> int:
    """How many of ``ids`` a turn keeps whose text ends at character ``end``: the tokens up to the one that
    writes that character (those wholly past it, e.g. a self-written ``Observation:`` tail, go)."""
    n = len(ids)
    while n > 1 and len(tokenizer.decode(list(ids[:n - 1]), skip_special_tokens=True)) >= end:
        n -= 1
    return n


class _TurnText:
    """A generated turn's text (``tokenizer.decode(ids, skip_special_tokens=True)``), extended token by
    token, and the test for its end (:func:`turn_end`). Tokens may be pushed in bunches (the loop pushes only
    at :func:`stop_candidates` ids, and at every id of a constrained row, whose constraint reads the text).

    A new token's text is what decoding the ids since the last complete character gives beyond decoding
    them without it, so a step decodes a few tokens, not the turn. That equals decoding every id where
    decoding is local (byte-level BPE, SentencePiece); a tokenizer that cleans up spaces
    (``clean_up_tokenization_spaces``) or a window that disagrees with its shorter self is decoded whole.
    Every end :func:`turn_end` finds lies within one line, and the text before the new token had none, so
    the search starts at the newline before the first character that changed; only an end found there is
    placed by the whole text (its first ``Observation:`` after the text's start decides)."""

    def __init__(self, tokenizer: Any):
        self._decode = functools.partial(tokenizer.decode, skip_special_tokens=True)
        self._local = not getattr(tokenizer, "clean_up_tokenization_spaces", False)
        self.text = ""
        self._committed = ""  # the text of ids[:_read], which ends on a complete character
        self._window = self._read = 0  # the ids decoded each step start at _window; _read: committed ones

    def push(self, ids: list[int]) -> int | None:
        """Take ``ids`` (the earlier ids and one new one); the end of the turn in :attr:`text`, if any."""
        unchanged = len(self._committed)
        if self._local:
            before = self._decode(ids[self._window:self._read])
            window = self._decode(ids[self._window:])
            self._local = window.startswith(before)
        if self._local:
            self.text = self._committed + window[len(before):]
            if not self.text.endswith("\ufffd"):  # a complete character: the next window starts here
                self._committed, self._window, self._read = self.text, self._read, len(ids)
        else:
            self.text, unchanged = self._decode(ids), 0
        start = max(0, self.text.rfind("\n", 0, unchanged))
        if start and turn_end(self.text[start:]) is None:
            return None  # no end in the last lines, so none at all
        return turn_end(self.text)


def _common_prefix(a: list[int], b: list[int]) -> int:
    """The length of the longest common prefix of two id lists (list comparisons run in C)."""
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    low, high = 0, n - 1  # a[:low] == b[:low] and a[:high + 1] != b[:high + 1]
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


@functools.cache
def _buffer_layer() -> type:
    """The cache layer of :class:`LMAgent`'s decoding (a class made on first use: transformers loads late)."""
    from transformers.cache_utils import DynamicLayer

    class BufferLayer(DynamicLayer):
        """One layer's keys and values in columns of a preallocated ``[B, heads, W, head_dim]`` buffer:
        :meth:`update` writes the new positions at column ``length`` in place and returns the columns
        filled so far (views, no copy); masks and queries count columns from ``length``."""

        def __init__(self, keys: torch.Tensor, values: torch.Tensor, length: int):
            super().__init__()
            self.buffer_keys, self.buffer_values, self.length = keys, values, length
            self.keys, self.values = keys[:, :, :length], values[:, :, :length]
            self.device, self.is_initialized = keys.device, True

        def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
                   ) -> tuple[torch.Tensor, torch.Tensor]:
            end = self.length + key_states.shape[-2]
            self.buffer_keys[:, :, self.length:end] = key_states
            self.buffer_values[:, :, self.length:end] = value_states
            self.length = end
            self.keys, self.values = self.buffer_keys[:, :, :end], self.buffer_values[:, :, :end]
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self.length

    return BufferLayer


@functools.cache
def _fixed_layer() -> type:
    """The cache layer of the fixed-shape decoding step (made on first use, as :func:`_buffer_layer`)."""
    from transformers.cache_utils import CacheLayerMixin, StaticLayer

    class FixedLayer(StaticLayer):
        """One layer's keys and values, a preallocated ``[B, heads, total, head_dim]`` tensor each, attended
        whole: :meth:`update` writes the step's column at ``column`` (a 0-dim device tensor shared by the
        layers, advanced by the loop) and returns the whole buffers; masks put the query at ``column`` (the
        causal mask hides the columns after it) and span ``total`` columns."""

        def __init__(self, keys: torch.Tensor, values: torch.Tensor, column: torch.Tensor):
            CacheLayerMixin.__init__(self)  # StaticLayer's own allocates: these buffers are given
            self.keys, self.values, self.cumulative_length = keys, values, column
            self.max_cache_len = keys.shape[-2]
            self.batch_size, self.num_heads = keys.shape[:2]
            self.k_head_dim, self.v_head_dim = keys.shape[-1], values.shape[-1]
            self.device, self.is_initialized = keys.device, True

        def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
                   ) -> tuple[torch.Tensor, torch.Tensor]:
            index = self.cumulative_length.view(1)
            self.keys.index_copy_(2, index, key_states)
            self.values.index_copy_(2, index, value_states)
            return self.keys, self.values

    return FixedLayer


def _step_logits(model: Any, ids: torch.Tensor, positions: torch.Tensor, attention: torch.Tensor, cache: Any,
                 cache_kwarg: str) -> torch.Tensor:
    """One decoding step of the fixed-shape loop: ids [B, 1] -> last logits [B, V] (the model's dtype)."""
    out = model(input_ids=ids, attention_mask=attention, position_ids=positions, use_cache=True,
                **{cache_kwarg: cache})
    return out.logits[:, -1, :]


@functools.cache
def _compiled_step() -> Any:
    """:func:`_step_logits` compiled for CUDA graphs (one compile per model and shapes, kept by torch)."""
    return torch.compile(_step_logits, mode="reduce-overhead", dynamic=False)


@dataclass
class _Generated:
    """One sequence's output of :meth:`LMAgent.generate`."""

    token_ids: list[int] = field(default_factory=list)
    topk_ids: list[list[int]] = field(default_factory=list)
    topk_logprobs: list[list[float]] = field(default_factory=list)
    text: str = ""
    done: bool = False


@dataclass
class _SlotCache:
    """What a slot keeps between turns: the ids its model has read, and their keys and values
    (``[layers, kv_heads, len(ids), head_dim]`` each)."""

    ids: list[int]
    keys: torch.Tensor
    values: torch.Tensor


@dataclass
class _Layout:
    """Where each row of a :meth:`LMAgent.generate` batch sits in the key/value buffer. Rows are ordered by
    the length of their new chunk and read in groups; a group of chunk width N ends its rows' reused
    prefixes at column ``width - N`` and their chunks (left-padded) at ``width``; decoding step t writes
    column ``width + t``. Column 0 is never attended."""

    order: list[int]  # row -> index of its prompt
    reused: list[int]  # per row: leading prompt ids whose keys and values come from the slot's cache
    chunks: list[int]  # per row: prompt ids read in the prefill
    groups: list[tuple[int, int, int]]  # (first row, end row, chunk width)
    width: int

    def prefix_start(self, row: int, chunk_width: int) -> int:
        """The column of the row's first reused id (its first real column)."""
        return self.width - chunk_width - self.reused[row]


class LMAgent(Agent):
    """A causal LM from a local directory or a model preset (see the module docstring)."""

    description = "a transformers causal LM from a local path or preset, batched generation"
    batched = True

    def __init__(
        self,
        model: str | Path,
        env: str = "",
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 1.0,
        log_topk: int = 0,
        device: str | None = None,
        max_prompt_tokens: int | None = None,
        few_shot: int = 0,
        chat_template: bool = False,
        batch_size: int = 16,
        seed: int = 0,
        constrain_actions: bool = False,
        precision: str = "auto",
        static_step: bool | None = None,
    ):
        super().__init__()
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if temperature < 0 or not 0 < top_p <= 1:
            raise ValueError(
                f"need temperature >= 0 and 0 < top_p <= 1, got temperature={temperature}, top_p={top_p}"
            )
        if log_topk is True:
            log_topk = DEFAULT_TOPK
        if log_topk < 0 or batch_size < 1:
            raise ValueError(f"need log_topk >= 0 and batch_size >= 1, got {log_topk}, {batch_size}")
        path = Path(model)
        if path.exists():
            self.model_path = check_model_dir(path)  # complete weights, or one line naming the file
        else:
            self.model_path = Path(resolve_model_path(str(model)))
        self.env = env
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.log_topk = int(log_topk)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        #: "bf16" or "fp32": what the model computes in here (``precision`` resolved on the device)
        self.precision = resolve_precision(precision, self.device)
        #: decode with the fixed-shape step (see the module docstring); None: on CUDA only
        on_cuda = torch.device(self.device).type == "cuda"
        self.static_step = on_cuda if static_step is None else bool(static_step)
        self.max_prompt_tokens = max_prompt_tokens
        self.chat_template = chat_template
        self.batch_size = batch_size
        self.constrain_actions = bool(constrain_actions)
        self._vocabulary: TokenVocabulary | None = None
        self.instructions = env_instructions(env)
        self.few_shot = env_few_shot(env, few_shot)
        self.n_few_shot = few_shot
        #: slot -> few-shot examples chosen for its episode (ALFWorld: of the episode's task type)
        self._episode_few_shot: dict[int, list[str]] = {}
        #: seeds the sampler: the agent-wide generator and, with each episode's task id, its slot's
        self.seed = int(seed)
        self._generator = torch.Generator(device=self.device).manual_seed(self.seed)
        #: slot -> the generator its episode samples from (seeded at :meth:`reset`)
        self._slot_generators: dict[int, torch.Generator] = {}
        self._model: Any = None
        self._tokenizer: Any = None
        #: slot -> generated token ids of each earlier turn (spliced back into the prompt)
        self._turn_ids: dict[int, list[list[int]]] = {}
        #: slot -> the ids its model read last turn and their keys and values
        self._slot_cache: dict[int, _SlotCache] = {}

    # --- model -------------------------------------------------------------------------------------
    def load(self) -> None:
        """Load the tokenizer and model (done on first use)."""
        if self._model is not None:
            return
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            self._tokenizer = AutoTokenizer.from_pretrained(self.model_path, trust_remote_code=False)
            dtype = torch.bfloat16 if self.precision == "bf16" else torch.float32
            model = AutoModelForCausalLM.from_pretrained(
                self.model_path, dtype=dtype, trust_remote_code=False, use_safetensors=True
            )
            self._model = model.to(self.device).eval()
        except (OSError, ValueError) as err:
            raise ValueError(
                f"{self.model_path}: cannot load a causal LM and tokenizer from it ({err})"
            ) from None
        # transformers >= 5.24 names the KV-cache argument `cache`, earlier versions `past_key_values`
        forward_args = inspect.signature(self._model.forward).parameters
        self._cache_kwarg = "cache" if "cache" in forward_args else "past_key_values"
        # generation reads the last position's logits only: skip the [B, T, V] projection of the rest
        self._last_logits_only = {"logits_to_keep": 1} if "logits_to_keep" in forward_args else {}
        if self.max_prompt_tokens is None:
            limit = getattr(self._model.config, "max_position_embeddings", 2048) or 2048
            self.max_prompt_tokens = max(16, min(2048, limit - self.max_new_tokens))
        self._check_full_attention()
        self._kv_shape = self._probe_kv()

    def _check_full_attention(self) -> None:
        """Refuse a model the decoding buffer would attend wrongly: layers that are not attention, or a
        sliding window shorter than a prompt and its new tokens."""
        config = self._model.config
        kinds = set(getattr(config, "layer_types", None) or ["full_attention"])
        window = getattr(config, "sliding_window", None)
        window = window if getattr(config, "use_sliding_window", True) else None
        needed = int(self.max_prompt_tokens or 0) + self.max_new_tokens
        if kinds - {"full_attention", "sliding_attention"} or (
            (window or "sliding_attention" in kinds) and (window or 0) < needed
        ):
            raise ValueError(
                f"{self.model_path}/config.json: layer_types {sorted(kinds)}, sliding_window {window}; the "
                f"LM agent plays models whose every layer attends to a whole prompt and its new tokens "
                f"({needed})"
            )

    def _probe_kv(self) -> tuple[int, int, int, int, torch.dtype, torch.dtype]:
        """(layers, kv heads, key dim, value dim, key dtype, value dtype) of the model's cache, read from one
        forward pass of one token (under bf16 autocast keys and values may differ in dtype)."""
        from transformers import DynamicCache

        cache = DynamicCache()
        with torch.no_grad(), self._autocast():
            self._model(input_ids=torch.zeros((1, 1), dtype=torch.long, device=self.device), use_cache=True,
                        **{self._cache_kwarg: cache})
        kinds = {(tuple(layer.keys.shape), tuple(layer.values.shape), layer.keys.dtype, layer.values.dtype)
                 for layer in cache.layers}
        if len(kinds) != 1:
            raise ValueError(f"{self.model_path}: layers with different key/value shapes ({len(kinds)} "
                             "kinds); the LM agent plays models whose layers share one")
        (keys, values, key_dtype, value_dtype), = kinds
        return len(cache.layers), keys[1], keys[-1], values[-1], key_dtype, value_dtype

    def _autocast(self) -> Any:
        return autocast(self.precision, self.device)

    @property
    def tokenizer(self) -> Any:
        self.load()
        return self._tokenizer

    @property
    def model(self) -> Any:
        self.load()
        return self._model

    # --- prompt ------------------------------------------------------------------------------------
    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def prompt_ids(self, slot: int) -> list[int]:
        """Token ids of the prompt for the next turn of the episode in ``slot``."""
        return self.prompt(slot)[0]

    def prompt(self, slot: int) -> tuple[list[int], int]:
        """(prompt ids for the next turn of the episode in ``slot``, earlier turns left out of it)."""
        self.load()  # sets the default max_prompt_tokens from the model's context length
        episode = self._episode(slot)
        first = episode.first_observation or ""
        few_shot = self._episode_few_shot.get(slot, self.few_shot)
        budget = int(self.max_prompt_tokens or 0)
        if self.chat_template and getattr(self.tokenizer, "chat_template", None):
            text, dropped = fit_prompt(
                episode.task, first, episode.turns, self.instructions, few_shot,
                max_tokens=budget, count_tokens=lambda s: len(self._ids(s)),
            )
            messages = [{"role": "user", "content": text}]
            ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
            ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
            return list(ids)[-budget:], dropped
        return episode_prompt_ids(self.tokenizer, episode, self.instructions, few_shot,
                                  self._turn_ids.get(slot, []), budget)

    # --- generation --------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        prompts: Sequence[list[int]],
        constraints: Sequence[ActionConstraint | None] | None = None,
        slots: Sequence[int] | None = None,
    ) -> list[_Generated]:
        """Continue each prompt (token ids) as one batch until every sequence stops; a sequence with a
        constraint chooses only among the tokens it allows (top-k logged before that). With ``slots`` (one
        distinct slot per prompt) a row does not read again the longest prefix its prompt shares with what
        its slot read last time (their keys and values are kept), and keeps its own for the next call."""
        if not prompts:
            return []
        if any(len(p) == 0 for p in prompts):
            raise ValueError("generate got an empty prompt: expected at least one token id per prompt")
        if slots is not None and (len(slots) != len(prompts) or len(set(slots)) != len(slots)):
            raise ValueError(f"generate got {len(prompts)} prompts and slots {list(slots)}: expected one "
                             "distinct slot per prompt")
        tok, model = self.tokenizer, self.model
        pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
        eos = tok.eos_token_id
        kept = self._take_caches(prompts, slots)
        layout = self._layout(prompts, kept)
        rows = [prompts[i] for i in layout.order]
        constraints = [None] * len(rows) if constraints is None else [constraints[i] for i in layout.order]
        n_layers, heads, key_dim, value_dim, key_dtype, value_dtype = self._kv_shape
        width, total = layout.width, layout.width + self.max_new_tokens - 1
        # zeros: columns a row never writes (before its prefix) are read under a zero mask, and must be finite
        keys: torch.Tensor | list[torch.Tensor]
        values: torch.Tensor | list[torch.Tensor]
        if self.static_step:  # one tensor per layer: the compiled step's inputs must not alias each other
            total = -(-total // STATIC_COLUMNS) * STATIC_COLUMNS
            shape = (len(rows), heads, total)
            keys = [torch.zeros((*shape, key_dim), dtype=key_dtype, device=self.device)
                    for _ in range(n_layers)]
            values = [torch.zeros((*shape, value_dim), dtype=value_dtype, device=self.device)
                      for _ in range(n_layers)]
        else:
            shape = (n_layers, len(rows), heads, total)
            keys = torch.zeros((*shape, key_dim), dtype=key_dtype, device=self.device)
            values = torch.zeros((*shape, value_dim), dtype=value_dtype, device=self.device)
        attention = torch.zeros((len(rows), total), dtype=torch.long)  # [B, W]: built here, copied once
        for first, end, chunk_width in layout.groups:
            for row in range(first, end):
                start, stop = layout.prefix_start(row, chunk_width), width - chunk_width
                if layout.reused[row]:
                    cache = kept[layout.order[row]]
                    if isinstance(keys, torch.Tensor) and isinstance(values, torch.Tensor):
                        keys[:, row, :, start:stop] = cache.keys[:, :, :layout.reused[row]]
                        values[:, row, :, start:stop] = cache.values[:, :, :layout.reused[row]]
                    else:
                        for layer in range(n_layers):
                            keys[layer][row, :, start:stop] = cache.keys[layer, :, :layout.reused[row]]
                            values[layer][row, :, start:stop] = cache.values[layer, :, :layout.reused[row]]
                attention[row, start:stop] = 1
                attention[row, width - layout.chunks[row]:] = 1
        del kept  # the reused keys and values are in the buffer now
        attention = attention.to(self.device)
        buffer_layer = _buffer_layer()
        from transformers.cache_utils import Cache

        generators = None if slots is None else [
            self._slot_generators.get(slots[i], self._generator) for i in layout.order]
        logits = []
        with self._autocast():
            for first, end, chunk_width in layout.groups:
                ids = torch.full((end - first, chunk_width), pad, dtype=torch.long)  # [g, N]
                positions = torch.zeros((end - first, chunk_width), dtype=torch.long)  # [g, N]
                for row in range(first, end):
                    n, reused = layout.chunks[row], layout.reused[row]
                    ids[row - first, chunk_width - n:] = torch.tensor(rows[row][reused:], dtype=torch.long)
                    positions[row - first, chunk_width - n:] = torch.arange(reused, reused + n)
                layers = [buffer_layer(keys[layer][first:end], values[layer][first:end], width - chunk_width)
                          for layer in range(n_layers)]
                out = model(input_ids=ids.to(self.device), attention_mask=attention[first:end, :width],
                            position_ids=positions.to(self.device), use_cache=True,
                            **{self._cache_kwarg: Cache(layers=layers)}, **self._last_logits_only)
                logits.append(out.logits[:, -1, :])
            lengths = torch.tensor([len(r) for r in rows], device=self.device)[:, None]  # [B, 1]
            step = (self._fixed_step if self.static_step else self._growing_step)(
                keys, values, attention, width, lengths)
            results, fed = self._decode(torch.cat(logits).float(), rows, constraints, step, pad, eos,
                                        generators)
        if slots is not None:
            for row, result in enumerate(results):
                self._keep(slots[layout.order[row]], row, layout, rows[row] + result.token_ids[:fed[row]],
                           keys, values, fed[row])
        for result in results:
            text = tok.decode(result.token_ids, skip_special_tokens=True)
            stop = turn_end(text)
            if stop is not None:
                self._cut(result, stop)
            result.text = (text if stop is None else text[:stop]).strip()
        by_prompt = dict(zip(layout.order, results, strict=True))
        return [by_prompt[i] for i in range(len(rows))]

    def _growing_step(self, keys: Any, values: Any, attention: torch.Tensor, width: int, lengths: torch.Tensor
                      ) -> Callable[[torch.Tensor, int], torch.Tensor]:
        """The decoding step over the filled columns of the buffer (views that grow by one column a step):
        (ids [B, 1], step) -> fp32 logits [B, V]; step t writes column ``width + t``."""
        from transformers.cache_utils import Cache

        buffer_layer = _buffer_layer()
        cache = Cache(layers=[buffer_layer(keys[layer], values[layer], width) for layer in range(len(keys))])

        def step(ids: torch.Tensor, t: int) -> torch.Tensor:
            out = self.model(input_ids=ids, attention_mask=attention[:, :width + t + 1],
                             position_ids=lengths + t, use_cache=True, **{self._cache_kwarg: cache})
            return out.logits[:, -1, :].float()

        return step

    def _fixed_step(self, keys: Any, values: Any, attention: torch.Tensor, width: int, lengths: torch.Tensor
                    ) -> Callable[[torch.Tensor, int], torch.Tensor]:
        """The fixed-shape decoding step (module docstring): every step attends over the whole buffer; the
        column and the positions are device tensors advanced in place, so no step reads the host. Compiled
        for CUDA graphs on CUDA, eager elsewhere."""
        from transformers.cache_utils import Cache

        column = torch.tensor(width, device=self.device)  # 0-dim: the column step t writes is width + t
        positions = lengths.clone()
        fixed_layer = _fixed_layer()
        cache = Cache(layers=[fixed_layer(k, v, column) for k, v in zip(keys, values, strict=True)])
        compiled = torch.device(self.device).type == "cuda"
        if compiled:  # fixed addresses: CUDA graphs write the buffers in place instead of copying them
            for tensor in [*keys, *values, attention]:
                torch._dynamo.mark_static_address(tensor)
        run = _compiled_step() if compiled else _step_logits

        def step(ids: torch.Tensor, t: int) -> torch.Tensor:
            if compiled:
                torch.compiler.cudagraph_mark_step_begin()
            logits = run(self.model, ids, positions, attention, cache, self._cache_kwarg)
            # a copy out of the CUDA graph's memory, which the next replay overwrites
            logits = logits.to(torch.float32, copy=True) if compiled else logits.float()
            column.add_(1)
            positions.add_(1)
            return logits

        return step

    def _decode(
        self, logits: torch.Tensor, rows: list[list[int]], constraints: list[ActionConstraint | None],
        model_step: Callable[[torch.Tensor, int], torch.Tensor], pad: int, eos: int | None,
        generators: list[torch.Generator] | None = None,
    ) -> tuple[list[_Generated], list[int]]:
        """The decoding loop from the prefill's last logits [B, V] (fp32); ``model_step`` reads step t's ids
        [B, 1] (:meth:`_growing_step`, :meth:`_fixed_step`); ``generators``: each row's sampler (None: the
        agent's, for all rows). Returns each row's result and how many of its generated tokens the model has
        read (their keys and values are in the buffer)."""
        results = [_Generated() for _ in rows]
        texts = [_TurnText(self.tokenizer) for _ in rows]
        may_end = self._stop_ids
        fed = [0] * len(rows)
        finished = torch.zeros((len(rows), 1), dtype=torch.bool, device=self.device)  # [B, 1]
        k = min(self.log_topk, logits.shape[-1])
        for step in range(self.max_new_tokens):
            rules = [
                c.allowed(self.max_new_tokens - step) if c is not None and not r.done else None
                for c, r in zip(constraints, results, strict=True)
            ]
            mask = allowed_mask(rules, self.vocabulary, logits.device) if self.constrain_actions else None
            choose_from = logits if mask is None else logits.masked_fill(~mask, -torch.inf)
            next_ids = self._choose(choose_from, generators, [not r.done for r in results])  # [B]
            if k:  # the model's own distribution, before the constraint: one host copy for ids and top-k
                top_lp, top_ids = torch.log_softmax(logits, dim=-1).topk(k, dim=-1)  # [B, k]
                host = torch.cat([next_ids[:, None].double(), top_ids.double(), top_lp.double()], 1).tolist()
            else:
                host = next_ids[:, None].tolist()
            changed = False
            for i, (result, row) in enumerate(zip(results, host, strict=True)):
                if result.done:
                    continue
                chosen = int(row[0])
                if eos is not None and chosen == eos:
                    result.done = changed = True
                    continue
                result.token_ids.append(chosen)
                if k:
                    result.topk_ids.append([int(t) for t in row[1:k + 1]])
                    result.topk_logprobs.append(row[k + 1:])
                end = None
                if constraints[i] is not None or may_end is None or chosen in may_end:
                    end = texts[i].push(result.token_ids)
                if constraints[i] is not None:
                    constraints[i].advance(chosen, texts[i].text)
                if end is not None:
                    result.done = changed = True
            if all(r.done for r in results) or step == self.max_new_tokens - 1:
                break
            if changed:
                finished = torch.tensor([[r.done] for r in results], device=self.device)
            for i, result in enumerate(results):
                fed[i] += not result.done
            logits = model_step(torch.where(finished, pad, next_ids[:, None]), step)  # [B, V]
        return results, fed

    def _cut(self, result: _Generated, end: int) -> None:
        """Drop the tokens of ``result`` that lie wholly past character ``end`` of its text (a self-written
        ``Observation:`` tail), with their top-k."""
        n = ids_through(self.tokenizer, result.token_ids, end)
        del result.token_ids[n:], result.topk_ids[n:], result.topk_logprobs[n:]

    def _take_caches(
        self, prompts: Sequence[list[int]], slots: Sequence[int] | None
    ) -> list[_SlotCache | None]:
        """Each prompt's slot cache, taken out of the agent (it is kept again after decoding); caches and
        samplers of slots whose episode was forgotten go."""
        for slot in [s for s in self._slot_cache if s not in self.episodes]:
            del self._slot_cache[slot]
        for slot in [s for s in self._slot_generators if s not in self.episodes]:
            del self._slot_generators[slot]
        if slots is None:
            return [None] * len(prompts)
        return [self._slot_cache.pop(slot, None) for slot in slots]

    def _layout(self, prompts: Sequence[list[int]], kept: list[_SlotCache | None]) -> _Layout:
        """Reused prefixes (never the last prompt id: its logits are needed), and groups of rows with
        chunks of similar length."""
        reused = [0 if cache is None else min(_common_prefix(cache.ids, prompt), len(prompt) - 1)
                  for prompt, cache in zip(prompts, kept, strict=True)]
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]) - reused[i])
        chunks = [len(prompts[i]) - reused[i] for i in order]
        groups: list[tuple[int, int, int]] = []
        first, tokens = 0, 0
        for row, n in enumerate(chunks):  # ascending: the row's chunk is its group's widest
            members = row - first + 1
            if row > first and (n * members > (1 + PREFILL_PAD_SLACK) * (tokens + n)
                                or n * members > PREFILL_TOKENS):
                groups.append((first, row, chunks[row - 1]))
                first, tokens = row, 0
            tokens += n
        groups.append((first, len(chunks), chunks[-1]))
        reused = [reused[i] for i in order]
        # column 0 is never attended: transformers drops a mask of ones, and then runs grouped-query attention
        # through SDPA's enable_gqa, which on CPU in bf16 is ~5x slower for one-token steps than the path it
        # takes with a mask (measured on SmolLM2-135M)
        width = 1 + max(reused[row] + chunk_width for first, end, chunk_width in groups
                        for row in range(first, end))
        return _Layout(order, reused, chunks, groups, width)

    def _keep(self, slot: int, row: int, layout: _Layout, ids: list[int], keys: Any, values: Any, fed: int
              ) -> None:
        """Copy the row's keys and values out of the buffer into ``slot``'s cache, for ``ids``."""
        chunk_width = next(w for first, end, w in layout.groups if first <= row < end)
        start, width = layout.prefix_start(row, chunk_width), layout.width
        columns = torch.cat([torch.arange(start, width - chunk_width),
                             torch.arange(width - layout.chunks[row], width + fed)]).to(self.device)
        if isinstance(keys, torch.Tensor) and isinstance(values, torch.Tensor):  # [layers, B, heads, W, dim]
            kept_keys = keys[:, row].index_select(2, columns)
            kept_values = values[:, row].index_select(2, columns)
        else:  # one [B, heads, W, dim] tensor per layer
            kept_keys = torch.stack([layer[row].index_select(1, columns) for layer in keys])
            kept_values = torch.stack([layer[row].index_select(1, columns) for layer in values])
        self._slot_cache[slot] = _SlotCache(ids, kept_keys, kept_values)

    def _choose(self, logits: torch.Tensor, generators: list[torch.Generator] | None = None,
                live: list[bool] | None = None) -> torch.Tensor:
        """Greedy, or temperature / nucleus sampling. logits: [B, V] -> ids [B]. With ``generators`` each
        row samples from its own (its slot's), and only while ``live`` (a finished row gets 0 and draws
        nothing), so an episode's k-th sampled token is the same whatever shares its batch; without them
        every row samples from the agent-wide generator."""
        if self.temperature == 0:
            return logits.argmax(dim=-1)
        probs = torch.softmax(logits / self.temperature, dim=-1)  # [B, V]
        if self.top_p < 1:
            sorted_p, order = probs.sort(dim=-1, descending=True)  # [B, V]
            outside = sorted_p.cumsum(-1) - sorted_p > self.top_p  # [B, V]: beyond the nucleus
            sorted_p = sorted_p.masked_fill(outside, 0.0)
            probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
        if generators is None:
            return torch.multinomial(probs, 1, generator=self._generator).squeeze(-1)  # [B]
        live = [True] * len(generators) if live is None else live
        return torch.cat([
            torch.multinomial(probs[row:row + 1], 1, generator=generator)[0] if alive
            else probs.new_zeros(1, dtype=torch.long)
            for row, (generator, alive) in enumerate(zip(generators, live, strict=True))
        ])  # [B]

    # --- the Agent API -----------------------------------------------------------------------------
    def reset(self, info: dict[str, Any], slot: int = 0) -> None:
        """Start an episode in ``slot`` with its own sampler, seeded by the agent's ``seed`` and the
        episode's ``info["task_id"]`` (else its task text)."""
        super().reset(info, slot)
        episode_id = info.get("task_id") or info.get("task") or ""
        self._slot_generators[slot] = torch.Generator(device=self.device).manual_seed(
            zlib.crc32(f"{self.seed}:{episode_id}".encode()))
        self._turn_ids[slot] = []
        self._episode_few_shot[slot] = env_few_shot(self.env, self.n_few_shot, info.get("task_type"))

    def act_batch(
        self,
        observations: Sequence[str],
        infos: Sequence[dict[str, Any]] | None = None,
        slots: Sequence[int] | None = None,
    ) -> list[AgentStep]:
        """One turn for every (observation, slot), generated in batches of ``batch_size``."""
        slots = list(range(len(observations))) if slots is None else list(slots)
        if len(slots) != len(observations):
            raise ValueError(f"act_batch got {len(observations)} observations and {len(slots)} slots")
        infos = [{} for _ in slots] if infos is None else list(infos)
        if len(infos) != len(slots):
            raise ValueError(f"act_batch got {len(infos)} infos for {len(slots)} slots")
        by_slot = dict(zip(slots, infos, strict=True))
        for obs, slot in zip(observations, slots, strict=True):
            self._episode(slot).observe(obs)
        steps: list[AgentStep] = []
        for start in range(0, len(slots), self.batch_size):
            chunk = slots[start:start + self.batch_size]
            began = time.perf_counter()
            prompts = [self.prompt(slot) for slot in chunk]
            constraints = [self._constraint(slot, by_slot[slot]) for slot in chunk]
            generated = self.generate([ids for ids, _ in prompts], constraints, chunk)
            share = (time.perf_counter() - began) / len(chunk)
            for slot, result, (ids, dropped) in zip(chunk, generated, prompts, strict=True):
                steps.append(self._to_step(slot, result, share, dropped, len(ids)))
        return steps

    def add_turn(self, slot: int, text: str, token_ids: Sequence[int] | None = None) -> list[int]:
        """Record a turn another player took in ``slot``'s episode (a guide's, :mod:`agents.guided`): later
        prompts hold ``token_ids`` for it (default: this tokenizer's ids of the text and its ending newline,
        as for any turn without generated ids) as if this model had generated them. Returns the ids
        recorded."""
        parsed = parse(text)
        ids = list(token_ids) if token_ids is not None else self._ids(render_turn(Turn("", "", text))[0])
        self._episode(slot).turns.append(Turn(thought=parsed.thought, action=parsed.action, text=text))
        self._turn_ids.setdefault(slot, []).append(ids)
        return ids

    @functools.cached_property
    def _stop_ids(self) -> frozenset[int] | None:
        """:func:`stop_candidates` of this agent's tokenizer (computed on first use)."""
        return stop_candidates(self.tokenizer)

    @property
    def vocabulary(self) -> TokenVocabulary:
        """The tokenizer facts constrained decoding needs (built on first use)."""
        if self._vocabulary is None:
            self._vocabulary = TokenVocabulary(self.tokenizer, int(self.model.config.vocab_size))
        return self._vocabulary

    def _constraint(self, slot: int, info: dict[str, Any] | None) -> ActionConstraint | None:
        """The action constraint of the next turn in ``slot`` (None: decoded freely)."""
        if not self.constrain_actions:
            return None
        episode = self._episode(slot)
        observed = [episode.first_observation or ""] + [t.observation or "" for t in episode.turns]
        space = action_space(self.env, info or {}, observed, episode.task)
        return ActionConstraint(self.vocabulary, space) if space else None

    def _to_step(
        self, slot: int, result: _Generated, latency_s: float, n_dropped_turns: int, prompt_tokens: int
    ) -> AgentStep:
        parsed = parse(result.text)
        n_reason = n_act = None
        if getattr(self.tokenizer, "is_fast", False):
            # the generated ids as training splices them: every one in exactly one span
            reason, act = completion_masks_from_ids(self.tokenizer, result.token_ids)
            n_reason, n_act = sum(reason), sum(act)
        self._episode(slot).turns.append(Turn(thought=parsed.thought, action=parsed.action, text=result.text))
        self._turn_ids.setdefault(slot, []).append(list(result.token_ids))
        return AgentStep(
            thought=parsed.thought, action=parsed.action, text=result.text, token_ids=list(result.token_ids),
            topk_ids=result.topk_ids if self.log_topk else None,
            topk_logprobs=result.topk_logprobs if self.log_topk else None,
            n_reason_tokens=n_reason, n_act_tokens=n_act, latency_s=latency_s,
            n_dropped_turns=n_dropped_turns, prompt_tokens=prompt_tokens,
        )
