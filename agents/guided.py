"""The guided agent: a student LM whose turns a guide plays instead, each with probability ``guide_p``.

    agent = agents.make("guided", model="runs/p/students/opd/round_0/model", env="webshop",
                        guide="teacher", teacher="runs/p/teacher", guide_p=0.5, round_index=1, seed=0)

The rollouts of on-policy distillation (issue 18): teacher-guided OPD (the teacher plays a turn with
probability p, p decaying to 0 over the rounds) and DAgger (the env's per-step expert plays it). Per turn
a coin decides who plays: the student (an :class:`agents.lm.LMAgent`) or the guide, which is

- ``guide="teacher"``: an LMAgent on ``teacher`` with the student's options (same tokenizer, same prompt);
- ``guide="expert"``: the env's scripted expert, asked :meth:`agents.experts.Expert.relabel` on the episode
  so far (any history, the student's turns included) with the step's info;
- ``guide="none"``: nobody; the student plays every turn.

The coin of a turn is :func:`guide_coin` of (seed, round_index, task_id, step) alone, so every method,
worker count and batch composition sees the same coins: ``guide_p=0`` plays exactly the student,
``guide_p=1`` exactly the guide. A guide's steps carry ``guided=True``.

Both players share one history. A turn is appended to the other player's episode with the ids that
player's next prompt splices in (:meth:`agents.lm.LMAgent.add_turn`): a teacher turn with the teacher's
generated ``token_ids`` (same tokenizer), a student turn with the student's. An expert has text only: its
turn enters the student's prompt as the student tokenizer's ids of the text (what the prompt and
``distill.data`` use for any turn without generated ids), and those ids are logged as its ``token_ids``
with the student's prompt as its context (``n_dropped_turns``, ``prompt_tokens``), so every row of a
guided episode records the exact context and tokens the student trains on.

Batching: one call serves many episodes; the student's turns of the call are generated in one
``LMAgent.act_batch``, the teacher's in another, so the harness runs this agent in its batched policy
actor like the plain LM agent.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents.base import Agent, AgentStep
from agents.lm import LMAgent
from agents.spans import completion_masks_from_ids

#: who plays a turn when the coin says "guide"
GUIDES = ("teacher", "expert", "none")


def guide_coin(seed: int, round_index: int, task_id: str, step: int) -> float:
    """A number in [0, 1) that depends on its arguments alone (BLAKE2b of them): the guide plays turn
    ``step`` of an episode of ``task_id`` in round ``round_index`` when it is below p."""
    digest = hashlib.blake2b(f"{seed}:{round_index}:{task_id}:{step}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class GuidedAgent(Agent):
    """A student LM agent with a guide that plays each turn instead with probability ``guide_p``
    (see the module docstring). ``lm_options`` (max_new_tokens, device, max_prompt_tokens, log_topk, ...)
    go to the student and to a teacher guide alike; ``temperature`` to the student alone (on-policy rollouts
    sample the student's turns from its sampler seeded by ``seed``; a teacher guide decodes greedily)."""

    description = "a student LM whose turns a teacher LM or the env's expert plays with probability p (OPD)"
    batched = True

    def __init__(
        self,
        model: str | Path,
        env: str = "",
        *,
        guide: str = "teacher",
        teacher: str | Path | None = None,
        guide_p: float = 0.0,
        round_index: int = 0,
        seed: int = 0,
        temperature: float = 0.0,
        **lm_options: Any,
    ):
        super().__init__()
        if guide not in GUIDES:
            raise ValueError(f"guide={guide!r}: expected one of {', '.join(GUIDES)}")
        if not 0.0 <= float(guide_p) <= 1.0:
            raise ValueError(f"guide_p={guide_p!r}: expected a probability in [0, 1]")
        if guide == "teacher" and not teacher:
            raise ValueError("guide='teacher' needs teacher=PATH (a model sharing the student's tokenizer)")
        self.guide, self.guide_p = guide, float(guide_p)
        self.round_index, self.seed = int(round_index), int(seed)
        self.student = LMAgent(model, env, seed=seed, temperature=temperature, **lm_options)
        self.teacher = LMAgent(teacher, env, seed=seed, **lm_options) if guide == "teacher" else None
        self.expert = None
        if guide == "expert":
            from agents.experts import make_expert

            self.expert = make_expert(env)
        self.episodes = self.student.episodes  # the episode of record; the harness forgets finished ones here
        self._task_ids: dict[int, str] = {}
        self._budget_shared = "max_prompt_tokens" in lm_options

    def guided(self, slot: int) -> bool:
        """Whether the guide plays the next turn of the episode in ``slot``."""
        if self.guide == "none":
            return False
        step = len(self._episode(slot).turns)
        return guide_coin(self.seed, self.round_index, self._task_ids[slot], step) < self.guide_p

    def reset(self, info: dict[str, Any], slot: int = 0) -> None:
        if not info.get("task_id"):
            raise ValueError("GuidedAgent needs info['task_id'] from env.reset (the task seeds its coins)")
        self.student.reset(info, slot)
        if self.teacher is not None:
            for forgotten in set(self.teacher.episodes) - set(self.episodes):  # the harness forgot them
                del self.teacher.episodes[forgotten]  # (and with them the teacher's cache of the slot)
            self.teacher.reset(info, slot)
        self._task_ids[slot] = str(info["task_id"])

    def act_batch(
        self,
        observations: Sequence[str],
        infos: Sequence[dict[str, Any]] | None = None,
        slots: Sequence[int] | None = None,
    ) -> list[AgentStep]:
        """One turn for every (observation, info, slot): the student's turns in one batched generation, the
        teacher's in another, the expert's one by one."""
        slots = list(range(len(observations))) if slots is None else list(slots)
        infos = [{} for _ in slots] if infos is None else list(infos)
        if not len(observations) == len(infos) == len(slots):
            raise ValueError(
                f"act_batch got {len(observations)} observations, {len(infos)} infos, {len(slots)} slots"
            )
        self._share_prompt_budget()
        for observation, slot in zip(observations, slots, strict=True):
            self._episode(slot).observe(observation)
            if self.teacher is not None:
                self.teacher._episode(slot).observe(observation)
        by_guide = [self.guided(slot) for slot in slots]
        student = [i for i, guided in enumerate(by_guide) if not guided]
        guide = [i for i, guided in enumerate(by_guide) if guided]
        steps: dict[int, AgentStep] = {}
        if student:
            played = self.student.act_batch([observations[i] for i in student], [infos[i] for i in student],
                                            slots=[slots[i] for i in student])
            for i, step in zip(student, played, strict=True):
                if self.teacher is not None:
                    self.teacher.add_turn(slots[i], step.text, step.token_ids)
                steps[i] = step
        if guide and self.teacher is not None:
            played = self.teacher.act_batch([observations[i] for i in guide], [infos[i] for i in guide],
                                            slots=[slots[i] for i in guide])
            for i, step in zip(guide, played, strict=True):
                self.student.add_turn(slots[i], step.text, step.token_ids)
                step.guided = True
                steps[i] = step
        for i in guide if self.expert is not None else []:
            steps[i] = self._expert_turn(slots[i], infos[i])
        return [steps[i] for i in range(len(slots))]

    def _expert_turn(self, slot: int, info: dict[str, Any]) -> AgentStep:
        """The expert's relabel of the student's episode so far, logged with the ids and context it has in
        the student's prompt."""
        assert self.expert is not None
        began = time.perf_counter()
        step = self.expert.relabel(self._episode(slot), info)
        prompt, dropped = self.student.prompt(slot)
        step.token_ids = self.student.add_turn(slot, step.text)
        step.n_dropped_turns, step.prompt_tokens = dropped, len(prompt)
        tokenizer = self.student.tokenizer
        if getattr(tokenizer, "is_fast", False):
            reason, act = completion_masks_from_ids(tokenizer, step.token_ids)
            step.n_reason_tokens, step.n_act_tokens = sum(reason), sum(act)
        step.latency_s = step.latency_s or time.perf_counter() - began
        step.guided = True
        return step

    def _share_prompt_budget(self) -> None:
        """A teacher guide fits its prompt to the student's budget, so that both see one context: with no
        ``max_prompt_tokens`` given, each LMAgent would take its own from its model's context length."""
        if self.teacher is None or self._budget_shared:
            return
        self.student.load()
        self.teacher.max_prompt_tokens = self.student.max_prompt_tokens
        self._budget_shared = True
