"""Episode logs: the Parquet round trip, atomic per-episode parts, clear errors on foreign files."""
from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.logs import COLUMNS, EpisodeWriter, read_episodes


def rows(episode: int, steps: int, tokens: bool = False) -> list[dict]:
    out = []
    for step in range(steps):
        row = {
            "run_id": "r", "env": "webshop", "split": "test", "task_id": str(episode), "task": "buy a lamp",
            "task_type": "home", "episode": episode, "step": step, "observation": f"obs {step} ünïcode",
            "thought": "t", "action": f"search[{step}]", "completion": f"Thought: t\nAction: search[{step}]",
            "reward": 1.0 if step == steps - 1 else 0.0, "terminated": step == steps - 1, "truncated": False,
            "won": step == steps - 1, "score": 0.5, "invalid_action": False, "n_reason_tokens": 2,
            "n_act_tokens": 3, "latency_s": 0.01, "error": "",
        }
        if tokens:
            row.update(
                token_ids=[1, 2, 3], topk_ids=[[1, 4], [2, 5], [3, 6]], topk_logprobs=[[-0.1, -2.5]] * 3
            )
        out.append(row)
    return out


def test_round_trip_keeps_every_value(tmp_path):
    writer = EpisodeWriter(tmp_path)
    written = rows(1, 3, tokens=True) + rows(0, 2, tokens=True)
    writer.write(written[:3])
    writer.write(written[3:])
    assert writer.finished() == {0, 1}
    before = read_episodes(tmp_path)  # flushes the writer's queue first
    assert len(list((tmp_path / "episodes").glob("journal-*.arrows"))) == 1
    assert not (tmp_path / "episodes.parquet").exists()
    writer.consolidate()
    assert not (tmp_path / "episodes").exists()
    after = read_episodes(tmp_path / "episodes.parquet")
    pd.testing.assert_frame_equal(before, after)
    assert list(after["episode"]) == [0, 0, 1, 1, 1]
    expected = pd.DataFrame(sorted(written, key=lambda r: (r["episode"], r["step"])))
    for column in ["observation", "action", "reward", "won", "task_type"]:
        assert list(after[column]) == list(expected[column])
    assert [list(x) for x in after["token_ids"]] == [[1, 2, 3]] * 5
    assert [list(x) for x in after["topk_ids"].iloc[0]] == [[1, 4], [2, 5], [3, 6]]
    assert after["topk_logprobs"].iloc[0][0][1] == pytest.approx(-2.5)


def test_agents_without_tokens_leave_the_token_columns_null_and_more_episodes_append(tmp_path):
    writer = EpisodeWriter(tmp_path)
    writer.write(rows(0, 2))
    writer.consolidate()
    writer.write(rows(1, 1))
    assert writer.finished() == {0, 1}
    writer.consolidate()
    frame = read_episodes(tmp_path)
    assert list(frame["episode"]) == [0, 0, 1] and frame["token_ids"].isna().all()


def test_an_episode_is_never_written_twice(tmp_path):
    writer = EpisodeWriter(tmp_path)
    writer.write(rows(0, 2))
    with pytest.raises(ValueError, match="episode 0 is already written"):
        writer.write(rows(0, 2))
    with pytest.raises(ValueError, match="rows of one episode"):
        writer.write(rows(1, 1) + rows(2, 1))


def test_foreign_corrupt_and_missing_files_are_clear_errors(tmp_path):
    foreign = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({"a": [1]}), foreign)
    with pytest.raises(
        ValueError, match=r"foreign.parquet: not an agentdistill episode log: missing columns \['run_id'"
    ):
        read_episodes(foreign)
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(ValueError, match="corrupt.parquet: cannot be read as a Parquet episode log"):
        read_episodes(corrupt)
    wrong_type = tmp_path / "wrong.parquet"
    frame = pd.DataFrame(rows(0, 1)).assign(reward="high")
    pq.write_table(pa.Table.from_pandas(frame), wrong_type)
    with pytest.raises(ValueError, match="column 'reward' has type"):
        read_episodes(wrong_type)
    (tmp_path / "empty-run-dir").mkdir()
    with pytest.raises(FileNotFoundError, match="no episode log"):
        read_episodes(tmp_path / "empty-run-dir")
    with pytest.raises(ValueError, match="lack columns"):
        EpisodeWriter(tmp_path / "w").write([{k: v for k, v in rows(0, 1)[0].items() if k != "score"}])
    assert "error" in COLUMNS


