"""Bench figures about the environments and the harness: 1 overhead, 2 parallel scaling, 5 step
latency and data generation, 6 rollout memory (see ``harness.bench.cli``)."""
from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.bench.core import BenchContext, Result, available_envs, measure, paired_result, pinned_threads
from harness.rollout.cluster import init_ray

#: figure 5's episodes per repeat where an env's episodes are slow (CPU per episode, bare loop: ALFWorld
#: ~0.23 s on the real engine, WebShop ~0.07 s)
SLOW_ENV_EPISODES = {"alfworld": 5, "webshop": 10}
#: figure 1's episodes per repeat on the real env (the ratio), sized so a round of the two sides takes
#: ~1-3 s on an idle 2-core machine
OVERHEAD_EPISODES = {"alfworld": 4, "hotpotqa": 1000, "webshop": 16}
#: figure 1's replay: expert episodes recorded per env (CPU per episode on the real env: ALFWorld ~0.23 s,
#: WebShop ~0.07 s, HotPotQA ~2 ms), and env steps each side replays per repeat (played again from the
#: first recorded episode until there are this many; ~0.5 s of eval per repeat)
REPLAY_RECORDED_EPISODES = {"alfworld": 8, "hotpotqa": 100, "webshop": 20}
REPLAY_STEPS = 4000
#: figure 1's target for the harness overhead: µs per env step added to the bare loop, episode log on
OVERHEAD_TARGET_US = 50.0
#: the env whose step cost drives the scaling figure (BM25 search over the catalog)
SCALING_ENV = "webshop"
#: figure 2's episodes per repeat, per core
SCALING_EPISODES_PER_CORE = 24


# --- shared pieces --------------------------------------------------------------------------------
def task_ids(env: str, n: int) -> list[str]:
    """The tasks ``evaluate`` plays in ``n`` episodes of ``env``'s test split (stratified by task type)."""
    from harness.tasks import planned_tasks

    return planned_tasks(env, "test", {}, n)


def play_bare(env_name: str, tasks: list[str]) -> list[list[float]]:
    """What a user writes without the harness: the expert on a plain ``reset/step`` loop over ``tasks``
    (episode ``i`` seeded ``i``, like ``evaluate``). Returns the seconds of every ``env.step`` call, per
    episode."""
    import agents
    import envs

    env = envs.make(env_name, split="test")
    agent = agents.make("expert", env=env_name)
    step_s: list[list[float]] = []
    try:
        for i, task in enumerate(tasks):
            obs, info = env.reset(seed=i, options={"task_id": task})
            agent.reset(info, slot=0)
            step_s.append([])
            done = False
            while not done:
                action = agent.act(obs, info, slot=0).action
                t0 = time.perf_counter()
                obs, _, terminated, truncated, info = env.step(action)
                step_s[-1].append(time.perf_counter() - t0)
                done = terminated or truncated
    finally:
        env.close()
    return step_s


def quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile (linear interpolation)."""
    return (
        statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]
        if len(values) > 1
        else values[0]
    )


def peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM). Not ``ru_maxrss``: on Linux that survives ``exec``,
    so a child started from a big parent would report the parent's peak."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB -> MiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(function: str, **kwargs: Any) -> dict[str, Any]:
    """Run ``harness.bench.rollouts.<function>(**kwargs)`` in a fresh Python process (its own memory and
    caches) and return the dict it prints as JSON on its last stdout line."""
    code = (f"import json, harness.bench.rollouts as b; "
            f"print(json.dumps(b.{function}(**json.loads({json.dumps(json.dumps(kwargs))}))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          cwd=Path(__file__).resolve().parents[1])
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{function} failed in a child process (exit {done.returncode}): {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def scratch_cache(folder: Path) -> Iterator[Path]:
    """Point ``AGENTDISTILL_CACHE`` at ``folder``: generated data and indexes stay out of the user's cache."""
    old = os.environ.get("AGENTDISTILL_CACHE")
    os.environ["AGENTDISTILL_CACHE"] = str(folder)
    try:
        yield folder
    finally:
        if old is None:
            os.environ.pop("AGENTDISTILL_CACHE", None)
        else:
            os.environ["AGENTDISTILL_CACHE"] = old


