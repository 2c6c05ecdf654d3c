"""The agent registry: builtin names, unknown names, register round trip, entry-point plugins."""
from importlib.metadata import EntryPoint

import pytest

import agents
from agents import registry
from agents.base import Agent, AgentStep


class EchoAgent(Agent):
    description = "repeats the observation as its action"

    def step(self, episode, observation, info):
        return AgentStep(thought="echo", action=observation, text=f"Thought: echo\nAction: {observation}")


def make_echo(**kwargs):
    return EchoAgent()


def test_builtin_names():
    assert {"expert", "random", "lm", "http"} <= set(agents.names())


def test_unknown_agent_lists_known_ones():
    with pytest.raises(KeyError) as err:
        agents.make("oracle")
    assert "oracle" in str(err.value) and "expert" in str(err.value)


def test_expert_for_unknown_env_is_a_clear_error():
    with pytest.raises(KeyError, match="no expert agent for env 'chess'"):
        agents.make("expert", env="chess")


def test_register_callable_and_act():
    agents.register("echo-test", make_echo, "test agent")
    agent = agents.make("echo-test")
    agent.reset({"task": "t"})
    step = agent.act("look")
    assert step.action == "look"
    assert agent.episodes[0].first_observation == "look" and len(agent.episodes[0].turns) == 1
    agent.act("next obs")
    assert agent.episodes[0].turns[0].observation == "next obs"


def test_act_batch_keeps_slots_apart():
    agent = EchoAgent()
    agent.reset({"task": "a"}, slot=3)
    agent.reset({"task": "b"}, slot=7)
    steps = agent.act_batch(["x", "y"], [{}, {}], slots=[7, 3])
    assert [s.action for s in steps] == ["x", "y"]
    assert agent.episodes[7].first_observation == "x" and agent.episodes[3].first_observation == "y"
    with pytest.raises(RuntimeError, match="slot 9 has no episode"):
        agent.act("z", slot=9)


def test_entry_point_plugin(monkeypatch):
    plugin = EntryPoint(name="plugin-agent", value=f"{__name__}:make_echo", group=registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(
        registry, "entry_points", lambda group: [plugin] if group == registry.ENTRY_POINT_GROUP else []
    )
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    assert "plugin-agent" in agents.names()
    assert isinstance(agents.make("plugin-agent"), EchoAgent)
