"""The TextEnv contract: invalid actions never raise, truncation, info keys, the Unicode space."""
import pytest

from envs.core import INFO_KEYS, InvalidAction, TextEnv, UnicodeText


class CountingEnv(TextEnv):
    """The smallest real TextEnv: say `count[n]` with the next number; reaching 3 wins."""

    def __init__(self, max_steps=5):
        super().__init__(max_steps=max_steps)
        self.n = 0

    @property
    def task_ids(self):
        return ["count-to-3"]

    def _reset(self, task_id):
        self.n = 0
        info = {
            "task_id": task_id,
            "task": "count to 3",
            "admissible_actions": ["count[1]"],
            "won": False,
            "score": 0.0,
        }
        return "Say count[1].", info

    def _step(self, action):
        if action != f"count[{self.n + 1}]":
            raise InvalidAction(f"Invalid action: {action[:40]!r}; expected count[{self.n + 1}]")
        self.n += 1
        won = self.n == 3
        info = {"admissible_actions": [f"count[{self.n + 1}]"], "won": won, "score": float(won)}
        return f"You said {self.n}.", float(won), won, info


def test_unicode_text_space_contains_any_string():
    space = UnicodeText(10)
    assert space.contains("héllo ✓")
    assert not space.contains("x" * 11)
    assert not space.contains(3)
    assert space.contains(space.sample())


def test_invalid_action_is_an_observation_not_an_exception():
    env = CountingEnv()
    obs, info = env.reset(seed=0)
    assert set(INFO_KEYS) <= set(info) and info["invalid_action"] is False
    obs, reward, terminated, _, info = env.step("\x00 ☃ " * 1000)
    assert info["invalid_action"] is True and reward == 0.0 and not terminated
    assert "expected count[1]" in obs and env.steps == 1
    assert info["task_id"] == "count-to-3"  # keys set at reset stay in every info


def test_win_and_truncation():
    env = CountingEnv(max_steps=3)
    env.reset(seed=0)
    for n in (1, 2):
        *_, terminated, truncated, info = env.step(f"count[{n}]")
        assert not terminated and not truncated
    _, reward, terminated, truncated, info = env.step("count[3]")
    assert reward == 1.0 and terminated and not truncated and info["won"]
    env.reset(seed=0)
    for _ in range(3):
        *_, terminated, truncated, _ = env.step("wrong")
    assert truncated and not terminated


def test_missing_info_keys_are_a_contract_error():
    class Broken(CountingEnv):
        def _reset(self, task_id):
            return "obs", {"task_id": task_id}

    with pytest.raises(RuntimeError, match="left info keys"):
        Broken().reset(seed=0)