def _missing_rows(figure: int, unit: str, missing: dict[str, str]) -> list[Result]:
    return [Result(figure, env, unit, [], error=f"env not available: {why}") for env, why in missing.items()]


# --- figure 1 -------------------------------------------------------------------------------------
def harness_overhead(ctx: BenchContext) -> list[Result]:
    """Expert episodes/s through ``agentdistill eval --workers 0`` vs the bare loop, per env (floor 0.9),
    and the µs per step the harness adds (target ≤ 50), measured on replayed episodes."""
    ready, missing = available_envs()
    results = [overhead_of(env, ctx.pick(OVERHEAD_EPISODES.get(env, 100), 4), ctx) for env in ready]
    return results + _missing_rows(1, "episodes/s", missing)


def overhead_of(env: str, episodes: int, ctx: BenchContext) -> Result:
    """Figure 1 for one env: episodes/s of ``eval`` and of the bare loop on the real env and their ratio
    at ``episodes`` episodes, and the µs per env step the harness adds, from a replay.

    The ratio: the eval side times the whole ``agentdistill eval --workers 0 --in-flight 1`` call in
    this process (run dir and run.json, the split's task list, building its env and the agent, the
    rollout, the Parquet/Arrow episode log, consolidation, metrics, summary.json and the printed
    table); the bare side times building one env and the agent and the reset/step loop. Both play
    the same tasks with the same seeds. One env in flight, like the bare loop: the expert gains
    nothing from a batch. The discarded warm-up round loads what a process keeps (imports, the env's
    data, the search index), so neither side pays it in the timed repeats.

    µs/step: on the real env the expert's and the env's own work (ms per step for ALFWorld and
    WebShop) varies far more between repeats than the µs the harness adds, so the overhead is measured
    on a replay (:mod:`harness.bench.replay`): the bare loop's episodes are recorded once, then
    ``evaluate`` and the bare loop play them back from a replay env and agent that cost ~nothing; the
    difference of their CPU time divided by the replayed steps is the harness's cost per step (its
    per-call costs included, spread over ~:data:`REPLAY_STEPS` steps)."""
    import shutil

    import pyarrow.parquet as pq

    from harness.cli import main as cli_main

    runs = iter(range(10**6))
    played: dict[str, list[tuple[str, int, str]]] = {}  # side -> per episode (task, steps, error)

    def count(side: str, episodes_played: list[tuple[str, int, str]]) -> None:
        first = played.setdefault(side, episodes_played)
        if first != episodes_played:
            changed = [f"{a[0]}: {a[1]} steps{a[2]} -> {b[1]} steps{b[2]}"
                       for a, b in zip(first, episodes_played, strict=True) if a != b]
            raise RuntimeError(f"{env}: {side} did not repeat its first play: {'; '.join(changed)}")

    def through_eval() -> float:
        run_dir = ctx.work_dir / f"overhead-{env}-{next(runs)}"
        argv = ["eval", "--env", env, "--agent", "expert", "--episodes", str(episodes), "--workers", "0",
                "--in-flight", "1", "--run", str(run_dir), "--no-progress"]
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            code = cli_main(argv)
        elapsed = time.perf_counter() - t0
        if code != 0:
            raise RuntimeError(f"agentdistill {' '.join(argv)} exited {code}")
        log = pq.read_table(run_dir / "episodes.parquet", columns=["episode", "task_id", "error"]).to_pandas()
        count("eval", [(g.task_id.iloc[0], len(g), "".join(f", {e}" for e in g.error.dropna() if e))
                       for _, g in log.groupby("episode", sort=True)])
        shutil.rmtree(run_dir)
        return elapsed

    tasks = task_ids(env, episodes)

    def bare() -> float:
        t0 = time.perf_counter()
        step_s = play_bare(env, tasks)
        elapsed = time.perf_counter() - t0
        count("bare", [(task, len(s), "") for task, s in zip(tasks, step_s, strict=True)])
        return elapsed

    measured = measure({"eval": through_eval, "bare": bare}, [("bare", "eval")], ctx.budget, ctx.threads)
    if played["eval"] != played["bare"]:
        raise RuntimeError(f"{env}: eval and the bare loop played different episodes: eval {played['eval']}, "
                           f"bare {played['bare']}")
    replayed = replayed_overhead(env, ctx)
    rate = {side: [episodes / s for s in measured.samples[side]] for side in ("eval", "bare")}
    return Result(
        1, env, "episodes/s", rate["eval"], rate["bare"], "bare reset/step loop", floor=0.9,
        overhead_us_per_step=replayed["us_per_step"], overhead_target_us=OVERHEAD_TARGET_US,
        overhead_steps=replayed["steps"], threads=measured.threads, stopped=measured.stopped,
        details={"episodes": episodes, "steps": sum(steps for _, steps, _ in played["bare"]),
                 "seconds": round(measured.seconds, 1),
                 "replay": {k: v for k, v in replayed.items() if k != "us_per_step"}},
        note="ratio: eval --workers 0 --in-flight 1 (the whole CLI call: env + agent, episode log, summary) "
        "vs one env + agent and the loop, on the real env; µs/step: replayed (recorded expert episodes "
        "played back by evaluate and by the bare loop), CPU time difference / replayed steps",
    )


