"""The LM agent: any ``transformers`` causal LM played as a ReAct agent, batched across episodes.

    agent = agents.make("lm", model="runs/pipe/students/sad", env="webshop", log_topk=20)

The prompt is the text of ``agents.react.build_prompt(task, first_observation, turns,
instructions=agents.prompts.instructions(env))`` and is tokenised piece by piece exactly as the
distillation data builder (``distill.data.encode_episode``) tokenises a logged episode: [bos] +
header + each earlier turn's *generated* token ids + its ``Observation:`` block. So a student sees
at play time exactly the ids it was trained on. Over ``max_prompt_tokens`` the oldest turns give
way to the ``(... N earlier turns omitted ...)`` line by the one rule of :mod:`agents.context`; each
``AgentStep`` records ``n_dropped_turns`` and ``prompt_tokens``, so ``distill.data`` rebuilds exactly
the context every logged token (and its top-k) was produced in. With
``chat_template=True`` (pretrained chat models) the prompt text goes through the tokenizer's chat
template as one user message instead.

Generation: left padding, explicit position ids, the KV cache, greedy by default (``temperature``
/ ``top_p`` for sampling); a sequence stops at the end of its ``Action:`` line (or at the closing
bracket of a ``name[argument]`` action: :func:`turn_end`), at an ``Observation:`` it starts
writing itself, at EOS, or after ``max_new_tokens``. ``token_ids`` are the tokens generated up to
the stop; the completion is their text cut at the end of the action line.
With ``log_topk=k`` each generated token also gets the top-k ids and log-probabilities of the
model's distribution at temperature 1 (log-softmax over the full vocabulary).

With ``constrain_actions=True`` each turn is one thought line and an ``Action:`` restricted to what the
env can take (:mod:`agents.constrained`: a prefix trie over the ids of ``info["admissible_actions"]``,
open ``search[...]``, HotPotQA's extractive ``finish[...]``); logged top-k stay those of the model's
own distribution *before* the constraint mask.
"""
from __future__ import annotations

import inspect
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from agents.base import Agent, AgentStep
from agents.constrained import ActionConstraint, TokenVocabulary, action_space, allowed_mask
from agents.context import bos_ids, fit_ids, omitted_note
from agents.model_files import check_model_dir
from agents.prompts import few_shot as env_few_shot
from agents.prompts import instructions as env_instructions
from agents.react import Turn, completion_end, fit_prompt, header, parse, render_turn

DEFAULT_TOPK = 20
#: an ``Action:`` line whose ``name[argument]`` action has closed its bracket (WebShop, HotPotQA)
_CLOSED_ACTION = re.compile(
    r"^[ \t>]*action(?:[ \t]*\d+)?[ \t]*:[ \t]*\w+\[[^\]\n]*\]", re.IGNORECASE | re.MULTILINE
)


def turn_end(text: str) -> int | None:
    """Where a generated turn is complete: :func:`agents.react.completion_end`, or right after the
    closing bracket of a ``name[argument]`` action. The newline after an action starts the next
    ``Observation:`` block in the training data, so no loss ever teaches a model to write it; the
    closing bracket is the last token a trained model reliably writes."""
    end = completion_end(text)
    ends = [] if end is None else [end]
    closed = _CLOSED_ACTION.search(text)
    if closed is not None:
        ends.append(closed.end())
    return min(ends) if ends else None


