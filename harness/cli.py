"""The ``agentdistill`` command. Each subcommand lives in its own module, which provides
``add_arguments(parser)`` and ``run(args) -> int``; this file only wires them together.

User mistakes (unknown names, missing files, bad values) print one clear line and exit 2;
set ``AGENTDISTILL_DEBUG=1`` to see the traceback instead.
"""
from __future__ import annotations

import argparse
import os
import sys
from importlib import import_module

#: subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "envs": ("harness.cli", "list the registered environments"),
    "agents": ("harness.cli", "list the registered agents"),
    "eval": ("harness.evaluate", "closed-loop evaluation of an agent on an env's test split"),
    "rollout": ("harness.evaluate", "roll out an agent on any split and log the episodes"),
    "train": ("distill.cli", "supervised fine-tuning on logged episodes (e.g. a teacher from expert demos)"),
    "distill": ("distill.cli", "distil a student from a teacher's logged episodes (sad | token_kd | sft)"),
    "pipeline": ("harness.pipeline", "the closed loop: demos -> teacher -> students -> eval -> report"),
    "report": ("harness.report", "rebuild a pipeline's report from its stored runs"),
    "bench": ("harness.bench", "speed and memory figures, measured side by side"),
    "serve": ("envs.webshop.server", "serve the WebShop engine as a website on 127.0.0.1"),
}


class UserError(Exception):
    """A mistake in what the user asked for; printed without a traceback."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``envs`` and ``agents`` take no options."""


def run(args: argparse.Namespace) -> int:
    if args.command == "envs":
        import envs

        for name in envs.names():
            spec = envs.spec(name)
            print(f"{name:<10} {spec.gym_id:<28} {spec.description}")
    else:
        import agents

        for name in agents.names():
            print(f"{name:<10} {agents.spec(name).description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentdistill", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        try:
            import_module(module).add_arguments(p)
        except ModuleNotFoundError as err:
            p.set_defaults(_missing=f"'{name}' is not available: {err}")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "_missing", None):
        print(f"agentdistill: {args._missing}", file=sys.stderr)
        return 2
    from agents.http import HTTPError  # a refusing or unreachable server is the user's to fix

    try:
        return int(import_module(args._module).run(args) or 0)
    except (UserError, KeyError, FileNotFoundError, ValueError, HTTPError) as err:
        if os.environ.get("AGENTDISTILL_DEBUG"):
            raise
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"agentdistill {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"agentdistill {args.command}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
