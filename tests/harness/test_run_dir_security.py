"""No file of a run directory is written through a symbolic link (or a hard link, for the lock): a link
where a run file is due is refused with one line naming it, and the file it points to is unchanged."""
from __future__ import annotations

import json
import os

import pytest

from harness import cli
from harness.errors import UserError
from harness.experiment.layout import STAGE_MARKER, write_json
from harness.logs import EpisodeWriter
from harness.run_dir import RunLock, write_text

VICTIM_TEXT = "precious: not to be overwritten\n"


def _eval(run, capsys) -> tuple[int, str]:
    argv = ["eval", "--env", "webshop", "--agent", "random", "--episodes", "1", "--workers", "0",
            "--run", str(run), "--no-progress"]
    code = cli.main(argv)
    return code, capsys.readouterr().err


@pytest.fixture
def victim(tmp_path):
    path = tmp_path / "victim.txt"
    path.write_text(VICTIM_TEXT)
    return path


@pytest.mark.parametrize("name", ["run.lock", "summary.json", "run.json", "episodes.parquet", "episodes"])
def test_eval_refuses_a_link_in_its_run_dir_and_leaves_the_target_alone(tmp_path, victim, capsys, name):
    run = tmp_path / "runs" / "x"
    run.mkdir(parents=True)
    (run / name).symlink_to(victim)
    code, err = _eval(run, capsys)
    assert code == 2
    assert f"{run / name} is a symbolic link (to {victim})" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert victim.read_text() == VICTIM_TEXT
    assert (run / name).is_symlink()  # left for the user to look at


def test_eval_writes_no_file_through_a_linked_summary_even_when_made_mid_run(tmp_path, victim, capsys,
                                                                           monkeypatch):
    """The links refused at the start are refused again where each file is written: a link planted while
    the episodes play is refused there, the episodes kept for a rerun."""
    run = tmp_path / "x"
    from harness import evaluate as evaluate_module

    original = evaluate_module.read_episodes

    def plant_then_read(path):  # runs after the episodes are played, before the summary is written
        (run / "summary.json").symlink_to(victim)
        return original(path)

    monkeypatch.setattr(evaluate_module, "read_episodes", plant_then_read)
    code, err = _eval(run, capsys)
    assert code == 2 and f"{run / 'summary.json'} is a symbolic link (to {victim})" in err
    assert victim.read_text() == VICTIM_TEXT
    assert (run / "episodes.parquet").is_file() and not (run / "run.lock").exists()


def test_a_run_dir_that_is_a_link_is_refused_naming_its_target(tmp_path, capsys):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (tmp_path / "x").symlink_to(target)
    code, err = _eval(tmp_path / "x", capsys)
    assert code == 2, err
    link = tmp_path / "x"
    assert f"{link}: the run directory is a symbolic link (to {target}), which is not followed; " in err
    assert list(target.iterdir()) == []


def test_a_lock_file_with_another_name_is_refused_and_not_truncated(tmp_path, victim):
    run = tmp_path / "x"
    run.mkdir()
    os.link(victim, run / "run.lock")
    with pytest.raises(UserError, match="run.lock: the run lock has 2 names"):
        RunLock(run).acquire()
    assert victim.read_text() == VICTIM_TEXT


def test_pipeline_files_and_markers_are_not_written_through_links(tmp_path, victim):
    for name in ("pipeline.json", STAGE_MARKER):
        (tmp_path / name).symlink_to(victim)
        with pytest.raises(UserError, match=f"{tmp_path / name} is a symbolic link"):
            write_json(tmp_path / name, {"env": "webshop"})
    assert victim.read_text() == VICTIM_TEXT
    write_json(tmp_path / "fresh.json", {"env": "webshop"})
    assert json.loads((tmp_path / "fresh.json").read_text()) == {"env": "webshop"}
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_the_episode_writer_refuses_a_linked_log(tmp_path, victim):
    run = tmp_path / "x"
    run.mkdir()
    (run / "episodes.parquet").symlink_to(victim)
    with pytest.raises(UserError, match="episodes.parquet is a symbolic link"):
        EpisodeWriter(run)
    assert victim.read_text() == VICTIM_TEXT


def test_atomic_writes_leave_plain_files_with_readable_modes(tmp_path):
    write_text(tmp_path / "a.json", "{}")
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
