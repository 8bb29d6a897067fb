"""The whole pipeline for real, on the synthetic toy domain: through the Prefect flow
(`mlpipe run`) and through `dvc repro`, in throw-away copies of the project (checklist
I3, I1)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from mlpipe.core.io import file_md5
from mlpipe.core.lineage import dvc_lock_hashes
from tests.helpers import make_project, project_env, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("flow")]

# outputs whose bytes must not depend on when or how the pipeline ran
DETERMINISTIC = (
    "data/raw",
    "data/features/features.parquet",
    "reports/validation/raw.json",
    "reports/validation/features.json",
    "models/model.joblib",
    "models/baseline.joblib",
    "models/model.json",
    "reports/metrics.json",
    "reports/slice_metrics.json",
    "reports/importance.json",
    "reports/staleness.json",
)


def head(root: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, list[subprocess.CompletedProcess[str]]]:
    """Two `mlpipe run` started together on one new project, as real processes."""
    root = make_project(tmp_path_factory.mktemp("flow") / "project")
    started = [
        subprocess.Popen(
            ["mlpipe", "run"],
            cwd=root,
            env=project_env(root),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    done = []
    for process in started:
        stdout, stderr = process.communicate(timeout=1200)
        done.append(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr))
    return root, sorted(done, key=lambda run: WAITED in run.stderr)


@pytest.fixture(scope="module")
def flow_mlflow_run(two_runs) -> str:
    """The MLflow run the flow logged (read before any other test re-runs evaluate)."""
    root, _ = two_runs
    return json.loads((root / "reports" / "mlflow_run.json").read_text())["run_id"]


WAITED = "another `mlpipe run` is running on this project"


@pytest.fixture(scope="module")
def flow_project(two_runs, flow_mlflow_run) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The project after a whole run (the one of the two that ran first); its MLflow run
    noted before any test re-runs a stage."""
    root, (first, _second) = two_runs
    return root, first


def test_two_runs_started_together_both_end_cleanly(two_runs):
    """The second waits for the project lock, says so, then finds nothing left to do."""
    _root, (first, second) = two_runs
    assert first.returncode == 0, first.stderr[-3000:]
    assert second.returncode == 0, second.stderr[-3000:]
    assert WAITED not in first.stderr and WAITED in second.stderr
    assert "nothing to do" in second.stdout and "registered as version 1" in second.stdout


@pytest.mark.checklist("I3")
def test_flow_runs_every_stage_and_summarises(flow_project):
    _root, done = flow_project
    assert done.returncode == 0, done.stderr[-3000:]
    stages = (
        "ingest",
        "validate_raw",
        "featurize",
        "validate_features",
        "train",
        "evaluate",
        "staleness",
        "gate",
        "register",
    )
    for stage in stages:
        assert stage in done.stdout
    assert "Test metrics" in done.stdout and "roc_auc" in done.stdout
    assert "Registered version 1 as champion" in done.stdout
    # a successful run is quiet: stage lines only, no warnings a user learns to ignore
    noises = ("Warning", "Created temporary directory", "pickle", "pip version", "View at")
    for noise in (*noises, "Traceback"):
        assert noise not in done.stderr, noise


def test_after_the_flow_dvc_has_nothing_to_do(flow_project):
    root, done = flow_project
    assert done.returncode == 0
    status = run_cli(root, "dvc", "status")
    assert "up to date" in status.stdout, status.stdout
    repro = run_cli(root, "dvc", "repro")
    assert repro.returncode == 0
    assert "Running stage" not in repro.stdout
    assert "up to date" in repro.stdout


def test_flow_is_incremental(flow_project):
    """Nothing changed and the model is registered: no flow run, no gate, and it says why."""
    root, _done = flow_project
    again = run_cli(root, "mlpipe", "run")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "nothing to do" in again.stdout and "registered as version 1" in again.stdout
    assert "flow run" not in again.stderr
    # a stale record (the registry no longer holds that model) runs the release steps again
    record = root / ".mlpipe" / "registered.json"
    stale = json.loads(record.read_text())
    record.write_text(json.dumps({**stale, "model_sha256": "0" * 64}))
    checked = run_cli(root, "mlpipe", "run")
    assert checked.returncode == 0, checked.stderr[-2000:]
    assert checked.stdout.count("unchanged") == 7
    assert "Same model as registered version 1" in checked.stdout
    assert json.loads(record.read_text()) == stale
    # a registration killed half-way (its intent still pending in the registry) is finished
    # or undone by the release steps, never skipped
    from mlpipe.core.paths import ProjectPaths
    from mlpipe.core.registry import Registry

    Registry(ProjectPaths(root)).begin_registration(stale["model_sha256"], None)
    pending = run_cli(root, "mlpipe", "run")
    assert pending.returncode == 0, pending.stderr[-2000:]
    assert "nothing to do" not in pending.stdout
    assert not Registry(ProjectPaths(root)).pending()


