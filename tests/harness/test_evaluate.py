"""`agentdistill eval` / `rollout`: which agent runs, bad input, the command end to end; secrets kept out
of run files and messages, bad replies failing only their episode, data provenance, the run lock."""
from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agents.base import Agent, AgentStep
from agents.errors import EpisodeError, TurnErrors
from harness import cli
from harness.errors import UserError
from harness.evaluate import evaluate, newest_student, resolve_agent
from harness.logs import read_episodes


def student(root, name: str, env: str, created: str, kind: str = "student"):
    path = root / name
    path.mkdir(parents=True)
    (path / "agentdistill.json").write_text(
        json.dumps({"kind": kind, "env": env, "method": "sad", "preset": "tiny", "created": created})
    )
    return path


def test_default_agent_is_the_newest_student_for_the_env_else_expert(tmp_path):
    assert resolve_agent("", "webshop", tmp_path)[0] == "expert"
    assert "no trained student for webshop" in resolve_agent("", "webshop", tmp_path)[2]
    student(tmp_path, "p1/students/sad", "webshop", "2025-01-01T00:00:00")
    newest = student(tmp_path, "p2/students/sft", "webshop", "2025-03-01T00:00:00")
    student(tmp_path, "p3/students/sad", "hotpotqa", "2025-06-01T00:00:00")
    student(tmp_path, "p4/teacher", "webshop", "2025-09-01T00:00:00", kind="teacher")
    assert newest_student("webshop", tmp_path) == newest
    name, kwargs, label = resolve_agent("", "webshop", tmp_path)
    assert (name, kwargs["model"]) == ("lm", str(newest)) and "newest student for webshop" in label
    assert resolve_agent(str(newest), "webshop", tmp_path)[:2] == ("lm", {"model": str(newest)})
    assert resolve_agent("random", "webshop", tmp_path) == ("random", {}, "random")


