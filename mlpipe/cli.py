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

from mlpipe.errors import PipelineError

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


def guarded(action: Callable[[], Any]) -> Any:
    """Run ``action``; a known failure becomes one clear message and a non-zero exit."""
    try:
        return action()
    except PipelineError as error:
        _fail(str(error), error.exit_code)
    except ImportError as error:
        _fail(f"{error}: is the environment installed? run `make install`")
    except Exception as error:
        from dvc.exceptions import DvcException

        if isinstance(error, DvcException):
            _fail(f"DVC: {error}")
        raise


@app.command()
def run(
    force: Annotated[bool, typer.Option(help="Re-run stages that have not changed.")] = False,
    root: Annotated[
        Path | None, typer.Option(help="Project folder (default: found from here).")
    ] = None,
) -> None:
    """Run the training pipeline (every stage of dvc.yaml) as a Prefect flow."""
    from mlpipe.paths import ProjectPaths

    def action() -> None:
        paths = ProjectPaths(root.resolve()) if root else ProjectPaths.discover()
        from mlpipe.config import load_params

        load_params(paths.params)
        from flows.training import training
        from mlpipe.summary import print_summary
        from mlpipe.tracking import tracking_settings

        start = time.perf_counter()
        outcomes = training(root=str(paths.root), force=force)
        settings = tracking_settings(paths)
        print_summary(
            outcomes,
            time.perf_counter() - start,
            [
                f"Reports: {paths.reports} (validation/*.html, plots/*.png, metrics.json)",
                f"MLflow UI: mlflow ui --backend-store-uri {settings.tracking_uri}",
                "Prefect UI: prefect server start, then PREFECT_API_URL=http://127.0.0.1:4200/api",
            ],
        )

    guarded(action)


@app.command(context_settings={"allow_extra_args": True})
def stage(
    name: Annotated[str, typer.Argument(help="Stage module in tasks/ (ingest, validate, ...).")],
    args: Annotated[list[str] | None, typer.Argument(help="Stage arguments.")] = None,
) -> None:
    """Run one stage in this process (the command of each stage in dvc.yaml)."""
    from mlpipe.stages import run_stage

    def action() -> None:
        import resource

        start = time.perf_counter()
        run_stage([name, *(args or [])])
        seconds = time.perf_counter() - start
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        label = " ".join([name, *(args or [])])
        typer.echo(f"stage {label} done in {seconds:.1f} s, peak memory {peak_mb:.0f} MB")

    guarded(action)


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name="mlpipe")


if __name__ == "__main__":
    sys.exit(main())