def test_provenance_of_the_raw_data(flow_project):
    root, _ = flow_project
    provenance = json.loads((root / "data" / "raw.provenance.json").read_text())
    assert provenance["source"] == "synthetic"
    assert provenance["extracted_by"]["commit"] == head(root)
    assert provenance["extracted_by"]["dirty"] is False
    assert provenance["extracted_at"].endswith("+00:00")
    for name, table in provenance["tables"].items():
        assert table["md5"] == file_md5(root / "data" / "raw" / f"{name}.parquet")
        assert table["rows"] > 0
    assert provenance["tables"]["visits"]["rows"] == 300 * 20


def test_reports_and_plots_are_written(flow_project):
    root, _ = flow_project
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    for name in ("roc_auc", "pr_auc", "log_loss", "brier", "accuracy", "f1"):
        assert metrics["model"][name] is not None and metrics["baseline"][name] is not None
    assert 0 < metrics["threshold"] < 1
    slices = json.loads((root / "reports" / "slice_metrics.json").read_text())
    assert {row["slice"] for row in slices} == {"region", "week"}
    for plot in ("roc", "precision_recall", "calibration", "confusion", "importance"):
        assert (root / "reports" / "plots" / f"{plot}.png").stat().st_size > 1000
    for dataset in ("raw", "features"):
        assert "<table>" in (root / "reports" / "validation" / f"{dataset}.html").read_text()
    costs = json.loads((root / "reports" / "feature_costs.json").read_text())
    assert set(costs) == set(yaml.safe_load((root / "params.yaml").read_text())["features"])


def test_mlflow_run_has_params_metrics_lineage_and_model(flow_project, flow_mlflow_run):
    from mlflow import MlflowClient

    root, _ = flow_project
    run_id = flow_mlflow_run
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    run = client.get_run(run_id)
    assert run.data.params["model.max_iter"] == "30"
    assert run.data.metrics["test.roc_auc"] > 0.5
    assert "baseline.roc_auc" in run.data.metrics
    tags = run.data.tags
    assert tags["git.commit"] == head(root)
    assert tags["data.features.md5"] == dvc_lock_hashes(root)["data/features/features.parquet"]
    assert tags["data.raw.md5"] == dvc_lock_hashes(root)["data/raw"]
    model_json = json.loads((root / "models" / "model.json").read_text())
    assert tags["model.sha256"] == model_json["sha256"]["model"]
    assert tags["prefect.flow_run_id"] not in ("", "None")
    assert tags["env.lock_sha256"] not in ("", "None")
    assert {d.dataset.name for d in run.inputs.dataset_inputs} == {"train", "valid", "test"}
    artifacts = {a.path for a in client.list_artifacts(run_id, "plots")}
    assert "plots/roc.png" in artifacts
    models = client.search_logged_models(experiment_ids=[run.info.experiment_id])
    assert any(m.source_run_id == run_id for m in models)


@pytest.mark.checklist("I1")
def test_dvc_repro_force_reproduces_the_flow_results_byte_for_byte(flow_project):
    """`dvc repro --force` re-runs every stage as separate commands (no Prefect) and must
    give the same content hashes as the flow did: same code + data + params, same result."""
    root, done = flow_project
    assert done.returncode == 0
    before = dvc_lock_hashes(root)
    forced = run_cli(root, "dvc", "repro", "--force")
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert forced.stdout.count("Running stage") == 7
    after = dvc_lock_hashes(root)
    for path in DETERMINISTIC:
        assert before[path] == after[path], path


def test_optional_windows_a_fixed_threshold_needs_no_validation_window(tmp_path):
    """No `valid` window (the threshold is fixed) and no holdout: every stage still runs."""
    from tests.helpers import run_pipeline

    root = make_project(tmp_path / "project", {"evaluate": {"threshold": 0.4}})
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["split"] = {"train": [1, 12], "test": [13, 15]}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run_pipeline(root)
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    assert metrics["threshold"] == 0.4 and metrics["valid"] is None
    featurized = json.loads((root / "reports" / "featurize.json").read_text())
    assert set(featurized["rows_per_split"]) == {"train", "test"}
