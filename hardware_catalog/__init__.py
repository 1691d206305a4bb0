"""Hardware catalog package: GPUs, cloud instances and prices, interconnects, on-prem costs."""
from hardware_catalog.catalog import (DEFAULT_NETWORK_GBPS, GPU, Catalog, CatalogError, Instance,
                                      load_catalog)
from hardware_catalog.tables import format_gpus_table, format_instances_table

__all__ = ["Catalog", "CatalogError", "DEFAULT_NETWORK_GBPS", "GPU", "Instance", "load_catalog",
           "format_gpus_table", "format_instances_table"]
