"""explain (checklist I5): follow one example through the computation, from a key of the
prediction log or a raw record, with a registered version (the champion by default).

Writes reports/explain/<key>.html and <key>.png (contributions as bars); the terminal
gets the same steps as Rich tables (``print_explanation``). Identifier and sensitive
values appear in the HTML as pseudonyms only (mlpipe.core.privacy), like in the log."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlpipe.core import html
from mlpipe.core.errors import DataError
from mlpipe.core.io import write_json, write_text
from mlpipe.core.privacy import PREFIX, pseudonym, pseudonym_key
from mlpipe.core.project import Project
from mlpipe.core.registry import CHAMPION, Registry, RegistryError
from mlpipe.serving import predictionlog
from mlpipe.training.explain import Trace, reference_point, trace

REFERENCE = "medians (numeric) and modes (categorical) of the training window"


def read_record(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(f"no record file {path}")
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"{path} is not valid JSON ({error})") from None
    if not isinstance(record, dict):
        raise DataError(f"{path} must hold one JSON object of the serving fields")
    return record


def logged_row(project: Project, key: str) -> dict[str, Any]:
    path = project.paths.root / project.configs.serving.log_path
    if not path.is_file():
        raise DataError(f"no prediction log at {path}: serve some traffic, or use --record")
    row = predictionlog.find(path, key)
    if row is None:
        raise DataError(f"key {key!r} is not in the prediction log {path}")
    return row


def _version(registry: Registry, version: str | None) -> Any:
    if version is not None:
        return registry.version(version)
    champion = registry.alias(CHAMPION)
    if champion is None:
        raise RegistryError("no champion model is registered: pass --version N")
    return champion


def safe_name(key: str) -> str:
    """A key as a file name (keys may hold slashes, spaces, colons)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", key)[:120] or "record"


def explanation_files(project: Project, key: str) -> list[Path]:
    """The page, chart and JSON of one key's explanation (``mlpipe forget`` erases them)."""
    folder, name = project.paths.reports / "explain", safe_name(key)
    return [folder / f"{name}{suffix}" for suffix in (".html", ".png", ".json")]


