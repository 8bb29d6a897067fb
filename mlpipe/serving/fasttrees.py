"""A serving runtime for scikit-learn's HistGradientBoostingClassifier: every tree's nodes
in flat arrays, walked for all trees at once with numpy.

scikit-learn predicts tree by tree, one compiled call each: for the handful of rows of
a request that is ~300 calls of fixed cost, most of the model's time. Here the walk is
one vectorised step per tree level. Everything before the trees (the pipeline's
preprocessing, the classifier's own category mapping) and after them (the link
function) is scikit-learn's own code, and the walk follows its rules exactly (missing
values, categories as bitsets, unknown categories as missing); ``tests`` prove the
probabilities equal to 1e-6. The registry keeps the scikit-learn model; this is derived
from it when a model is loaded, and any model it does not fit is served as it is."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


class TreeWalk:
    """The trees of one fitted binary HistGradientBoostingClassifier, as flat arrays."""

    def __init__(self, classifier: Any) -> None:
        predictors = [iteration[0] for iteration in classifier._predictors]
        sizes = np.array([len(p.nodes) for p in predictors])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        nodes = np.concatenate([p.nodes for p in predictors])
        shift = np.repeat(offsets, sizes)
        bitsets = [p.raw_left_cat_bitsets for p in predictors]
        bitset_offsets = np.concatenate([[0], np.cumsum([len(b) for b in bitsets])[:-1]])
        self.roots = offsets.astype(np.intp)
        self.feature = nodes["feature_idx"].astype(np.intp)
        self.threshold = nodes["num_threshold"].astype(np.float64)
        self.missing_left = nodes["missing_go_to_left"].astype(bool)
        self.is_leaf = nodes["is_leaf"].astype(bool)
        self.is_categorical = nodes["is_categorical"].astype(bool)
        self.left = (nodes["left"] + shift).astype(np.intp)
        self.right = (nodes["right"] + shift).astype(np.intp)
        self.value = nodes["value"].astype(np.float64)
        self.bitset = (nodes["bitset_idx"] + np.repeat(bitset_offsets, sizes)).astype(np.intp)
        left_bits = np.concatenate(bitsets) if any(len(b) for b in bitsets) else None
        self.left_bits = np.zeros((1, 8), np.uint32) if left_bits is None else left_bits
        known, f_idx_map = classifier._bin_mapper.make_known_categories_bitsets()
        self.known_bits = known if len(known) else np.zeros((1, 8), np.uint32)
        self.f_idx_map = np.asarray(f_idx_map, dtype=np.intp)
        self.baseline = classifier._baseline_prediction
        self.classifier = classifier

    def _left(self, node: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Whether each (row, tree) at ``node`` with feature value ``values`` goes left,
        by the rules of scikit-learn's ``_predict_one_from_raw_data``."""
        missing_left = self.missing_left[node]
        left = values <= self.threshold[node]
        categorical = self.is_categorical[node]
        if categorical.any():
            usable = categorical & (values >= 0)
            code = np.where(usable, values, 0).astype(np.uint8)
            word, bit = code >> 5, (code & 31).astype(np.uint32)
            in_left = (self.left_bits[self.bitset[node], word] >> bit) & 1
            known = (self.known_bits[self.f_idx_map[self.feature[node]], word] >> bit) & 1
            category_left = np.where(
                usable,
                np.where(in_left == 1, True, np.where(known == 1, False, missing_left)),
                missing_left,
            )
            left = np.where(categorical, category_left, left)
        return np.where(np.isnan(values), missing_left, left)

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        """The raw predictions (baseline plus every tree's leaf), shape (rows, 1)."""
        node = np.broadcast_to(self.roots, (len(matrix), len(self.roots))).copy()
        rows = np.arange(len(matrix))[:, None]
        while True:
            leaf = self.is_leaf[node]
            if leaf.all():
                break
            values = matrix[rows, self.feature[node]]
            step = np.where(self._left(node, values), self.left[node], self.right[node])
            node = np.where(leaf, node, step)
        raw = np.zeros((len(matrix), 1), dtype=self.baseline.dtype) + self.baseline
        for column in self.value[node].T:  # tree by tree, as scikit-learn adds them
            raw[:, 0] += column
        return raw


_UNKNOWN = "\x00mlpipe: a category never seen"


def _positions(columns: Any, names: list[str] | None) -> np.ndarray:
    """A ColumnTransformer's column selection as input positions."""
    selection = np.asarray(columns)
    if selection.dtype == bool:
        return np.flatnonzero(selection)
    if selection.dtype.kind in "iu":
        return selection.astype(np.intp)
    if names is None:
        raise TypeError("columns selected by name, but the input has no names")
    return np.array([names.index(name) for name in selection], dtype=np.intp)


