"""User-facing errors: the CLI prints their message and exits non-zero, no traceback."""


class PipelineError(Exception):
    """A problem the user can fix (bad input, bad config, failed check)."""

    exit_code = 1


class ConfigError(PipelineError):
    """params.yaml or a file under configs/ is missing or invalid."""

    exit_code = 2


class DataError(PipelineError):
    """An input table is missing, unreadable, or not what the pipeline expects."""


class ValidationFailed(PipelineError):
    """A Great Expectations suite reported violations."""


class GateFailed(PipelineError):
    """The candidate did not pass the quality gate: nothing was registered."""


class FeatureBudgetExceeded(PipelineError):
    """A feature costs more time or memory than params.yaml's feature_budget allows."""


class ScoreBelowFloor(PipelineError):
    """The ML Test Score fell under the floor of configs/score.yaml (CI fails on a drop)."""
