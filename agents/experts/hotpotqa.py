"""Scripted HotPotQA expert: follows the supporting facts with ReAct-style thoughts.

It reads the privileged ``info["gold"]`` the env provides (gold answer, supporting facts and their
sentences, and for the generated world the hops with lookup keywords and worked thoughts) and
plays like the ReAct authors' ``webthink_simple6`` trajectories:

    Thought: I need to search Dark Harbour, find who directed it, then find where the director was born.
    Action: Search[Dark Harbour]
    Thought: It does not say who directed it. So I need to look up directed.
    Action: Lookup[directed]
    Thought: Dark Harbour was directed by Iris Vantell. So I need to search Iris Vantell next and ...
    ...
    Action: Finish[Corvale]

The policy is a function of the episode's turns so far (no hidden state): the hop to work on is
the number of searches made; a hop is done once its supporting sentence has been observed (or a
lookup ran out); with one step left it answers at once.
"""
from __future__ import annotations

import re
import time
from typing import Any

from agents.base import Agent, AgentStep, Episode
from agents.react import format_turn

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{3,}")
_STOPWORDS = frozenset(["what", "which", "where", "when", "who", "whom", "whose", "that", "this", "there", "their", "they", "were", "was", "with", "from", "into", "have", "has", "had", "been", "also", "both", "same", "than", "then", "does", "did", "many", "much", "more", "most", "other", "about"])


def _hops_from_evidence(question: str, gold: dict[str, Any]) -> list[dict[str, Any]]:
    """Hops for data without worked hops (official HotPotQA): one per supporting title, those named
    in the question first, each looked up by a question word its first supporting sentence contains."""
    titles: list[str] = []
    sentences: dict[str, str] = {}
    for (title, _), evidence in zip(gold["supporting_facts"], gold["evidence"]):
        if title not in sentences:
            titles.append(title)
            sentences[title] = evidence
    titles.sort(key=lambda t: t.lower() not in question.lower())
    question_words = {w.lower() for w in _WORD.findall(question)} - _STOPWORDS
    hops = []
    for title in titles:
        sentence = sentences[title]
        words = _WORD.findall(sentence)
        shared = [w for w in words if w.lower() in question_words and w.lower() not in title.lower()]
        keyword = (shared or sorted(words, key=len, reverse=True) or [title])[0]
        hops.append({"title": title, "keyword": keyword, "fact": sentence.rstrip(". "), "need": "find the relevant facts",
                     "evidence": sentence})
    return hops


class HotPotQAExpert(Agent):
    """Scripted teacher for ``hotpotqa``: search each supporting page, look up what the first sentences
    do not show, finish with the gold answer."""

    description = "scripted HotPotQA expert: follows the supporting facts (privileged) with ReAct thoughts"

    def __init__(self, **kwargs: Any):
        super().__init__()
        if kwargs:
            raise TypeError(f"HotPotQAExpert takes no options, got {sorted(kwargs)}")

    def step(self, episode: Episode, observation: str, info: dict[str, Any]) -> AgentStep:
        start = time.perf_counter()
        thought, action = self._decide(episode, info or episode.info)
        return AgentStep(thought=thought, action=action, text=format_turn(thought, action),
                         latency_s=time.perf_counter() - start)

    def _decide(self, episode: Episode, info: dict[str, Any]) -> tuple[str, str]:
        gold = info.get("gold") or episode.info.get("gold")
        if not gold:
            raise ValueError("HotPotQAExpert needs info['gold'] from the hotpotqa env (reset info)")
        answer = gold["answer"]
        hops = [dict(h, evidence=gold["evidence"][i] if i < len(gold["evidence"]) else "") for i, h in enumerate(gold["hops"])]
        if not hops:
            hops = _hops_from_evidence(episode.task, gold)
        conclusion = gold.get("conclusion") or f"So the answer is {answer}."
        finish = f"Finish[{answer}]"
        if not episode.turns:
            plan = gold.get("plan") or f"I need to search {' and '.join(h['title'] for h in hops)} to answer the question."
            return plan, f"Search[{hops[0]['title']}]" if hops else finish
        searches = [i for i, turn in enumerate(episode.turns) if turn.action.startswith("Search[")]
        index = len(searches) - 1
        hop = hops[index]
        since_search = episode.turns[searches[-1]:]
        seen = any(hop["evidence"] and hop["evidence"] in (t.observation or "") for t in since_search)
        last = episode.turns[-1]
        exhausted = (last.observation or "").startswith(("No more results", "Could not find"))
        steps_left = int(info.get("max_steps", episode.info.get("max_steps", 7))) - len(episode.turns)
        if seen or exhausted or steps_left <= 1:
            found = f"{hop['fact']}. " if seen else ""
            if index + 1 < len(hops) and steps_left > 1:
                nxt = hops[index + 1]
                return f"{found}So I need to search {nxt['title']} next and {nxt['need']}.", f"Search[{nxt['title']}]"
            return f"{found}{conclusion}", finish
        keyword = hop["keyword"]
        if last.action == f"Lookup[{keyword}]":
            return f"This is not the sentence I need. I will look up {keyword} again.", f"Lookup[{keyword}]"
        wanted = hop["need"].removeprefix("find ")
        return f"It does not say {wanted}. So I need to look up {keyword}.", f"Lookup[{keyword}]"
