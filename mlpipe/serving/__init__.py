"""Serving phase: the prediction service, its request contract and prediction log."""
