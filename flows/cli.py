"""mlpipe: the project's one command-line entry point.

Heavy libraries (Prefect, DVC, MLflow, GX, scikit-learn) are imported inside the
commands that use them, so `mlpipe --help` starts fast."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from mlpipe.core.errors import PipelineError

app = typer.Typer(
    name="mlpipe",
    help="End-to-end ML pipeline: Prefect flows over the DVC DAG, tracked in MLflow.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


DEBUG_VARIABLE = "MLPIPE_DEBUG"


@app.callback()
def options(
    debug: Annotated[
        bool, typer.Option("--debug", help=f"Show tracebacks (same as {DEBUG_VARIABLE}=1).")
    ] = False,
) -> None:
    """End-to-end ML pipeline: Prefect flows over the DVC DAG, tracked in MLflow."""
    import os

    from mlpipe.core.cpus import limit_threads

    if debug:
        os.environ[DEBUG_VARIABLE] = "1"
    guarded(limit_threads)  # thread pools sized before a command loads numpy or scikit-learn


def guarded(action: Callable[[], Any]) -> Any:
    """Run ``action``; any failure becomes one clear message and a non-zero exit (the
    traceback only with MLPIPE_DEBUG=1 or --debug)."""
    import os

    try:
        return action()
    except PipelineError as error:
        _fail(str(error), error.exit_code)
    except ImportError as error:
        _fail(f"{error}: is the environment installed? run `make install`")
    except Exception as error:
        if os.environ.get(DEBUG_VARIABLE):
            raise
        from flows.failures import known_failure
        from mlpipe.core.paths import find_root

        try:
            known = known_failure(error, find_root())
        except PipelineError:
            known = None
        if known is not None:
            _fail(str(known), known.exit_code)
        if "dvc" in sys.modules:
            from dvc.exceptions import DvcException

            if isinstance(error, DvcException):
                cause = f" ({error.__cause__})" if error.__cause__ else ""
                _fail(f"DVC: {error}{cause}")
        _fail(
            f"unexpected {type(error).__name__}: {error} (set {DEBUG_VARIABLE}=1 for the traceback)"
        )


def _waiting(holder: str) -> None:
    typer.secho(
        f"another `mlpipe run` is running on this project ({holder or 'pid unknown'}): "
        "waiting for it to end, then this run checks what is left to do",
        fg="yellow",
        err=True,
    )


@app.command()
def run(
    force: Annotated[bool, typer.Option(help="Re-run stages that have not changed.")] = False,
    register: Annotated[
        bool, typer.Option(help="Gate and register the candidate after evaluate.")
    ] = True,
    root: Annotated[
        Path | None, typer.Option(help="Project folder (default: found from here).")
    ] = None,
) -> None:
    """Run the training pipeline (every stage of dvc.yaml) as a Prefect flow; with nothing
    to do (DVC: every stage unchanged; the model already registered) it says so and stops."""

    def action() -> None:
        from mlpipe.core.io import exclusive_lock, remove_stale_temporaries
        from mlpipe.core.paths import ProjectPaths

        start = time.perf_counter()
        paths = ProjectPaths(root.resolve()) if root else ProjectPaths.discover()
        with exclusive_lock(paths.state / "run.lock", _waiting):
            litter = remove_stale_temporaries([paths.data, paths.models, paths.reports])
            for path in litter:
                typer.echo(f"removed {path.relative_to(paths.root)} (left by an interrupted run)")
            from flows.uptodate import nothing_to_do

            skipped = None if force else nothing_to_do(paths, register)
            if skipped:
                typer.echo(f"{skipped} ({time.perf_counter() - start:.1f} s)")
                return
            ready = _prefect_api(paths.root)  # the server boots while the rest loads
            from mlpipe.core.project import Project

            Project.load(paths.root)  # every setting checked before any work
            _run_flow(paths, force, register, start, ready)

    guarded(action)


def _prefect_api(root: Path) -> Callable[[], None]:
    """Start the Prefect API for this command's flow now (a temporary server, unless
    PREFECT_API_URL names one); call the result once the flow is imported: it quiets the
    console and waits for the server."""
    from flows.server import PrefectApi
    from mlpipe.core.paths import ProjectPaths

    api = PrefectApi(root, ProjectPaths(root).state)

    def ready() -> None:
        from flows.failures import quiet_console

        quiet_console()
        api.url()

    return ready


def _run_flow(
    paths: Any, force: bool, release: bool, start: float, ready: Callable[[], None]
) -> None:
    """The training flow, once ``ready`` (the Prefect API) returns."""
    from flows.summary import print_summary
    from flows.training import training
    from mlpipe.core.tracking import tracking_settings

    ready()
    state = training(root=str(paths.root), force=force, release=release, return_state=True)
    if state.is_failed():
        message = state.message or "the training flow failed"
        if "encountered an exception" in message:
            message += f" (set {DEBUG_VARIABLE}=1 for the traceback)"
        raise PipelineError(message)
    settings = tracking_settings(paths)
    print_summary(
        state.result(),
        time.perf_counter() - start,
        [
            f"Reports: {paths.reports} (validation/*.html, plots/*.png, metrics.json)",
            f"MLflow UI: mlflow ui --backend-store-uri {settings.tracking_uri}",
            "Prefect UI: prefect server start, then PREFECT_API_URL=http://127.0.0.1:4200/api",
        ],
    )


@app.command(context_settings={"allow_extra_args": True})
def stage(
    name: Annotated[str, typer.Argument(help="Step module in tasks/ (ingest, validate, ...).")],
    args: Annotated[list[str] | None, typer.Argument(help="Stage arguments.")] = None,
) -> None:
    """Run one step of tasks/ in this process (the command of each stage in dvc.yaml)."""
    from tasks import run_step

    def action() -> None:
        import resource

        start = time.perf_counter()
        run_step([name, *(args or [])])
        seconds = time.perf_counter() - start
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        label = " ".join([name, *(args or [])])
        typer.echo(f"stage {label} done in {seconds:.1f} s, peak memory {peak_mb:.0f} MB")

    guarded(action)


def _reason(force: bool, reason: str | None) -> str | None:
    if force and not (reason and reason.strip()):
        _fail("--force needs --reason '...': forced changes are recorded with their reason", 2)
    return reason.strip() if force and reason else None


ForceOption = Annotated[bool, typer.Option(help="Override the gate check (needs --reason).")]
ReasonOption = Annotated[str | None, typer.Option(help="Why: recorded in the registry.")]


@app.command()
def gate() -> None:
    """Judge the current candidate against configs/gate.yaml (exit 1 if it fails)."""
    from tasks import run_step

    def action() -> None:
        result = run_step(["gate"])
        if result.get("registered_version"):
            typer.echo(f"gate not run again: {result['note']} is 'passed'")
        else:
            typer.echo(f"gate passed: {result['checks']} checks; {result['note']}")
        for warning in result["warnings"]:
            typer.secho(f"  warning: {warning}", fg="yellow")

    guarded(action)


@app.command()
def register(force: ForceOption = False, reason: ReasonOption = None) -> None:
    """Gate the current pipeline outputs, then register the model with its lineage."""
    from mlpipe.core.errors import GateFailed
    from tasks import run_step

    forced = _reason(force, reason)

    def action() -> None:
        from mlpipe.core.paths import ProjectPaths
        from tasks.register import registered

        start = time.perf_counter()
        done, recovered = registered(ProjectPaths.discover())
        for note in recovered:
            typer.secho(f"recovered: {note}", fg="yellow", err=True)
        if done is not None:
            typer.echo(f"already registered as version {done['version']}: nothing to do")
            return
        try:
            run_step(["gate"])
        except GateFailed as failure:
            if not forced:
                raise
            typer.secho(f"{failure}\nregistering anyway: {forced}", fg="yellow", err=True)
        result = run_step(["register", *([forced] if forced else [])])
        seconds = time.perf_counter() - start
        if result["new"]:
            typer.echo(
                f"registered version {result['version']} as {result['alias']} ({seconds:.1f} s)"
            )
        else:
            typer.echo(f"already registered as version {result['version']}: nothing to do")

    guarded(action)


def _registry() -> Any:
    """The project's registry, after finishing whatever a killed registry command left."""
    from mlpipe.core.paths import ProjectPaths
    from mlpipe.core.registry import Registry
    from mlpipe.release.aliases import recover

    registry = Registry(ProjectPaths.discover(), must_exist=True)
    for note in recover(registry):
        typer.secho(f"recovered: {note}", fg="yellow", err=True)
    return registry


