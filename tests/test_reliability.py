"""Failures a user meets end as one clear message that names the file at fault and what to
do (no traceback): a corrupt MLflow store, a missing model file, a truncated source file,
a stage that raises something unexpected."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from flows.failures import known_failure
from mlpipe.core.errors import ConfigError, DataError
from mlpipe.core.tracking import check_store
from tasks.ingest import check_complete
from tests.helpers import REPO, make_project, project_env, run_cli


def _store(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, payload TEXT)")
        db.executemany("INSERT INTO runs (payload) VALUES (?)", [("x" * 500,)] * 400)
    return path


def test_a_corrupt_store_is_named_with_what_to_do(tmp_path):
    store = _store(tmp_path / "mlflow.db")
    check_store(f"sqlite:///{store}")  # a sound store passes
    overwritten = store.read_bytes()
    (tmp_path / "header.db").write_bytes(b"\0" * 100 + overwritten[100:])
    (tmp_path / "cut.db").write_bytes(overwritten[: len(overwritten) // 2])
    for name in ("header.db", "cut.db"):
        with pytest.raises(DataError, match="restore it from a backup") as caught:
            check_store(f"sqlite:///{tmp_path / name}")
        assert str(tmp_path / name) in str(caught.value)


def test_the_cli_names_a_corrupt_store_in_one_line(tmp_path):
    root = make_project(tmp_path / "project", commit=False)
    (root / "mlflow.db").write_bytes(b"not a database at all" * 200)
    done = run_cli(root, "mlpipe", "models")
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"the MLflow store {root / 'mlflow.db'} is corrupt" in done.stderr
    assert "restore it from a backup" in done.stderr


def test_a_missing_model_file_says_how_to_rebuild_it(tmp_path):
    missing = FileNotFoundError(2, "No such file or directory")
    missing.filename = str(tmp_path / "models" / "model.joblib")
    found = known_failure(RuntimeError("wrapped"), tmp_path)
    assert found is None
    error = RuntimeError("stage failed")
    error.__cause__ = missing
    message = str(known_failure(error, tmp_path))
    assert "models/model.joblib is missing" in message
    assert "dvc checkout models/model.joblib" in message and "mlpipe run" in message


def test_a_truncated_csv_in_a_valid_zip_is_reported_as_truncated(tmp_path):
    frame = pd.DataFrame({"id": range(50), "city": ["x"] * 50, "minutes": [1.5] * 50})
    text = frame.to_csv(index=False)
    archive = tmp_path / "table.csv.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("table.csv", text[: len(text) - 5])  # cut mid-row
    read = pd.read_csv(archive)
    with pytest.raises(DataError, match=r"'table' looks truncated: its last row"):
        check_complete({"table": read})
    check_complete({"table": frame})


@pytest.mark.integration
def test_a_failing_run_is_one_message_without_tracebacks(tmp_path):
    """A stage raising an unexpected error: Prefect's tracebacks and failure records stay
    off the console; the run ends with one `error:` block."""
    root = make_project(tmp_path / "project")
    source = root / "toydomain" / "source.py"
    source.write_text(
        source.read_text().replace(
            "def load_sources(options: Options) -> dict[str, pd.DataFrame]:\n",
            "def load_sources(options: Options) -> dict[str, pd.DataFrame]:\n"
            "    raise RuntimeError('the source store hung up')\n",
        )
    )
    dvc_yaml = root / "dvc.yaml"
    dvc_yaml.write_text(dvc_yaml.read_text().replace("retries: 2", "retries: 0"))
    done = run_cli(root, "mlpipe", "run")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "ERROR" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "the source store hung up" in errors[0]
    assert done.stderr.rstrip().endswith(errors[0])


def _children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.append(int(status.parent.name))
    return found


def _gone(pid: int) -> bool:
    """Exited (or a zombie nobody reaps: dead all the same)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def _killed_mid_write(target: Path) -> Path:
    """A real process killed (-9) inside an atomic write of ``target``: its temporary file."""
    code = (
        "import sys, time; from pathlib import Path; from mlpipe.core.io import atomic_path\n"
        "with atomic_path(Path(sys.argv[1])) as tmp:\n"
        "    tmp.write_bytes(b'half a model'); print(tmp, flush=True); time.sleep(600)\n"
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    temporary = Path(writer.stdout.readline().strip())
    writer.kill()
    writer.wait()
    assert temporary.is_file() and temporary.name.startswith(f".{target.name}.")
    return temporary


@pytest.mark.integration
def test_kill_9_leaves_no_server_and_the_next_run_clears_the_litter(tmp_path):
    """``kill -9`` of a real `mlpipe run` while its Prefect server runs: the server dies
    with it; a temporary file of a write that was killed is removed by the next run."""
    root = make_project(tmp_path / "project")
    litter = _killed_mid_write(root / "models" / "model.joblib")
    run = subprocess.Popen(
        ["mlpipe", "run", "--no-register"],
        cwd=root,
        env=project_env(root),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        server = []
        while not server and time.monotonic() < deadline and run.poll() is None:
            server = [pid for pid in _children(run.pid) if "uvicorn" in _cmdline(pid)]
            time.sleep(0.2)
        assert server, "the run never started its Prefect server"
        assert not litter.exists()  # swept before any work
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        deadline = time.monotonic() + 30
        while not _gone(server[0]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _gone(server[0]), "the Prefect server outlived its parent"
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _raw_bytes(root: Path) -> dict[str, bytes]:
    files = sorted((root / "data" / "raw").glob("*.parquet"))
    return {path.name: path.read_bytes() for path in files} | {
        "provenance": (root / "data" / "raw.provenance.json").read_bytes()
    }


@pytest.mark.integration
def test_a_failed_ingest_keeps_the_last_good_data_through_run_and_dvc_repro(tmp_path):
    """DVC deletes a stage's outputs before running it unless they persist: data/raw does,
    and ingest swaps it in atomically, so a failing source leaves the last good tables."""
    from mlpipe.core.dag import reproduce
    from tasks import run_step

    root = make_project(tmp_path / "project")
    reproduce(root, "ingest", lambda args: run_step(args, root))
    good = _raw_bytes(root)
    source = root / "toydomain" / "source.py"
    source.write_text(
        source.read_text().replace(
            '    return {"visits": visits(options), "stores": stores()}\n',
            "    raise OSError('the source store is unreachable')\n",
        )
    )
    dvc_yaml = root / "dvc.yaml"
    dvc_yaml.write_text(dvc_yaml.read_text().replace("retries: 2", "retries: 0"))
    for command in (["mlpipe", "run", "--no-register"], ["dvc", "repro", "ingest"]):
        done = run_cli(root, *command)
        assert done.returncode != 0 and "the source store is unreachable" in done.stderr
        assert _raw_bytes(root) == good, command
        for name in good:
            if name.endswith(".parquet"):
                assert len(pd.read_parquet(root / "data" / "raw" / name)) > 0
    status = run_cli(root, "dvc", "status", "ingest")
    assert "toydomain/source.py" in status.stdout and "data/raw" not in status.stdout


def test_the_server_start_up_timeout_is_the_projects_wherever_mlpipe_runs(tmp_path, monkeypatch):
    from flows.server import DEFAULT_TIMEOUT_SECONDS, TIMEOUT_VARIABLE, startup_timeout

    monkeypatch.delenv(TIMEOUT_VARIABLE, raising=False)
    assert startup_timeout(tmp_path) == DEFAULT_TIMEOUT_SECONDS  # a generated project
    (tmp_path / "pyproject.toml").write_text(
        "[tool.prefect]\nserver.ephemeral.startup_timeout_seconds = 45\n"
    )
    monkeypatch.chdir(tmp_path.parent)  # read from the project root, not from here
    assert startup_timeout(tmp_path) == 45
    monkeypatch.setenv(TIMEOUT_VARIABLE, "7.5")
    assert startup_timeout(tmp_path) == 7.5
    monkeypatch.setenv(TIMEOUT_VARIABLE, "soon")
    with pytest.raises(ConfigError, match=f"{TIMEOUT_VARIABLE} = 'soon'"):
        startup_timeout(tmp_path)


def test_a_server_that_does_not_answer_in_time_is_one_message_and_stopped(tmp_path, monkeypatch):
    from flows.server import ServerTimeout, TemporaryServer

    monkeypatch.setenv("PREFECT_API_URL", "")  # the server exports its URL: undone after
    server = TemporaryServer(tmp_path, tmp_path / ".mlpipe")
    process = server.process
    with pytest.raises(ServerTimeout, match=r"did not answer within 0\.2 s .* raise server"):
        server.wait(0.2)
    assert process is not None and process.poll() is not None


def test_the_plan_knows_which_stages_may_run_side_by_side(tmp_path):
    """Each stage lists the stages it reads from (DVC's graph): the flow starts it when
    those are done, so staleness need not wait for validation, training or evaluation."""
    from mlpipe.core.dag import plan

    specs = {spec.name: spec.after for spec in plan(make_project(tmp_path / "project"))}
    assert specs["ingest"] == ()
    assert specs["staleness"] == ("featurize",)
    assert set(specs["evaluate"]) == {"featurize", "train"}
    assert "staleness" not in {name for after in specs.values() for name in after}


def test_a_record_the_store_cannot_confirm_is_no_registration(tmp_path):
    """The nothing-to-do check trusts no record the store does not confirm: an SQLite file
    without MLflow's tables, or no file at all, holds no version."""
    from mlpipe.core.registry import SqliteStore

    store = _store(tmp_path / "mlflow.db")  # an SQLite file without MLflow's tables
    assert SqliteStore(store).versions("model", "1") == []
    assert SqliteStore(tmp_path / "none.db").versions("model", "1") == []


def test_an_import_race_between_stages_is_recognised_for_a_rerun():
    """Stages side by side import lazily; Python may refuse one thread's import with a
    _DeadlockError (seen in CI): the stage runs again, any other error fails it."""
    from flows.training import _import_deadlock

    class _DeadlockError(RuntimeError):  # importlib's private class, by name
        pass

    try:
        try:
            raise _DeadlockError("deadlock detected by _ModuleLock('x')")
        except RuntimeError as inner:
            raise ValueError("while running a stage") from inner
    except ValueError as wrapped:
        assert _import_deadlock(wrapped)
    assert not _import_deadlock(RuntimeError("deadlock"))
    assert not _import_deadlock(None)