def replayed_overhead(env: str, ctx: BenchContext) -> dict[str, Any]:
    """The µs per step ``evaluate`` adds to the bare loop on ``env``'s recorded expert episodes played
    back (:mod:`harness.bench.replay`), per paired repeat of :func:`measure`, and what was replayed."""
    import math

    from harness.bench import replay
    from harness.tasks import planned_tasks

    recorded = replay.record(env, task_ids(env, ctx.pick(REPLAY_RECORDED_EPISODES.get(env, 20), 2)))
    options = replay.register_replay(env, recorded)
    target_steps = ctx.pick(REPLAY_STEPS, 50)
    episodes = len(recorded.episodes) * math.ceil(target_steps / recorded.steps)
    tasks = planned_tasks(replay.REPLAY_ENV, "test", options, episodes)
    runs = iter(range(10**6))
    steps: dict[str, int] = {}

    def timed(side: str, seconds: float, played: int) -> float:
        if steps.setdefault(side, played) != played:
            raise RuntimeError(f"replay of {env}: {side} played {played} steps, earlier {steps[side]}")
        return seconds

    sides = {
        "eval": lambda: timed("eval", *replay.replayed_eval_seconds(
            options, episodes, ctx.work_dir / f"replay-{env}-{next(runs)}")),
        "bare": lambda: timed("bare", *replay.replayed_bare_seconds(options, tasks)),
    }
    measured = measure(sides, [("eval", "bare")], ctx.budget, ctx.threads)
    if steps["eval"] != steps["bare"]:
        raise RuntimeError(f"replay of {env}: eval and the bare loop played different steps ({steps})")
    return {
        "us_per_step": replay.overhead_us_per_step(measured.samples["eval"], measured.samples["bare"],
                                                   steps["eval"]),
        "steps": steps["eval"], "episodes": episodes, "recorded_episodes": len(recorded.episodes),
        "recorded_steps": recorded.steps, "repeats": len(measured.samples["eval"]),
        "stopped": measured.stopped, "bare_us_per_step": [1e6 * s / steps["bare"]
                                                          for s in measured.samples["bare"]],
    }


