"""The core every phase uses: project, params and configs, the domain contract, file I/O,
lineage, metrics, plots, and the adapters (GX, MLflow, DVC)."""
