"""The env registry: names, Gymnasium ids, unknown names, entry-point plugins."""
from importlib.metadata import EntryPoint

import gymnasium
import pytest

import envs
from envs import registry


def test_builtin_names_and_gym_ids():
    assert {"alfworld", "hotpotqa", "webshop"} <= set(envs.names())
    assert envs.spec("webshop").gym_id == "agentdistill/WebShop-v0"
    assert envs.spec("alfworld").gym_id == "agentdistill/ALFWorld-v0"
    assert envs.spec("hotpotqa").gym_id == "agentdistill/HotPotQA-v0"
    for name in ("alfworld", "hotpotqa", "webshop"):
        assert envs.spec(name).gym_id in gymnasium.registry


def test_unknown_name_lists_known_ones():
    with pytest.raises(KeyError) as err:
        envs.make("minecraft")
    assert "minecraft" in str(err.value) and "webshop" in str(err.value)


def test_register_round_trip():
    spec = envs.register("roundtrip-test", "envs.webshop.env:WebShopEnv", description="a test entry")
    assert "roundtrip-test" in envs.names()
    assert envs.spec("roundtrip-test") == spec
    assert spec.gym_id == "agentdistill/roundtrip-test-v0" and spec.gym_id in gymnasium.registry


def test_entry_point_plugin_is_loaded(monkeypatch):
    plugin = EntryPoint(
        name="plugin-env", value="envs.hotpotqa.env:HotPotQAEnv", group=registry.ENTRY_POINT_GROUP
    )

    def fake_entry_points(group):
        return [plugin] if group == registry.ENTRY_POINT_GROUP else []

    monkeypatch.setattr(registry, "entry_points", fake_entry_points)
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    assert "plugin-env" in envs.names()
    assert envs.spec("plugin-env").entry_point == "envs.hotpotqa.env:HotPotQAEnv"