@dataclass
class _Generated:
    """One sequence's output of :meth:`LMAgent.generate`."""

    token_ids: list[int] = field(default_factory=list)
    topk_ids: list[list[int]] = field(default_factory=list)
    topk_logprobs: list[list[float]] = field(default_factory=list)
    text: str = ""
    done: bool = False


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
            from distill.models import resolve_model_path

            self.model_path = Path(resolve_model_path(str(model)))
        self.env = env
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.log_topk = int(log_topk)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
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
        self._generator = torch.Generator(device=self.device).manual_seed(seed)
        self._model: Any = None
        self._tokenizer: Any = None
        #: slot -> generated token ids of each earlier turn (spliced back into the prompt)
        self._turn_ids: dict[int, list[list[int]]] = {}

    # --- model -------------------------------------------------------------------------------------
    def load(self) -> None:
        """Load the tokenizer and model (done on first use)."""
        if self._model is not None:
            return
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            self._tokenizer = AutoTokenizer.from_pretrained(self.model_path)
            dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
            model = AutoModelForCausalLM.from_pretrained(self.model_path, dtype=dtype)
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
        head = bos_ids(self.tokenizer) + self._ids(
            header(episode.task, first, self.instructions, few_shot)
        )
        generated = self._turn_ids.get(slot, [])
        blocks = []
        for i, turn in enumerate(episode.turns):
            completion, observation = render_turn(turn)
            ids = generated[i] if i < len(generated) else self._ids(completion)
            blocks.append(ids + self._ids(observation or "\n"))
        return fit_ids(head, blocks, budget, lambda n: self._ids(omitted_note(n)))

    # --- generation --------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self, prompts: Sequence[list[int]], constraints: Sequence[ActionConstraint | None] | None = None
    ) -> list[_Generated]:
        """Continue each prompt (token ids) as one left-padded batch until every sequence stops; a
        sequence with a constraint chooses only among the tokens it allows (top-k logged before that)."""
        from transformers import DynamicCache

        tok, model = self.tokenizer, self.model
        pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
        eos = tok.eos_token_id
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), pad, dtype=torch.long)  # [B, T]
        attention = torch.zeros((len(prompts), width), dtype=torch.long)  # [B, T]
        for i, prompt in enumerate(prompts):
            input_ids[i, width - len(prompt):] = torch.tensor(prompt, dtype=torch.long)
            attention[i, width - len(prompt):] = 1
        input_ids, attention = input_ids.to(self.device), attention.to(self.device)
        positions = (attention.cumsum(-1) - 1).clamp(min=0)  # [B, T]
        cache = {self._cache_kwarg: DynamicCache()}  # filled in place by every forward pass
        out = model(input_ids=input_ids, attention_mask=attention, position_ids=positions, use_cache=True,
                    **cache, **self._last_logits_only)
        results = [_Generated() for _ in prompts]
        constraints = list(constraints) if constraints is not None else [None] * len(prompts)
        for step in range(self.max_new_tokens):
            logits = out.logits[:, -1, :].float()  # [B, V]
            logprobs = torch.log_softmax(logits, dim=-1)  # [B, V]: the model's own, logged as top-k
            rules = [
                c.allowed(self.max_new_tokens - step) if c is not None and not r.done else None
                for c, r in zip(constraints, results, strict=True)
            ]
            mask = allowed_mask(rules, self.vocabulary) if self.constrain_actions else None
            if mask is not None:
                logits = logits.masked_fill(~mask.to(self.device), -torch.inf)
            next_ids = self._choose(logits)  # [B]
            if self.log_topk:
                top_lp, top_ids = logprobs.topk(min(self.log_topk, logprobs.shape[-1]), dim=-1)  # [B, k]
                top_lp, top_ids = top_lp.cpu().tolist(), top_ids.cpu().tolist()
            chosen = next_ids.cpu().tolist()
            for i, result in enumerate(results):
                if result.done:
                    continue
                if eos is not None and chosen[i] == eos:
                    result.done = True
                    continue
                result.token_ids.append(chosen[i])
                if self.log_topk:
                    result.topk_ids.append(top_ids[i])
                    result.topk_logprobs.append(top_lp[i])
                text = tok.decode(result.token_ids, skip_special_tokens=True)
                if constraints[i] is not None:
                    constraints[i].advance(chosen[i], text)
                if turn_end(text) is not None:
                    result.done = True
            if all(r.done for r in results):
                break
            finished = torch.tensor([r.done for r in results], device=self.device)
            step_ids = torch.where(finished, torch.full_like(next_ids, pad), next_ids)[:, None]  # [B, 1]
            attention = torch.cat([attention, torch.ones_like(step_ids)], dim=-1)  # [B, T+1]
            positions = positions[:, -1:] + 1  # [B, 1]
            out = model(
                input_ids=step_ids, attention_mask=attention, position_ids=positions, use_cache=True, **cache
            )
        for result in results:
            text = tok.decode(result.token_ids, skip_special_tokens=True)
            stop = turn_end(text)
            result.text = (text if stop is None else text[:stop]).strip()
        return results

    def _choose(self, logits: torch.Tensor) -> torch.Tensor:
        """Greedy, or temperature / nucleus sampling. logits: [B, V] -> ids [B]."""
        if self.temperature == 0:
            return logits.argmax(dim=-1)
        probs = torch.softmax(logits / self.temperature, dim=-1)  # [B, V]
        if self.top_p < 1:
            sorted_p, order = probs.sort(dim=-1, descending=True)  # [B, V]
            outside = sorted_p.cumsum(-1) - sorted_p > self.top_p  # [B, V]: beyond the nucleus
            sorted_p = sorted_p.masked_fill(outside, 0.0)
            probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
        return torch.multinomial(probs, 1, generator=self._generator).squeeze(-1)  # [B]

    # --- the Agent API -----------------------------------------------------------------------------
    def reset(self, info: dict[str, Any], slot: int = 0) -> None:
        super().reset(info, slot)
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
            generated = self.generate([ids for ids, _ in prompts], constraints)
            share = (time.perf_counter() - began) / len(chunk)
            for slot, result, (ids, dropped) in zip(chunk, generated, prompts, strict=True):
                steps.append(self._to_step(slot, result, share, dropped, len(ids)))
        return steps

    def add_turn(self, slot: int, text: str, token_ids: Sequence[int] | None = None) -> list[int]:
        """Record a turn another player took in ``slot``'s episode (a guide's, :mod:`agents.guided`): later
        prompts hold ``token_ids`` for it (default: this tokenizer's ids of the text, as for any turn without
        generated ids) as if this model had generated them. Returns the ids recorded."""
        parsed = parse(text)
        ids = list(token_ids) if token_ids is not None else self._ids(text.strip())
        self._episode(slot).turns.append(Turn(thought=parsed.thought, action=parsed.action, text=text))
        self._turn_ids.setdefault(slot, []).append(ids)
        return ids

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
            from distill.spans import completion_masks_from_ids

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