class Lookup:
    """One column of a fitted OrdinalEncoder as a table: every known category's code,
    the missing value's and an unknown value's, each as the encoder itself gives them."""

    def __init__(self, encoder: Any, column: int, width: int, names: list[str] | None) -> None:
        categories = list(encoder.categories_[column])
        numeric = np.asarray(encoder.categories_[column]).dtype.kind in "fiu"
        known = [c for c in categories if not pd.isna(c)]
        unknown = (min(known, default=0) - 1.5) if numeric else _UNKNOWN
        probes = [*known, None, unknown]
        grid = np.empty((len(probes), width), dtype=object)
        for j in range(width):
            grid[:, j] = encoder.categories_[j][0]
        grid[:, column] = probes
        frame = pd.DataFrame(grid, columns=names) if names is not None else grid
        if numeric:
            frame = frame.astype(float)
        codes = np.asarray(encoder.transform(frame), dtype=np.float64)[:, column]
        self.codes = dict(zip(known, codes[: len(known)], strict=True))
        self.missing, self.unknown = codes[-2], codes[-1]

    def __call__(self, values: np.ndarray) -> np.ndarray:
        missing = pd.isna(values)
        return np.array(
            [
                self.missing if gone else self.codes.get(value, self.unknown)
                for value, gone in zip(values, missing, strict=True)
            ],
            dtype=np.float64,
        )


class Columns:
    """A fitted ColumnTransformer of OrdinalEncoders and pass-throughs as lookups: the
    same output, without its per-call validation and frame building."""

    def __init__(self, transformer: Any) -> None:
        from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

        names = getattr(transformer, "feature_names_in_", None)
        self.names = None if names is None else list(names)
        self.parts: list[tuple[np.ndarray, list[Lookup] | None]] = []
        for _, step, columns in transformer.transformers_:
            positions = _positions(columns, self.names)
            if step == "drop" or len(positions) == 0:
                continue
            if isinstance(step, OrdinalEncoder) and not _has_infrequent(step):
                width = len(step.categories_)
                inner = list(step.feature_names_in_) if hasattr(step, "feature_names_in_") else None
                lookups = [Lookup(step, j, width, inner) for j in range(width)]
                self.parts.append((positions, lookups))
            elif step == "passthrough" or (
                isinstance(step, FunctionTransformer) and _is_identity(step.func)
            ):
                self.parts.append((positions, None))
            else:
                raise TypeError(f"cannot compile {step!r}")

    def __call__(self, data: Any) -> np.ndarray:
        if isinstance(data, pd.DataFrame):
            columns = [data.iloc[:, j].to_numpy() for j in range(data.shape[1])]
        else:
            columns = list(np.asarray(data).T)
        out = []
        for positions, lookups in self.parts:
            for k, position in enumerate(positions):
                values = columns[position]
                out.append(lookups[k](values) if lookups else values.astype(np.float64))
        return np.column_stack(out)


def _has_infrequent(encoder: Any) -> bool:
    infrequent = getattr(encoder, "infrequent_categories_", None) or []
    return any(c is not None for c in infrequent)


def _is_identity(func: Any) -> bool:
    """No function, or scikit-learn's own ``check_array`` to float (the classifier's
    numeric columns): the values pass unchanged."""
    from functools import partial

    from sklearn.utils import check_array

    return func is None or (isinstance(func, partial) and func.func is check_array)


class FastModel:
    """A pipeline of one ColumnTransformer (of OrdinalEncoders and pass-throughs) and a
    binary HistGradientBoostingClassifier: both transformers as lookups, the trees
    walked by ``TreeWalk``, the link function scikit-learn's. For small batches (a
    request); large ones go to scikit-learn, which is faster there."""

    max_rows = 64

    def __init__(self, model: Any, outer: Columns | None, inner: Columns, trees: TreeWalk) -> None:
        self.model = model
        self.outer, self.inner, self.trees = outer, inner, trees

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if len(frame) > self.max_rows:
            return self.model.predict_proba(frame)
        data = frame if self.outer is None else self.outer(frame)
        raw = self.trees.raw(self.inner(data))
        return self.trees.classifier._loss.predict_proba(raw)


def fast_model(model: Any) -> FastModel | None:
    """The fast runtime of ``model``, or None when it is not such a pipeline (it is then
    served by scikit-learn as it is)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline

    steps = list(model.named_steps.values()) if isinstance(model, Pipeline) else [model]
    final = steps[-1]
    if not isinstance(final, HistGradientBoostingClassifier) or len(steps) > 2:
        return None
    if getattr(final, "n_trees_per_iteration_", None) != 1 or len(final.classes_) != 2:
        return None
    if len(steps) == 2 and not isinstance(steps[0], ColumnTransformer):
        return None
    inner = final._preprocessor
    if not isinstance(inner, ColumnTransformer):
        return None
    try:
        outer = Columns(steps[0]) if len(steps) == 2 else None
        return FastModel(model, outer, Columns(inner), TreeWalk(final))
    except (TypeError, ValueError, AttributeError):
        return None
