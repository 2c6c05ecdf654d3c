"""Agents: the Agent contract, the ReAct text format and the agent registry.

    import agents
    agent = agents.make("expert", env="webshop")
    agent = agents.make("lm", model="runs/pipe/students/sad")
"""
from agents.base import Agent, AgentStep, Episode
from agents.registry import AgentSpec, make, names, register, spec

register("expert", "agents.experts:make_expert",
         "scripted teacher for each env (plans from the env's own data)")
register("random", "agents.random_agent:RandomAgent", "picks uniformly from admissible actions: the floor")
register("first-result", "agents.first_result:FirstResultAgent",
         "WebShop baseline: search the instruction, buy result #1 with the options it names")
register("lm", "agents.lm:LMAgent",
         "a transformers causal LM from a local path or preset, batched generation")
register("http", "agents.http:HTTPAgent",
         "an OpenAI-compatible chat/completions server (vLLM, llama.cpp, an API)")
register("guided", "agents.guided:GuidedAgent",
         "a student LM whose turns a teacher LM or the env's expert plays with probability p (OPD)")

__all__ = ["Agent", "AgentSpec", "AgentStep", "Episode", "make", "names", "register", "spec"]
