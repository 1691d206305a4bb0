"""Hardware catalog package: GPUs, cloud instances and prices, interconnects, on-prem costs.

The names below load their modules on first use (PEP 562 ``__getattr__``): ``hardware_catalog.errors`` and
``hardware_catalog.files``, which every planner command imports, then come without the catalog module and
pandas (~1.5 s of a command's start-up that never reads the catalog: ``planner --help``)."""
from __future__ import annotations

import importlib

#: exported name -> the module that defines it
_EXPORTS = {
    "Catalog": "catalog", "CatalogError": "catalog", "DEFAULT_NETWORK_GBPS": "bounds", "GPU": "catalog",
    "Instance": "catalog", "load_catalog": "catalog",
    "format_gpus_table": "tables", "format_instances_table": "tables",
}

__all__ = ["Catalog", "CatalogError", "DEFAULT_NETWORK_GBPS", "GPU", "Instance", "load_catalog",
           "format_gpus_table", "format_instances_table"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"hardware_catalog.{_EXPORTS[name]}"), name)
        globals()[name] = value  # the next lookup is a plain attribute
        return value
    raise AttributeError(f"module 'hardware_catalog' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