# --- figure 2 -------------------------------------------------------------------------------------
def rollout_steps_per_s(env: str, workers: int, episodes: int, in_flight: int) -> tuple[float, float]:
    """(steady-state env steps/s, end-to-end steps/s) of the expert on ``workers`` Ray env workers.

    Steady state is timed from the end of the first round (workers started, envs built) to the end;
    every running episode plays one step per round, so the first round played ``in_flight`` steps."""
    from harness.rollout import EpisodeJob, Rollout

    ids = task_ids(env, episodes)
    jobs = [EpisodeJob(i, task, i) for i, task in enumerate(ids)]
    steps = 0
    first_round: list[float] = []

    def on_episode(rows: list[dict[str, Any]]) -> None:
        nonlocal steps
        steps += len(rows)

    def on_round(_: Rollout) -> None:
        if not first_round:
            first_round.append(time.perf_counter())

    t0 = time.perf_counter()
    Rollout(env, ("expert", {"env": env}), jobs, on_episode, workers=workers, in_flight=in_flight,
            env_kwargs={"split": "test"}, on_round=on_round).run()
    end = time.perf_counter()
    steady = (steps - min(in_flight, episodes)) / (end - first_round[0])
    return steady, steps / (end - t0)


def parallel_scaling(ctx: BenchContext) -> list[Result]:
    """Env steps/s with W Ray workers over 1 worker, W = 2 … cores (floor 0.8·W)."""
    import ray

    episodes = ctx.pick(SCALING_EPISODES_PER_CORE * ctx.cores, 8)
    in_flight = 8 * ctx.cores
    started_ray = not ray.is_initialized()
    if started_ray:
        init_ray(None, ctx.cores)  # a local Ray on 127.0.0.1 only, as every run of the harness
    try:
        end_to_end: dict[str, list[float]] = {}

        def side(w: int):
            def steady_steps_per_s() -> float:
                steady, whole = rollout_steps_per_s(SCALING_ENV, w, episodes, in_flight)
                end_to_end.setdefault(f"W={w}", []).append(whole)
                return steady
            return steady_steps_per_s

        sides = {f"W={w}": side(w) for w in range(1, ctx.cores + 1)}
        ratios = [(f"W={w}", "W=1") for w in range(2, ctx.cores + 1)]
        measured = measure(sides, ratios, ctx.budget, ctx.threads)
        end_to_end = {w: values[ctx.budget.warmup:] for w, values in end_to_end.items()}  # warm-ups out
    finally:
        if started_ray:
            ray.shutdown()
    setting = f"{ctx.cores} cores; {episodes} expert episodes, {in_flight} in flight"
    results = [
        Result(2, f"{SCALING_ENV} W=1", "env steps/s", measured.samples["W=1"], threads=measured.threads,
               details={"end_to_end_steps_per_s": end_to_end["W=1"]}, note=setting)
    ]
    for w in range(2, ctx.cores + 1):
        results.append(paired_result(
            2, f"{SCALING_ENV} W={w}", "env steps/s", measured, f"W={w}", "W=1", baseline_label="W=1",
            floor=0.8 * w, details={"end_to_end_steps_per_s": end_to_end[f"W={w}"], "cores": ctx.cores},
            note=f"{setting}; steady state after the first round; the driver and the policy actor share "
            "the same cores; threads: the driver's (Ray sets 1 per worker)",
        ))
    if ctx.cores < 2:
        results.append(
            Result(
                2, "W>1", "env steps/s", [], error=f"this machine has {ctx.cores} core: no W > 1 to compare"
            )
        )
    return results


