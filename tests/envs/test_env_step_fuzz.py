"""An env never raises out of ``step``: a few hundred junk actions (Unicode, lone surrogates, NUL, control
characters, brackets, very long text, non-strings) on every page or state an agent can reach, each answered
with an observation and a contract-complete info."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from envs.alfworld import data as alfworld_data
from envs.alfworld.env import ALFWorldEnv
from envs.core import INFO_KEYS, TextEnv
from envs.hotpotqa.env import HotPotQAEnv
from envs.webshop.env import WebShopEnv

PIECES = [
    "\x00", "\ud800", "\udfff", "\u202e", "\u0301", "\U0001f600", "\n", "\r\n", "\t", "\x1b[31m", "\u2028",
    "\ufeff", "[", "]", "[[", "]]", "\\", '"', "'", "<script>", "&amp;", "%s", "{0}", "›", "…", "search",
    "click", "think", "finish", "lookup", "go to", "take", "buy now", "next >", "< prev", "back to search",
    "description", "1", "-1",
]  # fmt: skip
VERBS = ["search", "click", "lookup", "finish", "think", "Search", "CLICK", "go to", "take", "think:", ""]


def junk_actions(n: int = 300, seed: int = 0) -> list[Any]:
    """``n`` actions no agent should send: fixed hard cases, then random mixes of the pieces above and any
    code point (surrogates included), bare, as ``verb[...]``, ``verb ...`` and unbalanced ``verb[``."""
    rng = random.Random(seed)
    actions: list[Any] = [
        "", " ", "\x00", "\ud800", "[]", "[", "]", "search[]", "click[]", "finish[]", "lookup[]", "think[",
        "search[" + "a" * 100_000 + "]", "x" * 300_000, "click[" + "\ud800" * 5_000 + "]",
        "search[" + "[" * 5_000 + "]" * 5_000 + "]", "finish[" + "]" * 1_000, "go to " + "\x00" * 10_000,
        None, 123, 4.5, b"search[bytes]", ["search[list]"], {"click": "x"},
    ]  # fmt: skip
    while len(actions) < n:
        body = "".join(
            rng.choice(PIECES) if rng.random() < 0.5 else chr(rng.randrange(0x110000))
            for _ in range(rng.randrange(40))
        )
        verb = rng.choice(VERBS)
        actions.append(rng.choice([body, f"{verb}[{body}]", f"{verb} {body}", f"{verb}[{body}" * 2]))
    return actions


def fuzz(env: TextEnv, valid_every: int, sensible: list[str] | None = None) -> list[dict[str, Any]]:
    """Step ``env`` through :func:`junk_actions`, taking a random admissible (or ``sensible``) action every
    ``valid_every`` steps so the junk lands on many pages/states; checks each answer; returns the infos
    after the junk actions."""
    rng = random.Random(1)
    _, info = env.reset(seed=0)
    answers = []
    for i, action in enumerate(junk_actions()):
        if i % valid_every == 0:
            listed = [a for a in info["admissible_actions"] or [] if "<" not in a and "buy" not in a]
            choices = listed or sensible or []
            if choices:
                *_, terminated, truncated, info = env.step(rng.choice(choices))
                if terminated or truncated:
                    _, info = env.reset(seed=i)
        obs, reward, terminated, truncated, info = env.step(action)
        assert isinstance(obs, str) and env.observation_space.contains(obs)
        assert isinstance(reward, float) and 0.0 <= reward <= 1.0
        assert set(INFO_KEYS) <= set(info), repr(action)[:80]
        answers.append(info)
        if terminated or truncated:
            _, info = env.reset(seed=i)
    return answers


@pytest.mark.parametrize("mode", ["text", "html"])
def test_webshop_step_never_raises_on_junk(mode: str) -> None:
    env = WebShopEnv(split="test", observation_mode=mode, invalid_actions="explain", show_attrs=True)
    infos = fuzz(env, valid_every=3, sensible=["search[shoes]", "search[red shirt]"])
    assert sum(i["invalid_action"] for i in infos) > 100
    assert {i["page"] for i in infos} == {"search", "results", "item", "sub"}  # junk on every page


def test_hotpotqa_step_never_raises_on_junk() -> None:
    env = HotPotQAEnv(split="test")
    titles = [page.title for page in env.data.store.pages[:20]]
    infos = fuzz(env, valid_every=4, sensible=[f"search[{t}]" for t in titles] + ["lookup[the]"])
    assert sum(i["invalid_action"] for i in infos) > 100


@pytest.fixture(scope="module")
def one_game_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An official-layout tree holding one generated, engine-checked game."""
    root = tmp_path_factory.mktemp("alfworld-one")
    alfworld_data.build_split(root, "valid_unseen", sizes={"pick_and_place_simple": 1}, workers=1)
    return root


@pytest.mark.parametrize("lenient", [False, True])
def test_alfworld_step_never_raises_on_junk(one_game_root: Path, lenient: bool) -> None:
    env = ALFWorldEnv(split="valid_unseen", data=one_game_root, lenient=lenient, max_steps=1_000)
    infos = fuzz(env, valid_every=10)
    assert sum(i["invalid_action"] for i in infos) > 200
    assert len({tuple(i["admissible_actions"]) for i in infos}) > 5  # junk in many states of the game


def test_alfworld_step_before_reset_says_so(one_game_root: Path) -> None:
    """A usage error, as in the other envs: named, not a TypeError from inside the engine."""
    with pytest.raises(RuntimeError, match=r"call reset\(\) before step\(\)"):
        ALFWorldEnv(split="valid_unseen", data=one_game_root).step("look")
