"""Serving phase: the prediction service (``service``: models, features, scoring, log;
``app``: HTTP routes and ``serve``; ``shadow``: the challenger's own process; ``metrics``:
Prometheus), its request contract and its prediction log."""
