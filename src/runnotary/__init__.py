"""runnotary: ML experiment provenance and A/B evidence on Kafka and MLflow.

The subpackages keep the design card's folders: ``runnotary.consumers`` (Kafka I/O, the service
shell, CLI), ``runnotary.stats`` (numba numerics, no I/O), ``runnotary.registry`` (provenance on
MLflow) and ``runnotary.bundles`` (gates and evidence bundles). Importing this module imports none
of them.
"""

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("runnotary")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without an install
    __version__ = "0+unknown"