def test_a_torn_journal_tail_loses_only_the_episode_being_written(tmp_path):
    writer = EpisodeWriter(tmp_path)
    writer.write(rows(0, 2))
    writer.flush()  # episode 0 is one complete batch on disk
    writer.write(rows(1, 3))
    writer.close()
    journal = next((tmp_path / "episodes").glob("journal-*.arrows"))
    data = journal.read_bytes()
    journal.write_bytes(data[: len(data) - 40])  # a crash in the middle of episode 1's batch
    assert list(read_episodes(tmp_path)["episode"]) == [0, 0]
    resumed = EpisodeWriter(tmp_path)
    assert resumed.finished() == {0}
    resumed.write(rows(1, 3))
    resumed.consolidate()
    assert list(read_episodes(tmp_path)["episode"]) == [0, 0, 1, 1, 1]


def test_a_new_writer_sees_what_an_unclosed_one_queued(tmp_path):
    first = EpisodeWriter(tmp_path)
    for episode in range(5):
        first.write(rows(episode, 2))
    second = EpisodeWriter(tmp_path)  # e.g. a rerun after Ctrl-C in the same process: flushes the first
    assert second.finished() == set(range(5))
    with pytest.raises(ValueError, match="episode 3 is already written"):
        second.write(rows(3, 2))
    second.consolidate()
    assert sorted(set(read_episodes(tmp_path)["episode"])) == list(range(5))


def test_a_lone_surrogate_costs_no_episode(tmp_path):
    """Model text with a lone UTF-16 surrogate (a JSON reply's "\\ud800") is written with U+FFFD in its
    place; before, the journal writer failed on it and every episode of the run was lost."""
    writer = EpisodeWriter(tmp_path)
    bad = rows(1, 2)
    bad[0].update(thought="odd \ud800 text", completion="Thought: odd \ud800 text\nAction: search[0]")
    bad[1]["observation"] = "a pair split in two: \ud83d\ude00"
    for episode in (rows(0, 1), bad, rows(2, 1)):
        writer.write(episode)
    writer.consolidate()
    frame = read_episodes(tmp_path)
    assert sorted(frame["episode"].unique()) == [0, 1, 2]
    episode = frame[frame["episode"] == 1]
    assert list(episode["thought"]) == ["odd \ufffd text", "t"]
    assert episode["completion"].iloc[0] == "Thought: odd \ufffd text\nAction: search[0]"
    assert episode["observation"].iloc[1] == "a pair split in two: \U0001f600"


def test_guided_reads_false_where_a_log_lacks_the_column_or_left_it_null(tmp_path):
    pd.DataFrame(rows(0, 2)).to_parquet(tmp_path / "old.parquet")  # a log written before the column
    assert read_episodes(tmp_path / "old.parquet")["guided"].tolist() == [False, False]
    writer = EpisodeWriter(tmp_path / "run")
    writer.write([{**row, "guided": flag} for row, flag in zip(rows(0, 3), [True, None, False], strict=True)])
    writer.consolidate()
    frame = read_episodes(tmp_path / "run")
    assert frame["guided"].tolist() == [True, False, False] and frame["guided"].dtype == bool


def test_consolidating_an_older_log_with_new_episodes_keeps_both_in_the_full_schema(tmp_path):
    pd.DataFrame(rows(1, 2)).to_parquet(tmp_path / "episodes.parquet")  # no token or guided columns
    writer = EpisodeWriter(tmp_path)
    writer.write(rows(0, 3, tokens=True))
    writer.consolidate()
    table = pq.read_table(tmp_path / "episodes.parquet")
    assert table.schema.names[: len(COLUMNS)] == list(COLUMNS) and "token_ids" in table.schema.names
    frame = read_episodes(tmp_path)
    assert list(zip(frame["episode"], frame["step"], strict=True)) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]
    assert frame["token_ids"].iloc[4] is None and list(frame["token_ids"].iloc[0]) == [1, 2, 3]
    assert frame["guided"].tolist() == [False] * 5
