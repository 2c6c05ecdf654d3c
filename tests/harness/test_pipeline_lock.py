"""One pipeline per directory: ``agentdistill pipeline`` holds ``run.lock`` in its directory for the whole
run; a second one on the same ``--run`` is refused naming the holder, a dead holder's lock is taken over."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from harness import cli

REPO = Path(__file__).resolve().parents[2]
#: a real second process that holds a pipeline directory's lock until it is killed
HOLD_LOCK = ("import sys, time\nfrom harness.run_dir import RunLock\n"
             "RunLock(sys.argv[1], kind='pipeline').acquire()\nprint('locked', flush=True)\ntime.sleep(120)")


def _pipeline(runs: Path, env: str = "webshop") -> list[str]:
    return ["pipeline", "--env", env, "--preset", "tiny", "--runs-dir", str(runs), "--run", "p",
            "--workers", "0"]


def test_a_second_pipeline_on_a_directory_being_run_is_refused_naming_the_holder(tmp_path, capsys):
    root = tmp_path / "p"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(root)], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert cli.main(_pipeline(tmp_path)) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("agentdistill pipeline: error: ")
        holder_line = f"(pid {holder.pid} on {socket.gethostname()} since "
        assert f"{root} is being run by another pipeline {holder_line}" in err
        assert f", holding {root / 'run.lock'}); wait for it to end, or pick another --run" in err
        assert sorted(p.name for p in root.iterdir()) == ["run.lock"]  # nothing of the second run written
        # an eval on the pipeline's directory is refused the same way
        assert cli.main(["eval", "--env", "webshop", "--agent", "random", "--episodes", "1", "--workers", "0",
                         "--run", str(root), "--no-progress"]) == 2
        assert f"is being run by another pipeline (pid {holder.pid} on " in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()


def test_a_dead_pipelines_lock_is_taken_over_and_released(tmp_path, capsys):
    """A lock left by a pipeline that died (a pid that no longer runs, no flock) is taken over; the lock is
    held while the run goes on (here it stops at once: --env all on a single-env directory) and removed."""
    root = tmp_path / "p"
    root.mkdir()
    (root / "pipeline.json").write_text(json.dumps({"env": "webshop", "preset": "tiny"}))
    (root / "run.lock").write_text("999999999 gone-host 2020-01-01T00:00:00+00:00 pipeline\n")
    assert cli.main(_pipeline(tmp_path, env="all")) == 2
    err = capsys.readouterr().err
    assert (f"note: {root / 'run.lock'} was left by pid 999999999 on gone-host since "
            "2020-01-01T00:00:00+00:00, which has ended; taking it over") in err
    assert f"{root} holds a single-env pipeline; pick another --run for --env all" in err
    assert not (root / "run.lock").exists()
