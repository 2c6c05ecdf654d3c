"""Figure 1's replayed overhead (harness.bench.replay): the replay env and agent give back exactly what the
real env and expert returned, an ``evaluate`` of the replay writes the episode log the real one writes,
the replay names reach the registries only when the bench registers them, and the µs/step number
follows from the CPU times."""
import subprocess
import sys

import pytest

import envs
from harness.bench import replay
from harness.bench.rollouts import task_ids
from harness.evaluate import evaluate
from harness.logs import read_episodes
from harness.tasks import planned_tasks

ENV = "hotpotqa"
#: episode-log columns that come from the env's and the agent's outputs (not the run's name or timing)
PLAYED_COLUMNS = ["episode", "task_id", "task", "task_type", "step", "observation", "thought", "action",
                  "completion", "n_reason_tokens", "n_act_tokens", "reward", "terminated", "truncated",
                  "won", "score", "invalid_action"]


@pytest.fixture(scope="module")
def recorded() -> replay.Recording:
    return replay.record(ENV, task_ids(ENV, 3))


def test_replay_env_and_agent_return_exactly_what_the_real_env_and_expert_returned(recorded):
    import agents

    options = replay.register_replay("test-outputs", recorded)
    real = envs.make(ENV, split="test")
    replayed = envs.make(replay.REPLAY_ENV, split="test", **options)
    agent = agents.make(replay.REPLAY_AGENT, env=replay.REPLAY_ENV, **options)
    assert replayed.unwrapped.task_ids == [e.task_id for e in recorded.episodes] == task_ids(ENV, 3)
    for i, episode in enumerate(recorded.episodes):
        real_reset = real.reset(seed=i, options={"task_id": episode.task_id})
        obs, info = replayed.reset(seed=i, options={"task_id": episode.task_id})
        assert (obs, info) == real_reset and obs == episode.observation
        agent.reset(info, slot=0)
        for turn in episode.steps:
            step = agent.act(obs, info, slot=0)
            assert step == turn.agent_step and step is not turn.agent_step
            real_out = real.step(step.action)
            obs, reward, terminated, truncated, info = replayed.step(step.action)
            assert (obs, reward, terminated, truncated, info) == real_out
            assert (obs, info) == (turn.observation, turn.info)
        assert terminated or truncated
    replayed.reset(options={"task_id": recorded.episodes[0].task_id})
    with pytest.raises(ValueError, match="action 'search\\[nowhere\\]', recorded"):
        replayed.step("search[nowhere]")
    with pytest.raises(ValueError, match="task_id 'not-a-task' was not recorded"):
        replayed.reset(options={"task_id": "not-a-task"})
    # more episodes than recorded: the recorded ones again, in recorded order
    assert planned_tasks(replay.REPLAY_ENV, "test", options, 7) == [
        recorded.episodes[i % 3].task_id for i in range(7)]
    real.close()
    replayed.close()


def test_replayed_eval_writes_the_episode_log_of_the_real_eval(recorded, tmp_path):
    options = replay.register_replay("test-eval", recorded)
    common = {"episodes": 3, "workers": 0, "in_flight": 1, "progress": False, "command": ["test"]}
    real = evaluate(ENV, "expert", run=tmp_path / "real", **common)
    played = evaluate(replay.REPLAY_ENV, replay.REPLAY_AGENT, run=tmp_path / "replayed", env_kwargs=options,
                      agent_kwargs=options, **common)
    real_log = read_episodes(tmp_path / "real")[PLAYED_COLUMNS]
    replayed_log = read_episodes(tmp_path / "replayed")[PLAYED_COLUMNS]
    assert len(real_log) == recorded.steps == played["env_steps"] == real["env_steps"]
    assert replayed_log.equals(real_log)
    assert set(read_episodes(tmp_path / "replayed")["env"]) == {replay.REPLAY_ENV}


def test_replay_names_are_registered_by_the_bench_only():
    code = ("import agents, envs, harness.bench.replay as r; "
            "print(r.REPLAY_ENV in envs.names(), r.REPLAY_AGENT in agents.names())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]
    with pytest.raises(KeyError, match="no recording 'never-registered'"):
        replay.registered_recording("never-registered")
    with pytest.raises(ValueError, match="one episode per task"):
        replay.register_replay("empty", replay.Recording(ENV, ()))


def test_overhead_us_per_step_is_the_cpu_time_difference_per_replayed_step():
    # 0.5 s vs 0.1 s over 4000 steps: 100 µs/step; 0.6 vs 0.1: 125 µs/step
    assert replay.overhead_us_per_step([0.5, 0.6], [0.1, 0.1], 4000) == [pytest.approx(100.0),
                                                                          pytest.approx(125.0)]
    assert replay.overhead_us_per_step([0.1], [0.2], 1000) == [pytest.approx(-100.0)]
    with pytest.raises(ValueError, match="steps must be >= 1, got 0"):
        replay.overhead_us_per_step([0.5], [0.1], 0)
    with pytest.raises(ValueError, match="zip"):
        replay.overhead_us_per_step([0.5, 0.6], [0.1], 10)
