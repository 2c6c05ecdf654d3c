"""The rollout engine on a real env: local == Ray, killed and hung actors (env workers, the policy
actor) lose and duplicate nothing in either loop, an interrupted run resumes, the local Ray listens on
127.0.0.1 only. WebShop is the fastest env to play (about 0.1 s an episode)."""
from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import time

import pandas as pd
import psutil
import pytest

import agents
from harness.evaluate import evaluate
from harness.logs import EpisodeWriter, read_episodes
from harness.rollout import EpisodeJob, Rollout

ENV = "webshop"
EPISODES = 6
#: columns that must match between two plays of the same episodes (timing and run name differ)
SAME = ["env", "split", "task_id", "task", "task_type", "episode", "step", "observation", "thought", "action",
        "completion", "reward", "terminated", "truncated", "won", "score", "invalid_action",
        "n_reason_tokens", "n_act_tokens", "error"]


def frame_of(run_dir) -> pd.DataFrame:
    return read_episodes(run_dir)[SAME].reset_index(drop=True)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("local") / "run"
    summary = evaluate(ENV, "expert", episodes=EPISODES, workers=0, run=run, progress=False)
    return run, summary


@pytest.fixture(scope="module")
def task_ids(local_run) -> list[str]:
    """The tasks of the local run's episodes, in episode order (the order evaluate plays them in)."""
    frame = read_episodes(local_run[0])
    return list(frame.groupby("episode")["task_id"].first())


def jobs(task_ids, n=EPISODES):
    return [EpisodeJob(i, task_ids[i % len(task_ids)], i) for i in range(n)]


def expert_rollout(task_ids, writer: EpisodeWriter, n: int = EPISODES, **options) -> Rollout:
    """The expert on the test split's first ``n`` tasks, episodes written by ``writer``."""
    row_base = {"run_id": writer.run_dir.name, "split": "test"}
    return Rollout(ENV, agents.make("expert", env=ENV), jobs(task_ids, n), writer.write,
                   env_kwargs={"split": "test"}, row_base=row_base, **options)


class KillAtRound:
    """An ``on_round`` hook that kills chosen actors once, at chosen rounds: ``{round: pick}``, where
    ``pick(engine)`` is the actor handle to kill."""

    def __init__(self, ray, plan):
        self.ray, self.plan, self.round, self.killed = ray, dict(plan), 0, []

    def __call__(self, engine: Rollout) -> None:
        self.round += 1
        pick = self.plan.pop(self.round, None)
        if pick is not None:
            handle = pick(engine)
            self.killed.append(handle)
            self.ray.kill(handle, no_restart=True)


def test_local_run_logs_every_step(local_run):
    run, summary = local_run
    frame = read_episodes(run)
    assert sorted(frame["episode"].unique()) == list(range(EPISODES))
    for _, rows in frame.groupby("episode"):
        assert list(rows["step"]) == list(range(len(rows)))
        assert rows["terminated"].iloc[-1] or rows["truncated"].iloc[-1]
        assert not (rows["terminated"].iloc[:-1] | rows["truncated"].iloc[:-1]).any()
        assert rows["observation"].iloc[0].startswith("WebShop")  # step 0 holds the first observation
    last = frame.groupby("episode").tail(1)
    assert summary["episodes"] == EPISODES
    assert summary["success_rate"] == pytest.approx(last["won"].mean())
    assert summary["mean_score"] == pytest.approx(last["score"].mean())
    assert summary["mean_steps"] == pytest.approx(len(frame) / EPISODES)
    assert (run / "summary.json").exists()


def test_ray_gives_the_same_episodes_as_local(ray_session, local_run, tmp_path):
    run, _ = local_run
    evaluate(ENV, "expert", episodes=EPISODES, workers=2, run=tmp_path / "ray", progress=False)
    pd.testing.assert_frame_equal(frame_of(tmp_path / "ray"), frame_of(run))


@pytest.mark.parametrize("episode_parallel", [False, True], ids=["round-loop", "episode-parallel"])
def test_killing_an_env_worker_mid_run_loses_and_duplicates_nothing(
    ray_session, local_run, task_ids, tmp_path, episode_parallel
):
    # round 2: every worker has episodes in flight (round loop: 2 of the 4 in flight on each worker)
    kill = KillAtRound(ray_session, {2: lambda engine: engine.workers[0]})
    writer = EpisodeWriter(tmp_path / "killed")
    engine = expert_rollout(task_ids, writer, workers=2, in_flight=4, on_round=kill,
                            episode_parallel=episode_parallel)
    engine.run()
    writer.consolidate()
    assert len(kill.killed) == 1 and engine.restarts == 1
    pd.testing.assert_frame_equal(frame_of(tmp_path / "killed"), frame_of(local_run[0]))


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory, local_run) -> str:
    """A randomly initialised ``tiny-student`` Llama with a BPE trained on the expert's episodes."""
    from distill.models import build_tiny

    frame = read_episodes(local_run[0])
    texts = list(frame["observation"]) + list(frame["completion"])
    return str(build_tiny(texts, tmp_path_factory.mktemp("tiny-lm"), preset="tiny-student"))


