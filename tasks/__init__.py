"""Pipeline stages, one module per stage of dvc.yaml.

Each module has pure functions (DataFrames in, DataFrames or models out) and one
``run(ctx, *args)`` wrapper that reads inputs, calls them and writes outputs. Both
``dvc repro`` (through ``mlpipe stage NAME``) and the Prefect flow call ``run``.
"""