def run(
    project: Project,
    key: str | None = None,
    record_file: str | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    """Explain the logged request ``key`` or the record in ``record_file``."""
    if (key is None) == (record_file is None):
        raise DataError("explain needs a key from the prediction log or --record FILE, not both")
    row = logged_row(project, key) if key is not None else None
    record = row["inputs"] if row is not None else read_record(Path(record_file or ""))

    hidden = [*project.domain.identifiers, *project.domain.sensitive]
    registry = Registry(project.paths, must_exist=True)
    info = _version(registry, version)
    features = info.features
    train = project.feature_table("train")
    absent = [name for name in features if name not in train.columns]
    if absent:
        raise DataError(
            f"the feature table lacks {absent} of version {info.version}: "
            "run the pipeline with that version's features to explain it"
        )
    kinds = project.domain.features.kinds(features)
    explained = trace(
        project.domain,
        project.reference_context,
        record,
        registry.load_model(info.version),
        features,
        info.threshold,
        reference_point(train, kinds),
        info.version,
        logged=served_features(row, info.version, hidden),
    )
    page, chart, data = explanation_files(project, key if key is not None else explained.key)
    plot_contributions(explained, chart)
    secret = pseudonym_key(project.paths.root, project.configs.serving.pseudonym_key_env)
    write_text(page, render_html(explained, chart.name, logged_summary(row), hidden, secret))
    write_json(data, masked(asdict(explained), hidden, secret))
    return {
        "trace": explained,
        "logged": logged_summary(row),
        "html": page,
        "png": chart,
    }


def served_features(
    row: dict[str, Any] | None, version: str, hidden: list[str]
) -> dict[str, Any] | None:
    """The features the log recorded, when the explained version scored them; logged
    pseudonyms are no model input, so those features are recomputed instead."""
    if row is None or row["version"] != version or not row["features"]:
        return None
    return {name: value for name, value in row["features"].items() if name not in hidden}


def logged_summary(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    summary = {name: row.get(name) for name in ("version", "role", "probability", "decision")}
    summary["at"] = datetime.fromtimestamp(row["ts"], UTC).isoformat(timespec="seconds")
    return summary


def _mask(name: str, value: Any, hidden: list[str], secret: bytes) -> Any:
    if name not in hidden or value is None or str(value).startswith(PREFIX):
        return value
    return pseudonym(value, secret)


def masked(data: Any, hidden: list[str], secret: bytes) -> Any:
    """``data`` with identifier and sensitive values replaced by their pseudonyms."""
    if isinstance(data, dict):
        return {
            k: masked(v, hidden, secret) if isinstance(v, dict) else _mask(k, v, hidden, secret)
            for k, v in data.items()
        }
    return data


def contribution_rows(explained: Trace) -> list[tuple[str, Any, Any, float]]:
    """(feature, value scored, reference, contribution), largest effect first."""
    values = explained.contributions.values
    return [
        (name, explained.scored[name], explained.reference[name], values[name])
        for name in sorted(values, key=lambda n: -abs(values[n]))
    ]


def _text(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def plot_contributions(explained: Trace, path: Path) -> None:
    import matplotlib.pyplot as plt

    from mlpipe.core.plots import save_png

    rows = contribution_rows(explained)[::-1]
    labels = [f"{name} = {_text(value)}" for name, value, _, _ in rows]
    shares = [share for *_, share in rows]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(rows) + 1.8))
    bars = ax.barh(labels, shares, color=["#c44e52" if s > 0 else "#4c72b0" for s in shares])
    ax.bar_label(bars, fmt="%+.3f", padding=3, fontsize=8)
    ax.margins(x=0.15)
    ax.axvline(0, color="grey", linewidth=0.8)
    c = explained.contributions
    ax.set(
        xlabel="contribution to the probability",
        title=f"{explained.key}: {c.base:.3f} (reference) -> {c.output:.3f} (v{explained.version})",
    )
    save_png(fig, path)


def render_html(
    explained: Trace,
    chart: str,
    logged: dict[str, Any] | None,
    hidden: list[str],
    secret: bytes,
) -> str:
    """A small page: the output, the contributions and their chart, then each step."""
    c = explained.contributions
    summary = {
        "key": explained.key,
        "model version": explained.version,
        "probability": explained.probability,
        "threshold": explained.threshold,
        "decision": explained.decision,
        "reference probability": c.base,
        "features scored": explained.scored_source,
        "method": c.method,
        "reference point": REFERENCE,
    }
    if logged is not None:
        summary.update({f"logged {name}": value for name, value in logged.items()})

    def shown(name: str, *values: Any) -> list[Any]:
        return [name, *(_mask(name, value, hidden, secret) for value in values)]

    features = [
        shown(name, value, explained.scored[name], explained.reference[name])
        for name, value in explained.features.items()
    ]
    shares = [[*shown(n, v, r), share] for n, v, r, share in contribution_rows(explained)]
    return html.page(
        f"Explanation of {explained.key}",
        [
            html.heading("Output"),
            html.pairs(summary),
            html.heading("Contributions (their sum + the reference probability = probability)"),
            html.table(["feature", "value", "reference", "contribution"], shares),
            html.paragraph(html.image(chart, "contributions")),
            html.heading("1. Raw fields"),
            html.pairs(masked(explained.raw, hidden, secret), ("field", "value")),
            html.heading("2. Enriched row (domain.enrich)"),
            html.pairs(masked(explained.enriched, hidden, secret), ("column", "value")),
            html.heading("3. Features (recomputed now / scored / reference)"),
            html.table(["feature", "recomputed", "scored", "reference"], features),
        ],
    )


def print_explanation(result: dict[str, Any]) -> None:
    """The same steps in the terminal, as Rich tables."""
    from rich.console import Console
    from rich.table import Table

    explained: Trace = result["trace"]
    c = explained.contributions
    console = Console()

    def pairs(title: str, values: dict[str, Any]) -> Table:
        table = Table(title=title, title_justify="left")
        table.add_column("name")
        table.add_column("value")
        for name, value in values.items():
            table.add_row(name, _text(value))
        return table

    console.print(pairs("1. Raw fields", explained.raw))
    console.print(pairs("2. Enriched row (domain.enrich)", explained.enriched))
    features = Table(title="3. Features", title_justify="left")
    for column in ("feature", "recomputed", f"scored ({explained.scored_source})", "reference"):
        features.add_column(column)
    for name, value in explained.features.items():
        features.add_row(
            name, _text(value), _text(explained.scored[name]), _text(explained.reference[name])
        )
    console.print(features)
    shares = Table(title=f"4. Contributions ({c.method})", title_justify="left")
    for column in ("feature", "value", "contribution"):
        shares.add_column(column, justify="right" if column == "contribution" else "left")
    for name, value, _, share in contribution_rows(explained):
        colour = "red" if share > 0 else "blue"
        shares.add_row(name, _text(value), f"[{colour}]{share:+.4f}[/]")
    shares.add_row("[dim]reference probability[/]", "", f"{c.base:.4f}")
    shares.caption = f"reference point: {REFERENCE}"
    shares.add_row("[bold]probability[/]", "", f"[bold]{c.output:.4f}[/]")
    console.print(shares)
    decision = "positive" if explained.decision else "negative"
    console.print(
        f"model v{explained.version}: probability {explained.probability:.4f}, "
        f"threshold {explained.threshold:.4f} -> decision {explained.decision} ({decision})"
    )
    logged = result["logged"]
    if logged is not None:
        console.print(
            f"logged: v{logged['version']} ({logged['role']}) answered "
            f"{_text(logged['probability'])}, decision {logged['decision']}"
        )
    console.print(f"report: {result['html']} (chart {result['png']})")