@pytest.mark.parametrize("argv, message", [
    (["--env", "nosuchenv", "--agent", "expert"], "unknown environment 'nosuchenv'"),
    (["--env", "webshop", "--agent", "nosuchagent"], "unknown agent 'nosuchagent'"),
    (["--env", "webshop", "--agent", "expert", "--episodes", "0"], "episodes must be >= 1"),
    (["--env", "webshop", "--agent", "expert", "--workers", str((os.cpu_count() or 1) + 1)], "more than the"),
    (["--env", "webshop", "--agent", "random", "--agent-opt", "colour=blue"], "rejected its options"),
    (["--env", "webshop", "--agent-opt", "oops"], "expected KEY=VALUE"),
])
def test_bad_input_is_one_clear_line_and_exit_2(argv, message, capsys, tmp_path):
    assert cli.main(["eval", *argv, "--runs-dir", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_path_that_is_not_a_model_fails_cleanly_from_the_shell(tmp_path):
    not_a_model = tmp_path / "notes"
    not_a_model.mkdir()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "eval",
            "--env",
            "webshop",
            "--agent",
            str(not_a_model),
            "--runs-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 2
    assert "is not a saved model" in out.stderr and "Traceback" not in out.stderr


def test_eval_command_writes_log_and_summary(tmp_path, capsys):
    rc = cli.main(["eval", "--env", "webshop", "--agent", "random", "--episodes", "3", "--workers", "0",
                   "--run", "r1", "--runs-dir", str(tmp_path), "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "agent random" in out and "success rate" in out
    summary = json.loads((tmp_path / "r1" / "summary.json").read_text())
    for key in (
        "env",
        "agent",
        "split",
        "episodes",
        "success_rate",
        "mean_score",
        "mean_steps",
        "invalid_action_rate",
        "mean_reason_tokens",
        "mean_act_tokens",
        "tokens_per_s",
        "wall_s",
    ):
        assert key in summary
    assert summary["episodes"] == 3 and summary["split"] == "test"
    # resuming under the same name with another agent is refused
    assert cli.main(["eval", "--env", "webshop", "--agent", "expert", "--episodes", "3", "--workers", "0",
                     "--run", "r1", "--runs-dir", str(tmp_path), "--no-progress"]) == 2
    assert "holds a different run" in capsys.readouterr().err


def test_rollout_defaults_to_the_train_split(tmp_path):
    assert cli.main(["rollout", "--env", "webshop", "--agent", "random", "--episodes", "2", "--workers", "0",
                     "--run", "tr", "--runs-dir", str(tmp_path), "--no-progress"]) == 0
    assert json.loads((tmp_path / "tr" / "summary.json").read_text())["split"] == "train"


# --- faults and hygiene (issue 19) ----------------------------------------------------------------
REPO = Path(__file__).resolve().parents[2]
KEYS = ("sk-first-0123456789abcdef", "sk-second-0123456789abcdef", "sk-third-0123456789abcdef")
REPLY = "Thought: Let me look for it.\nAction: search[red running shoes]"


class FakeOpenAI(ThreadingHTTPServer):
    """An OpenAI-compatible chat/completions server on 127.0.0.1: answers every request with
    :data:`REPLY`, or, when ``refuse`` is set, with HTTP 401 quoting the request's Authorization header
    (as careless servers do)."""

    refuse = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class FakeOpenAIHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.server.refuse:
            body, status = f"invalid key: {self.headers.get('Authorization')}".encode(), 401
        else:
            body, status = json.dumps({"choices": [{"message": {"content": REPLY}}]}).encode(), 200
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def openai_server():
    server = FakeOpenAI(("127.0.0.1", 0), FakeOpenAIHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def http_eval(server: FakeOpenAI, runs_dir, *extra: str) -> list[str]:
    return ["eval", "--env", "webshop", "--agent", "http", "--agent-opt", f"base_url={server.url}",
            "--env-opt", "max_steps=2", "--run", "r", "--runs-dir", str(runs_dir), "--no-progress", *extra]


def test_api_keys_stay_out_of_run_files_and_messages(openai_server, tmp_path, capsys):
    first = http_eval(openai_server, tmp_path, "--workers", "0", "--agent-opt", f"api_key={KEYS[0]}")
    assert cli.main([*first, "--episodes", "2"]) == 0
    # a new key is the same run: it resumes
    again = http_eval(openai_server, tmp_path, "--workers", "0", "--agent-opt", f"api_key={KEYS[1]}")
    assert cli.main([*again, "--episodes", "3"]) == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["episodes"] == 3 and summary["resumed_episodes"] == 2
    # another setting is another run: refused, naming the setting but no key
    other = http_eval(openai_server, tmp_path, "--workers", "0", "--agent-opt", f"api_key={KEYS[2]}",
                      "--agent-opt", "temperature=0.5")
    assert cli.main([*other, "--episodes", "3"]) == 2
    out, err = capsys.readouterr()
    assert "holds a different run (agent_kwargs: was {" in err and "'temperature': 0.5" in err
    assert "'api_key': '[REDACTED]'" in err
    record = json.loads((tmp_path / "r" / "run.json").read_text())
    assert record["agent_kwargs"]["api_key"] == "[REDACTED]" and record["agent_kwargs"]["base_url"]
    assert record["command"][:2] == ["agentdistill", "eval"] and "api_key=[REDACTED]" in record["command"]
    assert len(record["agent_fingerprint"]) == 64 and "commit" in record
    written = [file for file in (tmp_path / "r").rglob("*") if file.is_file()]
    assert {f.name for f in written} >= {"run.json", "summary.json", "episodes.parquet"}
    for key in KEYS:
        assert key not in out + err
        assert not [f for f in written if key.encode() in f.read_bytes()]


def test_a_refusing_server_under_ray_is_one_line_without_the_key(ray_session, openai_server, tmp_path,
                                                                  capsys):
    openai_server.refuse = True
    argv = http_eval(openai_server, tmp_path, "--workers", "1", "--episodes", "2", "--agent-opt", "retries=0",
                     "--agent-opt", f"api_key={KEYS[0]}")
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("agentdistill eval: error: ") and err.count("\n") == 1, err
    assert "answered HTTP 401: invalid key: Bearer [REDACTED]" in err
    assert "Traceback" not in err and "ray" not in err.lower() and KEYS[0] not in err


class FaultyReplies(Agent):
    """A model that fails the ways a server's replies can: episode 1's reply is not text (an EpisodeError
    for that episode only), episode 2's holds a lone surrogate. Batched: the errors come as TurnErrors,
    with the other episodes' turns; not batched: one EpisodeError from that episode's own turn."""

    description = "replies with faults (test)"

    def __init__(self, batched: bool):
        super().__init__()
        self.batched = batched

    def act_batch(self, observations, infos=None, slots=None):
        if not self.batched:
            return super().act_batch(observations, infos, slots)
        steps, errors = {}, {}
        for slot in slots:
            try:
                steps[slot] = self.turn(slot)
            except EpisodeError as err:
                errors[slot] = err
        if errors:
            raise TurnErrors(errors, steps)
        return [steps[slot] for slot in slots]

    def step(self, episode, observation, info):
        return self.turn(next(slot for slot, e in self.episodes.items() if e is episode))

    @staticmethod
    def turn(slot: int) -> AgentStep:
        if slot == 1:
            raise EpisodeError("the reply's content is null, not text")
        thought = "odd \ud800 text" if slot == 2 else "search"
        return AgentStep(thought=thought, action="search[red shoes]",
                         text=f"Thought: {thought}\nAction: search[red shoes]")


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "one-by-one"])
def test_a_bad_reply_fails_only_its_episode_and_a_lone_surrogate_costs_nothing(tmp_path, batched):
    summary = evaluate("webshop", FaultyReplies(batched), episodes=4, workers=0, run=tmp_path / "faulty",
                       env_kwargs={"max_steps": 2}, progress=False)
    frame = read_episodes(tmp_path / "faulty")
    assert summary["episodes"] == 4
    failed = frame[frame["episode"] == 1]
    assert list(failed["error"]) == [
        "failed after 1 attempt: agent: EpisodeError: the reply's content is null, not text"
    ]
    played = frame[frame["episode"] != 1]
    assert (played["error"] == "").all() and played.groupby("episode").size().to_dict() == {0: 2, 2: 2, 3: 2}
    assert set(played[played["episode"] == 2]["thought"]) == {"odd \ufffd text"}


def hotpot_file(path: Path, answer: str) -> Path:
    """A HotPotQA file in the official format with two questions."""
    records = [{"_id": f"q{i}", "question": f"Which city is the capital of France ({i})?", "answer": answer,
                "type": "bridge", "supporting_facts": [["France", 0]],
                "context": [["France", ["Paris is the capital of France."]], ["Paris", ["Paris is a city."]]]}
               for i in range(2)]
    path.write_text(json.dumps(records))
    return path


def test_run_json_records_the_data_and_a_resume_on_other_data_is_refused(tmp_path, monkeypatch):
    from envs.hotpotqa.data import BUNDLE_VERSION

    monkeypatch.delenv("HOTPOTQA_DATA", raising=False)
    play = functools.partial(evaluate, "hotpotqa", "random", episodes=1, workers=0, progress=False)
    summary = play(run=tmp_path / "g")
    data = json.loads((tmp_path / "g" / "run.json").read_text())["data"]
    assert data == {"data_source": "generated", "data_fingerprint": f"bundle:{BUNDLE_VERSION}",
                    "protocol": {"max_steps": 7, "subset": None, "empty_finish": "invalid"}}
    assert summary["data_source"] == "generated"
    assert json.loads((tmp_path / "g" / "summary.json").read_text())["data_source"] == "generated"

    official = hotpot_file(tmp_path / "hotpot_dev.json", "Paris")
    monkeypatch.setenv("HOTPOTQA_DATA", str(official))
    with pytest.raises(UserError, match=re.escape(
            f"was played on generated (fingerprint bundle:{BUNDLE_VERSION}); this run would play {official} "
            "(fingerprint files:")):
        play(run=tmp_path / "g", episodes=2)
    assert play(run=tmp_path / "o")["data_source"] == str(official)
    recorded = json.loads((tmp_path / "o" / "run.json").read_text())["data"]["data_fingerprint"]
    hotpot_file(official, "Paris, France")  # the same file, edited
    both = f"on {official} (fingerprint {recorded}); this run would play {official} (fingerprint files:"
    with pytest.raises(UserError, match=re.escape(both)):
        play(run=tmp_path / "o", episodes=2)


HOLD_LOCK = ("import sys, time\nfrom harness.run_dir import RunLock\nRunLock(sys.argv[1]).acquire()\n"
             "print('locked', flush=True)\ntime.sleep(120)")


def test_a_run_being_played_is_locked_and_a_dead_holders_lock_taken_over(tmp_path, capsys):
    run = tmp_path / "locked"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run)], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        argv = ["eval", "--env", "webshop", "--agent", "random", "--episodes", "1", "--workers", "0",
                "--run", str(run), "--no-progress"]
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert f"is being played by another eval or rollout (pid {holder.pid} on " in err
        assert f"holding {run / 'run.lock'})" in err and not (run / "summary.json").exists()
    finally:
        holder.kill()  # SIGKILL: the lock file stays behind, naming a process that is gone
        holder.wait()
    assert (run / "run.lock").read_text().split()[0] == str(holder.pid)
    assert cli.main(argv) == 0
    assert f"run.lock was left by pid {holder.pid} on " in capsys.readouterr().err
    assert not (run / "run.lock").exists() and (run / "summary.json").exists()


def test_a_corrupt_run_file_is_an_error_naming_it(tmp_path, capsys):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "run.json").write_text('{"env": "webshop", ')
    argv = ["eval", "--env", "webshop", "--agent", "random", "--episodes", "1", "--workers", "0",
            "--run", "r", "--runs-dir", str(tmp_path), "--no-progress"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'r' / 'run.json'}: not readable run metadata (Expecting property name" in err
    assert "Traceback" not in err and not (tmp_path / "r" / "run.lock").exists()
