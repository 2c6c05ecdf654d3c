"""Gymnasium text environments for ALFWorld, HotPotQA-ReAct and WebShop, and their registry.

    import envs
    env = envs.make("webshop", split="test")       # or gymnasium.make("agentdistill/WebShop-v0")

Environments import nothing from agents/, distill/ or harness/.
"""
from envs.registry import EnvSpec, make, names, register, spec

register(
    "alfworld",
    "envs.alfworld.env:ALFWorldEnv",
    gym_id="agentdistill/ALFWorld-v0",
    description=(
        "ALFWorld household tasks played on the real TextWorld PDDL engine (generated or official games)"
    ),
)
register(
    "hotpotqa",
    "envs.hotpotqa.env:HotPotQAEnv",
    gym_id="agentdistill/HotPotQA-v0",
    description="HotPotQA multi-hop QA with ReAct's search/lookup/finish over a local page store",
)
register(
    "webshop",
    "envs.webshop.env:WebShopEnv",
    gym_id="agentdistill/WebShop-v0",
    description="WebShop online shopping: search, pick a product and its options, buy (upstream reward)",
)

__all__ = ["EnvSpec", "make", "names", "register", "spec"]
