"""QA 101: small items noticed by QA 99 / QA 100 (docs/qa_log.md "QA 101"). Each test fails on the code before it."""
from __future__ import annotations

import pytest

from hardware_catalog.catalog import load_catalog


# -- 1. p3dn.24xlarge / p3 network: AWS publishes the bandwidth, the catalog read it as unsourced ------------------
@pytest.mark.parametrize("key, gbps, fabric, where", [
    ("aws:p3dn.24xlarge", 100, "efa", "optimizing-deep-learning-on-p3-and-p3dn-with-efa"),
    ("aws:p3.16xlarge", 25, "ethernet", "infoq.cn/article/j629I8X512fg8tuKd6ke"),
    ("aws:p3.8xlarge", 10, "ethernet", "infoq.cn/article/j629I8X512fg8tuKd6ke"),
])
def test_p3_family_network_is_the_published_one_and_clusters(key, gbps, fabric, where):
    row = load_catalog().instance(key)
    assert row.network_bw == pytest.approx(gbps * 1e9 / 8)
    assert (row.fabric, row.cluster) == (fabric, True)
    assert where in row.source and f"{gbps} Gbps" in row.network_source
