"""A package's public names, loaded on first use (PEP 562).

``runnotary.client`` and ``runnotary.registry`` name their public surface with it, so importing
the package (or one of its modules) loads none of the others' dependencies: ``runnotary --help``
imports neither pydantic nor mlflow. Standard library only.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(namespace: dict[str, Any], where: Mapping[str, tuple[str, ...]]
                 ) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``__all__``, ``__getattr__`` and ``__dir__`` for the package whose ``globals()`` is ``namespace``.

    ``where`` maps each of its modules to the names it exports; the first use of a name imports
    that module and binds all of its names in the package.
    """
    package = namespace["__name__"]
    module_of = {name: module for module, names in where.items() for name in names}
    public = sorted(module_of)

    def __getattr__(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        loaded = importlib.import_module(f"{package}.{module}")
        namespace.update({n: getattr(loaded, n) for n in where[module]})
        return namespace[name]

    def __dir__() -> list[str]:
        return public

    return public, __getattr__, __dir__