def test_killing_an_env_worker_and_the_policy_actor_of_a_batched_agent_loses_and_duplicates_nothing(
        ray_session, tiny_lm, task_ids, tmp_path):
    lm = (
        "lm",
        {"env": ENV, "model": tiny_lm, "max_new_tokens": 12, "max_prompt_tokens": 400, "device": "cpu"},
    )
    n = 8
    env_kwargs = {"split": "test", "max_steps": 3}
    clean = EpisodeWriter(tmp_path / "clean")
    Rollout(ENV, lm, jobs(task_ids, n), clean.write, workers=0, in_flight=4, env_kwargs=env_kwargs,
            row_base={"run_id": "lm", "split": "test"}).run()
    clean.consolidate()

    # round 2: episodes in flight on both env workers; round 4: a new batch in flight on the policy actor
    plan = {2: lambda engine: engine.workers[1], 4: lambda engine: engine.policy_actor}
    kill = KillAtRound(ray_session, plan)
    writer = EpisodeWriter(tmp_path / "killed")
    engine = Rollout(ENV, lm, jobs(task_ids, n), writer.write, workers=2, in_flight=4, env_kwargs=env_kwargs,
                     row_base={"run_id": "lm", "split": "test"}, on_round=kill)
    assert not engine.episode_parallel  # the LM agent batches: the round loop with a policy actor
    engine.run()
    writer.consolidate()
    assert len(kill.killed) == 2 and engine.restarts == 2
    frame = frame_of(tmp_path / "killed")
    assert (frame["error"] == "").all()
    assert sorted(frame.groupby("episode")["step"].max().index) == list(range(n))  # each episode, once
    assert frame.groupby("episode")["step"].apply(lambda s: list(s) == list(range(len(s)))).all()
    pd.testing.assert_frame_equal(frame, frame_of(tmp_path / "clean"))


def test_an_lm_policy_actor_uses_every_cpu_of_the_ray_node_an_expert_none(ray_session, tiny_lm):
    """Ray starts actors with OMP_NUM_THREADS=1; the model's turns are what the env workers wait for."""
    from harness.rollout.workers import PolicyHandle

    cpus = int(ray_session.cluster_resources()["CPU"])
    lm = PolicyHandle.ray_actor(("lm", {"env": ENV, "model": tiny_lm, "device": "cpu"}))
    expert = PolicyHandle.ray_actor(("expert", {"env": ENV}))
    try:
        assert cpus == 2 and lm.call("torch_threads") == cpus
        assert expert.call("torch_threads") in (0, 1)  # left as Ray starts it
    finally:
        lm.shutdown()
        expert.shutdown()


def test_an_episode_that_keeps_losing_its_worker_is_recorded_as_failed(ray_session, task_ids, tmp_path):
    writer = EpisodeWriter(tmp_path / "failing")

    def kill_every_round(engine: Rollout) -> None:
        ray_session.kill(engine.workers[0], no_restart=True)

    engine = expert_rollout(task_ids, writer, 3, workers=1, in_flight=3, max_retries=1,
                            on_round=kill_every_round)
    engine.run()
    frame = read_episodes(tmp_path / "failing")
    assert sorted(frame["episode"]) == [0, 1, 2]  # one row each: the failure
    assert frame["error"].str.contains("failed after 2 attempts: env worker died").all()


def test_interrupted_run_resumes_without_writing_an_episode_twice(local_run, task_ids, tmp_path):
    run = tmp_path / "interrupted"
    writer = EpisodeWriter(run)

    def interrupt(engine: Rollout) -> None:
        if len(writer.finished()) >= 2:
            raise KeyboardInterrupt("stop after 2 episodes")

    engine = expert_rollout(task_ids, writer, workers=0, in_flight=2, on_round=interrupt)
    with pytest.raises(KeyboardInterrupt, match="stop after 2 episodes"):
        engine.run()
    first = writer.finished()
    assert 2 <= len(first) < EPISODES
    summary = evaluate(ENV, "expert", episodes=EPISODES, workers=0, run=run, progress=False)
    assert summary["resumed_episodes"] == len(first)
    frame = frame_of(run)
    assert frame.groupby("episode")["step"].apply(lambda s: list(s) == list(range(len(s)))).all()
    pd.testing.assert_frame_equal(frame, frame_of(local_run[0]))
    with pytest.raises(ValueError, match="already written"):
        writer.write(read_episodes(run).query("episode == 0").to_dict("records"))