@app.command()
def promote(
    version: Annotated[
        str | None, typer.Option(help="Version to promote (default: the challenger).")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Override the gate and review evidence checks (needs --reason).")
    ] = False,
    reason: ReasonOption = None,
) -> None:
    """Make the challenger (or --version) the champion: needs its gate verdict and a recent
    promotion review (`mlpipe review`) deciding "promote" for it, or --force --reason."""
    forced = _reason(force, reason)

    def action() -> None:
        from mlpipe.core.configs import ServingSettings
        from mlpipe.core.io import read_json
        from mlpipe.core.paths import ProjectPaths
        from mlpipe.core.settings import load_settings
        from mlpipe.release.aliases import Evidence
        from mlpipe.release.aliases import promote as promote_version

        paths = ProjectPaths.discover()
        review = paths.reports / "promotion" / "review.json"
        settings = load_settings(ServingSettings, paths.configs / "serving.yaml")
        evidence = Evidence(
            read_json(review) if review.is_file() else None,
            settings.promotion.evidence_max_age_hours,
        )
        event = promote_version(_registry(), version, forced, evidence)
        typer.echo(f"champion: v{event.from_version} -> v{event.to_version}")

    guarded(action)


@app.command()
def rollback(
    to: Annotated[
        str | None, typer.Option(help="Version to roll back to (default: the previous champion).")
    ] = None,
    force: ForceOption = False,
    reason: ReasonOption = None,
) -> None:
    """Move the champion back to the previous champion (or --to VERSION), without retraining."""
    forced = _reason(force, reason)

    def action() -> None:
        from mlpipe.release.aliases import rollback as rollback_version

        event = rollback_version(_registry(), to, forced, why=reason or "")
        typer.echo(f"champion: v{event.from_version} -> v{event.to_version} (rolled back)")

    guarded(action)


