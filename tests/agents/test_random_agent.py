"""The random agent: uniform over admissible actions, template actions otherwise, reproducible per slot."""
from __future__ import annotations

import agents


def test_picks_admissible_actions_reproducibly_per_slot():
    info = {"task": "buy shoes", "admissible_actions": ["click[a]", "click[b]", "click[c]", "search[x]"]}
    first, second = agents.make("random", env="webshop", seed=3), agents.make("random", env="webshop", seed=3)
    first.reset(info, slot=5)
    for slot in (0, 5):  # another slot in the batch does not change slot 5's choices
        second.reset(info, slot=slot)
    a = [first.act("page", info, slot=5).action for _ in range(20)]
    b = [second.act_batch(["page", "page"], [info, info], slots=[0, 5])[1].action for _ in range(20)]
    assert a == b and set(a) <= set(info["admissible_actions"]) and len(set(a)) > 1


def test_template_actions_when_the_env_has_no_list():
    agent = agents.make("random", env="hotpotqa", seed=0)
    agent.reset({"task": "Who founded Arthur's Magazine?", "admissible_actions": None})
    actions = {agent.act("Search for an entity.").action for _ in range(30)}
    assert all(a.split("[")[0] in {"search", "lookup", "finish"} and a.endswith("]") for a in actions)
    assert len(actions) > 3