# --- figure 5 -------------------------------------------------------------------------------------
def step_latency(ctx: BenchContext) -> list[Result]:
    """Env step latency (median, p95) and data generation time per env; WebShop search vs catalog size.
    Each env's first play is a discarded warm-up (data loaded, search index built)."""
    ready, missing = available_envs()
    episodes = ctx.pick(20, 2)
    results = []
    for env in ready:
        tasks = task_ids(env, min(episodes, SLOW_ENV_EPISODES.get(env, episodes)))
        medians, p95s, counts = [], [], []
        with pinned_threads(ctx.threads) as threads:
            play_bare(env, tasks)
            for _ in range(ctx.repeats):
                step_s = [s for episode in play_bare(env, tasks) for s in episode]
                medians.append(1e3 * statistics.median(step_s))
                p95s.append(1e3 * quantile(step_s, 0.95))
                counts.append(len(step_s))
        results.append(Result(5, f"{env} step median", "ms", medians, higher_is_better=False, threads=threads,
                              details={"steps_per_repeat": counts}))
        results.append(Result(5, f"{env} step p95", "ms", p95s, higher_is_better=False, threads=threads))
    results += _missing_rows(5, "ms", missing)
    results += generation_times(ctx)
    results += search_scaling(ctx)
    return results


def _webshop_catalog(folder: Path, scale: int) -> dict[str, float]:
    """Generate a WebShop catalog ``scale`` × the bundled size into ``folder`` (upstream's three files),
    load it and build its search index; seconds of each stage."""
    from envs.webshop.catalog import generate
    from envs.webshop.data import load_catalog
    from envs.webshop.search import SearchIndex

    bundled_per_type = generate.__defaults__[1]  # products_per_type of the bundled catalog
    t0 = time.perf_counter()
    products, attributes, human = generate(seed=0, products_per_type=bundled_per_type * scale)
    t1 = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    for name, payload in (("items_shuffle.json", products), ("items_ins_v2.json", attributes),
                          ("items_human_ins.json", human)):
        (folder / name).write_text(json.dumps(payload, ensure_ascii=False))
    t2 = time.perf_counter()
    catalog = load_catalog(folder)
    t3 = time.perf_counter()
    SearchIndex.for_catalog(catalog)
    t4 = time.perf_counter()
    return {"products": len(catalog.products), "generate_s": t1 - t0, "write_s": t2 - t1, "load_s": t3 - t2,
            "index_s": t4 - t3, "total_s": t4 - t0}


def webshop_search_child(folder: str, scale: int, queries: int, repeats: int, threads: int) -> dict[str, Any]:
    """(In a child process.) Build a ``scale``× catalog in ``folder`` and time ``search[...]`` steps of the
    env on it (``threads`` pinned): one per task, the task's instruction as keywords; median ms per
    repeat."""
    import envs

    root = Path(folder)
    with scratch_cache(root / "cache"):
        build = _webshop_catalog(root / "data", scale)
        env = envs.make("webshop", split="test", data=str(root / "data"))
        ids = env.unwrapped.task_ids[:queries]
        medians = []
        with pinned_threads(threads):
            for _ in range(repeats):
                times = []
                for task in ids:
                    _, info = env.reset(options={"task_id": task})
                    t0 = time.perf_counter()
                    env.step(f"search[{info['task']}]")
                    times.append(time.perf_counter() - t0)
                medians.append(1e3 * statistics.median(times))
        env.close()
    return {**build, "builds": [build["total_s"]], "search_ms": medians, "peak_rss_MiB": peak_rss_mib()}


def search_scaling(ctx: BenchContext) -> list[Result]:
    """WebShop search step latency and catalog build time at 1×, 10×, 100× the bundled catalog."""
    results = []
    for scale in ctx.pick((1, 10, 100), (1, 2)):
        name = f"webshop search @{scale}x catalog"
        try:
            child = run_child(
                "webshop_search_child",
                folder=str(ctx.work_dir / f"catalog-{scale}x"),
                scale=scale,
                queries=ctx.pick(50, 5),
                repeats=ctx.repeats,
                threads=ctx.threads,
            )
        except RuntimeError as err:
            results.append(Result(5, name, "ms", [], error=str(err)))
            continue
        details = {k: round(v, 3) for k, v in child.items() if k not in ("search_ms", "builds")}
        results.append(Result(5, f"webshop catalog generation @{scale}x", "s", child["builds"],
                              higher_is_better=False, details=details,
                              note="generate + write upstream's files + load + BM25 index"))
        results.append(Result(5, name, "ms", child["search_ms"], higher_is_better=False,
                              threads={"torch": ctx.threads, "blas": ctx.threads},
                              note=f"{child['products']} products"))
    return results


