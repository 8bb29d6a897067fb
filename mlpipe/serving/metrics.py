"""The service's Prometheus metrics (GET /metrics), in a registry of its own."""

from __future__ import annotations


class Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mlpipe_requests",
            "HTTP requests by route and status (unknown routes as `other`)",
            ["path", "status"],
            registry=self.registry,
        )
        self.predictions = Counter(
            "mlpipe_predictions",
            "Scored records by model",
            ["role", "version", "served"],
            registry=self.registry,
        )
        self.errors = Counter(
            "mlpipe_model_errors",
            "Model failures (its features or its scoring)",
            ["role", "version"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mlpipe_request_latency_seconds",
            "Predict request latency",
            registry=self.registry,
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.model_latency = Histogram(
            "mlpipe_model_latency_seconds",
            "Model scoring latency",
            ["role", "version"],
            registry=self.registry,
            buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 1),
        )
        self.violations = Counter(
            "mlpipe_input_violations",
            "Served rows breaking a data expectation",
            ["rule"],
            registry=self.registry,
        )
        self.shadow_dropped = Counter(
            "mlpipe_shadow_dropped",
            "Shadow scorings dropped: the challenger was backlogged or replaced, or the "
            "service stopped before they were done",
            ["reason"],
            registry=self.registry,
        )