@app.command()
def models() -> None:
    """List registered versions: aliases, test ROC AUC, age, gate verdict."""

    def action() -> None:
        from flows.summary import print_models

        print_models(_registry())

    guarded(action)


@app.command()
def history(
    at: Annotated[
        str | None, typer.Option(help="ISO time: which version was champion then.")
    ] = None,
) -> None:
    """The audit history of alias moves (who, when, from, to, why)."""

    def action() -> None:
        from flows.summary import print_history

        print_history(_registry(), at)

    guarded(action)


@app.command()
def serve(
    host: Annotated[
        str | None,
        typer.Option(help="Bind address (default from configs/serving.yaml: 127.0.0.1)."),
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
) -> None:
    """Serve the champion over HTTP, with the challenger in shadow or canary mode."""

    def action() -> None:
        from mlpipe.core.paths import ProjectPaths
        from mlpipe.serving.app import serve as run_service

        run_service(ProjectPaths.discover().root, host, port)

    guarded(action)


@app.command()
def replay(
    url: Annotated[str, typer.Option(help="The running service.")] = "http://127.0.0.1:8000",
    window: Annotated[
        str | None,
        typer.Option(help="FIRST..LAST time values to replay (default: the holdout window)."),
    ] = None,
    months: Annotated[
        str | None, typer.Option(hidden=True, help="Deprecated: use --window.")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many rows.")] = None,
    batch: Annotated[int, typer.Option(help="Records per request.")] = 50,
    labels: Annotated[bool, typer.Option(help="Post the labels afterwards.")] = True,
) -> None:
    """Feed a time window (default: the holdout) through the service, then post its labels."""

    def action() -> None:
        import os

        from rich.progress import Progress

        from mlpipe.core.project import Project
        from tasks.replay import parse_window
        from tasks.replay import replay as run_replay

        if months:
            typer.secho("--months is deprecated: use --window FIRST..LAST", fg="yellow", err=True)
        chosen = parse_window(window or (months.replace("-", "..") if months else None))
        project = Project.load()
        with Progress() as progress:
            task = progress.add_task("replaying", total=limit)
            result = run_replay(
                project,
                url,
                chosen,
                limit,
                batch,
                labels,
                os.environ.get(project.configs.serving.api_key_env),
                lambda n: progress.advance(task, n),
            )
        typer.echo(
            f"sent {result['records']} records ({result['failed_requests']} failed "
            f"requests), posted {result['labels']} labels"
        )

    guarded(action)


@app.command()
def review(
    window_hours: Annotated[
        float | None, typer.Option(help="Only the last N hours of the prediction log.")
    ] = None,
) -> None:
    """Run the promotion flow: promote, reject or roll back the challenger from the log."""

    def action() -> None:
        from mlpipe.core.paths import find_root

        ready = _prefect_api(find_root())
        from flows.promotion import promotion

        ready()
        result = promotion(root=str(find_root()), window_hours=window_hours)
        typer.echo(f"{result['decision']}: {result['outcome']}")
        for reason in result["reasons"]:
            typer.echo(f"  - {reason}")

    guarded(action)


@app.command()
def monitor(
    window_hours: Annotated[
        float | None, typer.Option(help="Only the last N hours of the prediction log.")
    ] = None,
) -> None:
    """Run the monitoring flow once: drift, invariants, skew, quality, stability,
    serving and training performance, dependencies, staleness (exit 1 on a breach)."""

    def action() -> None:
        from mlpipe.core.paths import find_root

        ready = _prefect_api(find_root())
        from flows.monitoring import monitoring

        ready()
        result = monitoring(root=str(find_root()), window_hours=window_hours)
        breaches = ", ".join(result["breaches"])
        verdict = f"alerted on {breaches} (alerts.fail_flow is off)" if breaches else "no breach"
        typer.echo(
            f"monitoring: {len(result['checks'])} checks, {verdict} "
            f"(report: reports/monitoring/report.html)"
        )

    guarded(action)


@app.command()
def tune(
    workers: Annotated[int, typer.Option(help="Local Dask worker processes.")] = 2,
    address: Annotated[
        str | None, typer.Option(help="An existing Dask scheduler (tcp://host:8786) instead.")
    ] = None,
    apply: Annotated[bool, typer.Option(help="Write the best values into params.yaml.")] = False,
) -> None:
    """Search the hyperparameter space of params.yaml on Dask; log every trial to MLflow."""

    def action() -> None:
        from mlpipe.core.paths import ProjectPaths

        paths = ProjectPaths.discover()
        ready = _prefect_api(paths.root)
        from flows.tuning import apply_best, tuning

        ready()
        result = tuning(root=str(paths.root), workers=workers, address=address)
        best = result["best"]
        typer.echo(
            f"search {result['search_id']}: {len(result['trials'])} trials in "
            f"{result['wall_seconds']} s; best valid ROC AUC {best['valid_roc_auc']} "
            f"with {best['params']}"
        )
        if apply:
            applied = apply_best(paths.root, result)
            typer.echo(
                f"params.yaml updated at {applied['at']}: `mlpipe run` retrains with these "
                "values and the registered version records this search"
            )

    guarded(action)


@app.command()
def explain(
    key: Annotated[str | None, typer.Argument(help="A key from the prediction log.")] = None,
    record: Annotated[
        Path | None, typer.Option(help="A JSON file of one raw record (the serving fields).")
    ] = None,
    version: Annotated[
        str | None, typer.Option(help="Registered version to explain (default: the champion).")
    ] = None,
) -> None:
    """Follow one example through the computation: raw fields, enriched row, features,
    the model's output and each feature's contribution (also as HTML and PNG)."""

    def action() -> None:
        from mlpipe.core.project import Project
        from tasks.explain import print_explanation
        from tasks.explain import run as run_explain

        result = run_explain(Project.load(), key, str(record) if record else None, version)
        print_explanation(result)

    guarded(action)


@app.command()
def forget(
    keys: Annotated[list[str], typer.Argument(help="Keys of the data subject's rows.")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the deletion list).")] = "",
) -> None:
    """Erase keys from the prediction log (predictions, labels) and reports/explain/, and
    add them to configs/deletions.txt, which ingest applies: the next training run
    excludes them."""

    def action() -> None:
        from mlpipe.core.project import Project
        from tasks.forget import run as run_forget

        result = run_forget(Project.load(), *keys, reason=reason)
        typer.echo(
            f"deleted {result['deleted_predictions']} prediction rows, "
            f"{result['deleted_labels']} labels and {result['deleted_reports']} explanation "
            f"files; {len(result['listed'])} keys added to "
            f"{result['deletions_file']} ({len(result['already_listed'])} already listed)"
        )
        typer.echo(
            f"next: commit {result['deletions_file']}, then `mlpipe run` "
            "(ingest drops these keys; the new model's lineage names the list)"
        )

    guarded(action)


@app.command()
def purge(
    older_than_days: Annotated[
        float | None,
        typer.Option(help="Override retention_days of configs/serving.yaml for this run."),
    ] = None,
) -> None:
    """Delete prediction-log rows older than the retention period (and orphaned labels)."""

    def action() -> None:
        from mlpipe.core.project import Project
        from tasks.forget import purge as run_purge

        result = run_purge(Project.load(), older_than_days)
        typer.echo(
            f"deleted {result['deleted_predictions']} prediction rows and "
            f"{result['deleted_labels']} labels logged before {result['cutoff']} "
            f"(retention {result['retention_days']:g} days)"
        )

    guarded(action)


@app.command()
def score() -> None:
    """The ML Test Score (28 tests) from the evidence the project produced; writes
    reports/score.json and score.html (exit 1 under the floor of configs/score.yaml)."""

    def action() -> None:
        from mlpipe.core.errors import ScoreBelowFloor
        from tasks import run_step
        from tasks.score import print_score

        result = run_step(["score"])
        print_score(result)
        if not result["passed"]:
            raise ScoreBelowFloor(
                f"ML Test Score {result['final']:g} is under the floor {result['floor']:g} "
                "(configs/score.yaml): see reports/score.html"
            )

    guarded(action)


@app.command()
def diff() -> None:
    """What this working tree's last run changes against the champion (params, features,
    metrics, slices, gate verdict), as Markdown for a pull request; also reports/diff.md."""

    def action() -> None:
        from tasks import run_step

        typer.echo(run_step(["diff"])["markdown"], nl=False)

    guarded(action)


expectations = typer.Typer(
    help="Great Expectations suites (configs/expectations/): draft them from your data.",
    no_args_is_help=True,
)
app.add_typer(expectations, name="expectations")


@expectations.command("draft")
def draft_expectations(
    datasets: Annotated[list[str], typer.Argument(help="raw, features, or both (in that order).")],
    force: Annotated[bool, typer.Option(help="Overwrite suites that exist.")] = False,
) -> None:
    """Draft suites from the training window (ranges, value sets, null rates, row counts,
    key uniqueness), each expectation noting what it saw: review, then commit them."""

    def action() -> None:
        from mlpipe.core.project import Project
        from tasks import draft

        for dataset in sorted(datasets, key=lambda name: name != "raw"):
            if dataset not in draft.DATASETS:
                raise typer.BadParameter(f"{dataset!r}: expected raw or features")
            result = draft.run(Project.load(), dataset, force=force)
            for path in result["written"]:
                typer.echo(f"drafted {path}")
            for path in result["removed"]:
                typer.echo(f"removed {path} (no such table any more)")
        typer.echo("review the drafted suites (meta.notes say what each saw), then commit them")

    guarded(action)


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name="mlpipe")


if __name__ == "__main__":
    sys.exit(main())
