"""register: put a gated candidate in the MLflow Model Registry with its full lineage.

A release step, so not a DVC stage. The same model (same content hash) is never
registered twice: the existing version is reported instead. The first version ever
becomes ``champion``; later ones become ``challenger`` until promoted."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mlpipe.core.errors import GateFailed
from mlpipe.core.io import file_sha256, read_json, write_json
from mlpipe.core.lineage import environment
from mlpipe.core.paths import ProjectPaths
from mlpipe.core.registry import Registry, RegistryError, fault_point
from mlpipe.release import aliases

if TYPE_CHECKING:  # pandas: not for the already-registered check
    from mlpipe.core.project import Project

LINEAGE_PREFIXES = (
    "git.",
    "data.",
    "env.",
    "model.",
    "params",
    "train.",
    "prefect.",
    "reproduce",
    "tuning.",
)


def release_tags(
    run_tags: dict[str, str],
    run_id: str,
    evaluation: dict[str, Any],
    verdict: dict[str, Any],
    registered_lock: str | None,
    force_reason: str | None,
) -> dict[str, str]:
    """The run's lineage tags plus what the release adds: metrics, gate verdict, run id."""
    tags = {k: v for k, v in run_tags.items() if k.startswith(LINEAGE_PREFIXES)}
    tags.update(
        {
            "mlflow.run_id": run_id,
            "metrics.test.roc_auc": evaluation["model"].get("roc_auc"),
            "metrics.test.pr_auc": evaluation["model"].get("pr_auc"),
            "env.registered_lock_sha256": registered_lock,
            "gate.verdict": "passed" if verdict["passed"] else "failed",
            "gate.champion_compared": verdict.get("champion_version"),
            "gate.warnings": json.dumps(verdict.get("warnings", [])),
        }
    )
    if force_reason:
        tags["gate.forced_reason"] = force_reason
    return {key: str(value) for key, value in tags.items()}


def refuse_dirty(run_tags: dict[str, str], project: Project, force_reason: str | None) -> None:
    """A model trained from uncommitted code cannot be reviewed or reproduced (checklist
    M1): refused unless configs/gate.yaml allows it or the registration is forced."""
    if run_tags.get("git.dirty") != "True" or force_reason:
        return
    if project.configs.gate.release.allow_dirty:
        return
    raise GateFailed(
        "the model was trained from a dirty git tree (uncommitted changes to tracked "
        f"files, diff sha256 {run_tags.get('git.diff_sha256', '?')[:12]}): nobody can review or "
        "reproduce it. Commit, re-run the pipeline and register; or use --force --reason "
        "'...' (configs/gate.yaml release.allow_dirty: true allows it always)"
    )


def registered(paths: ProjectPaths) -> tuple[dict[str, Any] | None, list[str]]:
    """The registration of the current candidate (models/model.joblib) if it is already
    registered, else None; and what was recovered first (whatever a killed registry
    command left). Cheap: no gate, no model, no domain package, no pandas."""
    registry = Registry(paths, must_exist=False)
    if not registry.exists():
        return None, []
    notes = aliases.recover(registry)
    sha256 = file_sha256(paths.models / "model.joblib")
    existing = registry.find_by_tag("model.sha256", sha256)
    if existing is None:
        return None, notes
    return {"version": existing.version, "new": False, "alias": None}, notes


def run(project: Project, force_reason: str | None = None) -> dict[str, Any]:
    paths = project.paths
    verdict = read_json(paths.reports / "gate" / "verdict.json")
    sha256 = file_sha256(paths.models / "model.joblib")
    if verdict.get("model_sha256") != sha256:
        raise GateFailed("reports/gate/verdict.json judged another model: run `mlpipe gate` first")
    if not verdict.get("passed") and not force_reason:
        raise GateFailed(
            "the candidate failed the quality gate: nothing registered "
            "(use --force --reason '...' for a documented exception)"
        )
    mlflow_run = read_json(paths.reports / "mlflow_run.json")
    evaluation = read_json(paths.reports / "metrics.json")
    slices = read_json(paths.reports / "slice_metrics.json")

    registry = Registry(paths, must_exist=True)
    refuse_dirty(registry.run_tags(mlflow_run["run_id"]), project, force_reason)
    with registry.lock():
        aliases.recover(registry)
        existing = registry.find_by_tag("model.sha256", sha256)
        if existing is not None:
            result = {"version": existing.version, "new": False, "alias": None}
            write_json(paths.reports / "registration.json", result)
            return result
        tags = release_tags(
            registry.run_tags(mlflow_run["run_id"]),
            mlflow_run["run_id"],
            evaluation,
            verdict,
            environment(paths.root)["lock_sha256"],
            force_reason,
        )
        if tags.get("model.sha256") != sha256:
            raise RegistryError(
                "the MLflow run logged a different model than models/: "
                "run the pipeline again before registering"
            )
        from mlpipe.release.card import model_card  # pandas: not for the quick checks

        card = model_card(registry.name, project.domain.card, tags, evaluation, slices, verdict)
        registry.log_text(mlflow_run["run_id"], card, "model_card.md")
        registry.ensure_model("Registered by mlpipe: see each version's model card.")
        # written ahead: a crash from here on is finished by the next registry command
        intent = registry.begin_registration(sha256, force_reason)
        version = registry.register(mlflow_run["model_uri"], mlflow_run["run_id"], tags, card)
        fault_point("register.version")
        alias = aliases.on_registration(registry, version.version, force_reason)
        fault_point("register.alias")
        registry.end_intent(intent)
    result = {"version": version.version, "new": True, "alias": alias}
    write_json(paths.reports / "registration.json", result)
    return result
