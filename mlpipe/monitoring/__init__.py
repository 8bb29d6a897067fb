"""Monitoring phase: checks over served predictions, drift (Evidently), reports."""
