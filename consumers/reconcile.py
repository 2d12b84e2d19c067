"""The reconciliation that pairs what registration left unpaired, at start-up and periodically.

Pairing at registration holds under any interleaving of a candidate and its baseline
(``registry.pairing``); this pass is the safety net for anything else that loses a pairing (a
restored store, gate statuses deleted by hand, a crash between the mark and the publish). Each
pass examines a bounded page of candidates without a gate status, oldest first, and continues
where the previous pass stopped; after each full cycle it sets the awaiting gauges. Several
instances may run it at once: a pairing's gate status has the same id whoever computes it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from runnotary.consumers.handlers import Handlers, Outgoing
from runnotary.consumers.metrics import ServiceMetrics
from runnotary.errors import redact
from runnotary.registry.errors import TrackingUnavailable

__all__ = ["Reconciler"]

log = structlog.get_logger("runnotary")


@dataclass
class Reconciler:
    """Runs ``Handlers.reconcile`` pass after pass and publishes what each pass pairs."""

    handlers: Handlers
    publish: Callable[[Sequence[Outgoing]], None]
    metrics: ServiceMetrics
    interval_s: float = 60.0
    batch: int = 200
    _token: str | None = field(default=None, init=False)
    _awaiting: list[datetime] = field(default_factory=list, init=False)

    def run(self, stop: threading.Event) -> None:
        """A whole cycle at once, then one pass every ``interval_s`` until ``stop`` (0: the start-up cycle only)."""
        self.cycle(stop)
        while self.interval_s > 0 and not stop.wait(self.interval_s):
            self.step()

    def cycle(self, stop: threading.Event | None = None) -> None:
        """Passes until every candidate without a gate status has been seen once (or MLflow fails)."""
        while (stop is None or not stop.is_set()) and self.step() and self._token is not None:
            pass

    def step(self) -> bool:
        """One pass of at most ``batch`` candidates; False when it could not run. Never raises."""
        try:
            done = self.handlers.reconcile(max_runs=self.batch, page_token=self._token)
            self.publish(done.outgoing)
        except TrackingUnavailable as exc:
            log.warning("reconcile_skipped", reason="MLflow unavailable", error=redact(str(exc))[:300])
            return False
        except Exception:  # noqa: BLE001 - a pass must never take the service down; the next one retries
            log.exception("reconcile_failed")
            self.metrics.reconcile_failures.inc()
            self._token = None
            return False
        self.metrics.reconciled.inc(len(done.paired))
        self._awaiting += done.awaiting
        self._token = done.next_page
        if self._token is None:
            self.metrics.set_awaiting(self._awaiting)
            self._awaiting = []
        return True
