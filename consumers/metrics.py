"""Prometheus metrics of the service, on a registry of their own (one per service instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

__all__ = ["ServiceMetrics"]


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter("runnotary_events_total", "Input events handled", ["topic", "outcome"], registry=r)
        self.seconds = Histogram("runnotary_event_processing_seconds", "Time to make an event's effects durable",
                                 ["topic"], registry=r, buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.deadletters = Counter("runnotary_deadletter_total", "Events sent to the dead-letter topic",
                                   ["topic", "error_type"], registry=r)
        self.runs = Counter("runnotary_runs_registered_total", "Runs registered in MLflow", ["role"], registry=r)
        self.gates = Counter("runnotary_gate_evaluations_total", "Gate statuses published", ["overall"], registry=r)
        self.alerts = Counter("runnotary_alerts_total", "Alerts published", ["kind", "severity"], registry=r)
        self.bundles = Counter("runnotary_bundles_emitted_total", "Evidence bundles written", registry=r)
        self.tracking_down = Counter("runnotary_tracking_unavailable_total",
                                     "Times MLflow did not answer and an event was retried", registry=r)
        self.last_event = Gauge("runnotary_last_event_timestamp_seconds",
                                "Unix time of the last input event handled", ["topic"], registry=r)

        self.lag = Gauge("runnotary_consumer_lag_messages", "Messages behind the partition's high watermark "
                         "(from the last commit)", ["topic", "partition"], registry=r)

    def set_lag(self, topic: str, partition: int, lag: int) -> None:
        self.lag.labels(topic, str(partition)).set(lag)

    def serve(self, port: int, addr: str) -> None:
        if port:
            start_http_server(port, addr=addr, registry=self.registry)
