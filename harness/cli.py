"""The ``agentdistill`` command. Each subcommand lives in its own module, which provides
``add_arguments(parser)`` and ``run(args) -> int``; this file only wires them together.

User mistakes (:func:`harness.errors.one_line_errors`: a :class:`harness.errors.UserError` for unknown
names and bad values; a ``FileNotFoundError``, whose message names the missing path;
``agents.http.HTTPError``: a refusing or unreachable server, also when it is raised in a Ray actor)
print one clear line and exit 2; so does a full disk (``OSError`` ENOSPC, also as the cause of another
error), naming what could not be written. Set ``AGENTDISTILL_DEBUG=1`` to see the traceback instead. The
line never shows a secret given on the command line (``--agent-opt api_key=...``) nor a raw control
character. Any other exception is a bug: it shows its traceback and exits 1.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

from agents.redact import redact_text
from harness.errors import disk_full, disk_full_message, one_line, one_line_errors, user_input
from harness.provenance import secret_values


@dataclass(frozen=True)
class Command:
    """A subcommand: the module with ``add_arguments``/``run``, its help, and optionally a function
    of that module that only checks the options (its ``ValueError``/``KeyError``/... are user errors)."""

    module: str
    help: str
    check: str | None = None


COMMANDS: dict[str, Command] = {
    "envs": Command("harness.cli", "list the registered environments"),
    "agents": Command("harness.cli", "list the registered agents"),
    "eval": Command("harness.evaluate", "closed-loop evaluation of an agent on an env's test split"),
    "rollout": Command("harness.evaluate", "roll out an agent on any split and log the episodes"),
    "train": Command(
        "distill.cli",
        "supervised fine-tuning on logged episodes (e.g. a teacher from expert demos)",
        check="config_from_args",
    ),
    "distill": Command(
        "distill.cli",
        "distil a student from a teacher's logged episodes (sad | token_kd | sft)",
        check="config_from_args",
    ),
    "pipeline": Command(
        "harness.experiment.pipeline", "the closed loop: demos -> teacher -> students -> eval -> report"
    ),
    "report": Command("harness.report", "rebuild a pipeline's report from its stored runs"),
    "compare": Command("harness.compare", "two agents' runs, paired on the tasks and env seeds both played"),
    "bench": Command("harness.bench.cli", "speed and memory figures, measured side by side"),
    "serve": Command("envs.webshop.server", "serve the WebShop engine as a website on 127.0.0.1",
                     check="check_args"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``envs`` and ``agents`` take no options."""


def run(args: argparse.Namespace) -> int:
    """List the registered environments or agents."""
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
    """The argument parser with every subcommand; one whose module cannot be imported says why when run."""
    parser = argparse.ArgumentParser(prog="agentdistill", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        p = sub.add_parser(name, help=command.help, description=command.help)
        try:
            import_module(command.module).add_arguments(p)
        except ModuleNotFoundError as err:
            p.set_defaults(_missing=f"'{name}' is not available: {err}")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; the exit status (0 done, 1 failed, 2 user error, 130 interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args._argv = argv  # recorded (secrets masked) in the run metadata
    if getattr(args, "_missing", None):
        print(f"agentdistill: {args._missing}", file=sys.stderr)
        return 2
    command = COMMANDS[args.command]
    module = import_module(command.module)
    try:
        if command.check:
            with user_input("options"):
                getattr(module, command.check)(args)
        return int(module.run(args) or 0)
    except one_line_errors() as err:
        if os.environ.get("AGENTDISTILL_DEBUG"):
            raise
        _error_line(args, str(err), argv)
        return 2
    except KeyboardInterrupt:
        print(f"agentdistill {args.command}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except Exception as err:
        full = disk_full(err)
        if full is None or os.environ.get("AGENTDISTILL_DEBUG"):
            raise
        _error_line(args, disk_full_message(full, _output_location(args)), argv)
        return 2


def _error_line(args: argparse.Namespace, message: str, argv: list[str]) -> None:
    """Print ``message`` as the command's one error line (secrets masked, control characters escaped)."""
    line = one_line(redact_text(message, secret_values(argv)))
    print(f"agentdistill {args.command}: error: {line}", file=sys.stderr)


def _output_location(args: argparse.Namespace) -> Path | None:
    """Where the command writes (``--out``, else the run under ``--runs-dir``, else the run dir it names)."""
    out, run, runs_dir = (getattr(args, name, None) for name in ("out", "run", "runs_dir"))
    if out:
        return Path(out)
    if run and (os.sep in str(run) or Path(run).is_absolute() or not runs_dir):
        return Path(run)
    if runs_dir:
        return Path(runs_dir) / run if run else Path(runs_dir)
    return None


if __name__ == "__main__":
    sys.exit(main())
