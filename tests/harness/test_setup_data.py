"""`python -m harness.setup_data`: what it builds goes under one cache root."""
from pathlib import Path

from distill.models import cache_root
from envs.cache import cache_dir
from harness import setup_data


def test_envs_and_distill_resolve_the_same_cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTDISTILL_CACHE", str(tmp_path / "cache"))
    assert cache_dir() == cache_root() == tmp_path / "cache"
    assert cache_dir("webshop", "index") == tmp_path / "cache" / "webshop" / "index"
    monkeypatch.delenv("AGENTDISTILL_CACHE")
    assert cache_dir() == cache_root() == Path.home() / ".cache" / "agentdistill"


def test_unknown_data_is_refused_with_the_choices(capsys):
    assert setup_data.main(["webshop", "imagenet"]) == 2
    assert (
        "unknown data ['imagenet']; choose from ['webshop', 'hotpotqa', 'alfworld', 'smollm2']"
        in capsys.readouterr().err
    )