class StopAtRound:
    """An ``on_round`` hook that freezes chosen actors' processes once (SIGSTOP: alive but silent, as a
    hung worker), at chosen rounds: ``{round: pick}``, where ``pick(engine)`` is the pid to stop."""

    def __init__(self, plan):
        self.plan, self.round, self.stopped = dict(plan), 0, []

    def __call__(self, engine: Rollout) -> None:
        self.round += 1
        pick = self.plan.pop(self.round, None)
        if pick is not None:
            pid = pick(engine)
            self.stopped.append(pid)
            os.kill(pid, signal.SIGSTOP)

    def release(self) -> None:
        """Let go of every stopped process the rollout did not kill (a failing test)."""
        for pid in self.stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def ended(pid: int, within_s: float = 30.0) -> bool:
    """Whether process ``pid`` is gone (or a zombie) within ``within_s`` (Ray escalates a kill that the
    frozen process cannot answer to SIGKILL after a grace period)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.2)
    return False


#: seconds after which a silent actor counts as hung (an expert's step takes milliseconds)
HANG_S = 2.0


def test_a_hung_env_worker_and_a_hung_policy_actor_are_replaced_and_their_episodes_rerun(
        ray_session, local_run, task_ids, tmp_path):
    # the round loop with the agent in a policy actor: after round 2 episodes are in flight on both env
    # workers, after round 4 on the policy actor
    stop = StopAtRound({2: lambda engine: engine.pool.pids[0], 4: lambda engine: engine.policy.pid})
    writer = EpisodeWriter(tmp_path / "hung")
    engine = Rollout(ENV, ("expert", {"env": ENV}), jobs(task_ids), writer.write, workers=2, in_flight=4,
                     env_kwargs={"split": "test"}, row_base={"run_id": "hung", "split": "test"},
                     on_round=stop, episode_parallel=False, episode_timeout=HANG_S)
    try:
        engine.run()
    finally:
        stop.release()
    writer.consolidate()
    assert len(stop.stopped) == 2 and engine.restarts == 2
    assert all(ended(pid) for pid in stop.stopped)  # the hung processes were killed, not left frozen
    pd.testing.assert_frame_equal(frame_of(tmp_path / "hung"), frame_of(local_run[0]))


def test_a_hung_episode_parallel_worker_is_replaced_and_its_chunk_rerun(ray_session, local_run, task_ids,
                                                                        tmp_path):
    # round 1 comes after the first chunks went out, one of them to the stopped worker
    stop = StopAtRound({1: lambda engine: engine.pool.pids[0]})
    writer = EpisodeWriter(tmp_path / "hung")
    engine = expert_rollout(task_ids, writer, workers=2, on_round=stop, episode_timeout=HANG_S)
    assert engine.episode_parallel
    try:
        engine.run()
    finally:
        stop.release()
    writer.consolidate()
    assert engine.restarts == 1
    pd.testing.assert_frame_equal(frame_of(tmp_path / "hung"), frame_of(local_run[0]))


def test_an_episode_whose_worker_keeps_hanging_is_recorded_as_failed(ray_session, task_ids, tmp_path):
    writer = EpisodeWriter(tmp_path / "hanging")
    stop = StopAtRound({1: lambda engine: engine.pool.pids[0], 2: lambda engine: engine.pool.pids[0]})
    engine = expert_rollout(task_ids, writer, 2, workers=1, in_flight=2, max_retries=1, on_round=stop,
                            episode_parallel=False, episode_timeout=HANG_S)
    try:
        engine.run()
    finally:
        stop.release()
    frame = read_episodes(tmp_path / "hanging")
    assert sorted(frame["episode"]) == [0, 1]  # one row each: the failure
    hung = rf"env worker \(pid \d+\) hung: no answer within {HANG_S:g} s; killed and replaced"
    assert frame["error"].str.fullmatch("failed after 2 attempts: " + hung).all()
    assert engine.restarts == 2


def test_the_local_ray_cluster_listens_on_loopback_only(ray_session):
    """Ray's GCS, raylet, workers and agents, started by the harness, bind 127.0.0.1, not every interface."""
    driver = psutil.Process()
    pids = {p.pid for p in [driver, *driver.children(recursive=True)]}
    listening = [c.laddr for c in psutil.net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN and c.pid in pids]
    assert len(listening) >= 3  # the GCS, the raylet and this driver's core worker at least
    assert all(is_loopback(addr.ip) for addr in listening), listening


def is_loopback(ip: str) -> bool:
    """127.0.0.0/8 or ::1, also written as an IPv4-mapped IPv6 address (``::ffff:127.0.0.1``)."""
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)
