"""The worked example: will a flight leaving New York in 2013 arrive 15+ minutes late?

Everything about this problem lives in this package, plus its section of params.yaml
and its expectation suites (configs/expectations/). The framework reads it through the
two names below; the contract they fulfil is documented in mlpipe/core/domain.py.

EDIT HERE when you adapt the template: each part of ``domain()`` is one thing about your
problem (tables, label, key, time, serving fields, features, model, card, columns)."""

from __future__ import annotations

from functools import partial

from mlpipe import Domain, ModelCard, ModelSpec

from . import prepare as preparation
from . import source
from .features import registry
from .model import BaselineParams, ModelParams, build_baseline, build_model
from .options import Options

__all__ = ["Options", "domain"]


def domain(options: Options) -> Domain:
    """The flights problem, for the framework."""
    return Domain(
        name="flights",
        tables=tuple(source.TABLES),
        main_table=source.MAIN_TABLE,
        load_sources=partial(source.load_sources, options),
        source_info=partial(source.source_info, options),
        prepare=partial(preparation.prepare, options=options),
        label=preparation.LABEL,
        key=preparation.KEY,
        time="month",
        time_unit="month",
        serving_fields=preparation.SERVING_FIELDS,
        check_request=preparation.check_request,
        build_context=partial(preparation.build_context, options=options),
        enrich=partial(preparation.enrich, options=options),
        features=registry,
        model=ModelSpec(
            build=build_model,
            params=ModelParams,
            build_baseline=build_baseline,
            baseline_params=BaselineParams,
        ),
        card=ModelCard(
            intended_use=(
                f"Predicts, before departure, the probability that a flight leaving New York "
                f"arrives {options.late_minutes} or more minutes late, from schedule, carrier, "
                "route, aircraft and origin weather. For planning and alerting, not for "
                "decisions about individuals."
            ),
            limits=[
                "Trained on 2013 New York departures only; quality decays with model age.",
                "Weaker at JFK than at EWR and LGA (see the per-slice table).",
                "Carriers with few test flights are reported but not gated.",
            ],
        ),
        outcomes=preparation.OUTCOME_COLUMNS,
        identifiers=preparation.IDENTIFIER_COLUMNS,
        sensitive=(),
        slices=("origin", "carrier", "month"),
    )
