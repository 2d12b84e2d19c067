"""The service shell: Kafka I/O, the consume loop, settings, Prometheus metrics, the CLI and the demo.

Modules are imported by name (``runnotary.consumers.app``, ``runnotary.consumers.cli``, …); this
package imports nothing at import time, so ``runnotary --help`` stays fast.
"""

__all__: list[str] = []
