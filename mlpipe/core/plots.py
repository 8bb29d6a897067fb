"""Evaluation plots as PNG files (ROC, PR, calibration, confusion matrix, importance).

Saved without software metadata, so the same numbers always give the same bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve

from mlpipe.core.io import atomic_path


def save_png(fig: plt.Figure, path: Path) -> None:
    """Tight layout, no software metadata: the same figure always gives the same bytes."""
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)


def roc(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, (y, p) in curves.items():
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test)")
    ax.legend(loc="lower right")
    save_png(fig, path)


def precision_recall(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, (y, p) in curves.items():
        precision, recall, _ = precision_recall_curve(y, p)
        ax.plot(recall, precision, label=name)
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (test)")
    ax.legend(loc="upper right")
    save_png(fig, path)


def calibration(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, (y, p) in curves.items():
        observed, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
        ax.plot(predicted, observed, marker="o", label=name)
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(xlabel="mean predicted probability", ylabel="observed rate", title="Calibration (test)")
    ax.legend(loc="upper left")
    save_png(fig, path)


def confusion(y: np.ndarray, decision: np.ndarray, path: Path) -> None:
    matrix = confusion_matrix(y, decision, labels=[0, 1])
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, f"{count:,}", ha="center", va="center")
    ax.set(
        xticks=[0, 1],
        yticks=[0, 1],
        xlabel="predicted",
        ylabel="actual",
        title="Confusion matrix (test)",
    )
    save_png(fig, path)


def importance(names: list[str], means: np.ndarray, stds: np.ndarray, path: Path) -> None:
    order = np.argsort(means)
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(names) + 1.5))
    ax.barh(np.array(names)[order], means[order], xerr=stds[order], color="#4c72b0")
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set(xlabel="drop in ROC AUC when shuffled", title="Permutation importance (test)")
    save_png(fig, path)


def bars(values: dict[str, float], threshold: float, path: Path, xlabel: str, title: str) -> None:
    """Horizontal bars, red where a value reaches ``threshold`` (drift scores and the like)."""
    names = sorted(values, key=lambda n: values[n])
    heights = [values[n] for n in names]
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(names) + 1.5))
    ax.barh(names, heights, color=["#c44e52" if v >= threshold else "#4c72b0" for v in heights])
    ax.axvline(threshold, color="grey", linestyle=":")
    ax.set(xlabel=xlabel, title=title)
    save_png(fig, path)


def staleness(curve: Any, max_age: float, tolerance: float, unit: str, path: Path) -> None:
    """Quality against model age, one line per training end, the mean in black."""
    by_age = curve.groupby("age")["roc_auc"].mean()
    fig, ax = plt.subplots(figsize=(6, 4))
    for end, part in curve.groupby("train_end"):
        ax.plot(part["age"], part["roc_auc"], marker=".", alpha=0.4, label=f"trained to {end}")
    ax.plot(by_age.index, by_age.values, color="black", linewidth=2, label="mean")
    ax.axhline(by_age.iloc[0] - tolerance, color="red", linestyle=":", label="tolerance")
    ax.axvline(max_age, color="red", linestyle="--", label=f"max age {max_age:g}")
    ax.set(xlabel=f"model age ({unit}s)", ylabel="ROC AUC", title="Quality against model age")
    ax.legend(fontsize=7)
    save_png(fig, path)
