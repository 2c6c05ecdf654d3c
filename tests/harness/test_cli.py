"""The `agentdistill` command: listing subcommands and user errors without tracebacks."""
import subprocess
import sys

from harness import cli


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], check=False, capture_output=True, text=True, timeout=120)


def test_envs_lists_every_env_with_a_description():
    out = run_cli("envs")
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    for name, gym_id in [("alfworld", "agentdistill/ALFWorld-v0"), ("webshop", "agentdistill/WebShop-v0"), ("hotpotqa", "agentdistill/HotPotQA-v0")]:
        line = next(line for line in lines if line.startswith(name))
        assert gym_id in line and len(line.split()) > 3


def test_agents_lists_every_agent():
    out = run_cli("agents")
    assert out.returncode == 0
    assert {line.split()[0] for line in out.stdout.splitlines()} >= {"expert", "random", "lm", "http"}


def test_every_subcommand_is_wired():
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    assert set(subparsers) == set(cli.COMMANDS)
    for name, sub in subparsers.items():
        assert sub.get_default("_missing") is None, f"{name}: {sub.get_default('_missing')}"


def test_unknown_subcommand_exits_nonzero():
    out = run_cli("fly")
    assert out.returncode != 0 and "invalid choice" in out.stderr
