"""Training phase: feature tables, fitting, evaluation, the staleness study, tuning."""
