"""Ctrl-C always stops ``eval`` and ``pipeline`` with exit status 130, also when Python drops the
``KeyboardInterrupt`` because SIGINT arrived inside a finaliser ("Exception ignored in ...__del__")."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness import interrupt
from harness.experiment.stages import StageRunner, Unit, read_marker

REPO = Path(__file__).resolve().parents[2]


class Finalised:
    """An object whose finaliser is where SIGINT arrives (as with regex's ``SetBase.__del__``)."""

    def __del__(self) -> None:
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        for _ in range(1_000_000):  # Python runs the handler here, inside the finaliser, which drops it
            pass


#: ``eval`` of an agent whose third turn drops a :class:`Finalised`; the exit status is the command's
LOST_IN_A_FINALISER = """
import signal, sys, threading
import agents
from agents.random_agent import RandomAgent
from harness import cli


class Finalised:
    def __del__(self):
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        for _ in range(1_000_000):
            pass


class Interrupted(RandomAgent):
    turns = 0

    def step(self, episode, observation, info):
        Interrupted.turns += 1
        if Interrupted.turns == 3:
            Finalised()  # dropped at once: SIGINT arrives in its finaliser
        return super().step(episode, observation, info)


agents.register("interrupted", Interrupted)
sys.exit(cli.main(["eval", "--env", "webshop", "--agent", "interrupted", "--episodes", "20", "--workers", "0",
                   "--run", sys.argv[1], "--no-progress"]))
"""


def test_eval_stops_with_130_when_the_interrupt_is_lost_in_a_finaliser(tmp_path):
    run = tmp_path / "r"
    done = subprocess.run([sys.executable, "-c", LOST_IN_A_FINALISER, str(run)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert "Exception ignored in" in done.stderr and "KeyboardInterrupt" in done.stderr  # Python dropped it
    assert done.returncode == 130, done.stderr[-2000:]
    assert "agentdistill eval: interrupted; rerun the same command to resume" in done.stderr
    assert not (run / "summary.json").exists() and not (run / "run.lock").exists()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_unit_whose_interrupt_was_lost_stops_the_pipeline_unmarked(tmp_path):
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    def work() -> dict[str, float]:
        Finalised()
        return {"success_rate": 1.0}

    unit = Unit("demos", tmp_path / "demos", {}, (), work)
    with pytest.raises(KeyboardInterrupt), interrupt.sigint_recorded():
        StageRunner(tmp_path, "webshop", set()).run_unit(unit)
    assert read_marker(tmp_path / "demos") is None  # a rerun redoes it
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    interrupt.check()  # the record ends with the block: nothing left to raise


@pytest.mark.slow
def test_ctrl_c_during_a_pipelines_eval_stage_exits_130(tmp_path):
    """A real Ctrl-C (SIGINT to the whole process group, as a terminal sends it) while the demos stage plays
    on a Ray worker: the pipeline stops with 130, the stage unmarked, the lock released."""
    root = tmp_path / "p"
    command = [sys.executable, "-m", "harness.cli", "pipeline", "--env", "webshop", "--preset", "tiny",
               "--runs-dir", str(tmp_path), "--run", "p", "--demo-episodes", "5000", "--workers", "1"]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 50
        while not (root / "demos" / "episodes").is_dir():  # episodes are being played and written
            assert proc.poll() is None and time.monotonic() < deadline, "the demos stage never started"
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err[-2000:]
    assert "agentdistill pipeline: interrupted; rerun the same command to resume" in err
    assert read_marker(root / "demos") is None and not (root / "run.lock").exists()