def generation_times(ctx: BenchContext) -> list[Result]:
    """Seconds to generate each env's bundled data from scratch (into a scratch dir)."""
    results = []
    for env, build in (("hotpotqa world", _gen_hotpotqa), ("alfworld game", _gen_alfworld)):
        values, details, error = [], {}, ""
        for r in range(1 if ctx.quick else min(ctx.repeats, 2)):
            try:
                seconds, details = build(ctx.work_dir / f"gen-{env.replace(' ', '-')}-{r}", ctx.quick)
            except Exception as err:
                error = f"{type(err).__name__}: {err}"
                break
            values.append(seconds)
        unit = "s per game" if env.startswith("alfworld") else "s"
        results.append(
            Result(5, f"{env} generation", unit, values, higher_is_better=False, details=details, error=error)
        )
    return results


def _gen_hotpotqa(folder: Path, quick: bool) -> tuple[float, dict[str, Any]]:
    from envs.hotpotqa.data import BUNDLE_SEED, write_bundle
    from envs.hotpotqa.world import SPLIT_SIZES, generate_world

    t0 = time.perf_counter()
    store, splits = generate_world(BUNDLE_SEED, SPLIT_SIZES)
    write_bundle(folder, store, splits)
    return time.perf_counter() - t0, {"pages": len(store), **{s: len(q) for s, q in splits.items()}}


def _gen_alfworld(folder: Path, quick: bool) -> tuple[float, dict[str, Any]]:
    """Generate and verify (on the real engine) the first ``valid_unseen`` games; seconds per game."""
    from envs.alfworld import data

    split = "valid_unseen"
    games = 1 if quick else 3
    types = data.task_type_schedule(split, data.SPLIT_SIZES[split])
    t0 = time.perf_counter()
    for index in range(games):
        data.build_game(folder, split, index, types[index])
    return (time.perf_counter() - t0) / games, {"games": games, "split": split}


# --- figure 6 -------------------------------------------------------------------------------------
def rollout_memory_child(env: str, environments: int) -> dict[str, Any]:
    """(In a child process.) Peak RSS of the expert played on ``environments`` envs at once, in process."""
    from harness.rollout import EpisodeJob, Rollout

    ids = task_ids(env, environments)
    before = peak_rss_mib()
    steps = 0

    def on_episode(rows: list[dict[str, Any]]) -> None:
        nonlocal steps
        steps += len(rows)

    jobs = [EpisodeJob(i, task, i) for i, task in enumerate(ids)]
    Rollout(env, ("expert", {"env": env}), jobs, on_episode, workers=0, in_flight=environments,
            env_kwargs={"split": "test"}).run()
    return {"peak_rss_MiB": peak_rss_mib(),
            "rss_before_MiB": before, "steps": steps}


def rollout_memory(ctx: BenchContext) -> list[Result]:
    """Peak RSS of a 64-environment rollout (workers=0, 64 in flight), per env, each in a fresh process."""
    ready, missing = available_envs()
    environments = ctx.pick(64, 4)
    results = []
    for env in ready:
        # one fresh process per env: peak RSS moved < 0.5% between runs (518.7 vs 519.2 MiB for alfworld)
        child = run_child("rollout_memory_child", env=env, environments=environments)
        results.append(Result(
            6, f"{env} {environments} envs", "MiB peak RSS", [child["peak_rss_MiB"]], higher_is_better=False,
            details={"rss_after_imports_and_task_list_MiB": child["rss_before_MiB"]},
            note="one process, workers=0 (a Ray worker holds its share of the envs the same way)",
        ))
    return results + _missing_rows(6, "MiB peak RSS", missing)
