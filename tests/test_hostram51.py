"""``cluster.host_ram_gib`` (session 51): a node's host RAM as the job states it, over the catalog's / the reference
instance's. qa101 made p3dn.24xlarge a clustered instance, so a bare V100 32 GB took its 96 GiB a GPU and the ZeRO-Offload
tutorial's one-GPU 10B run (a DGX-2: 1.5 TB host) no longer fit its host; the row now states its host."""
from __future__ import annotations

from planner.hardware.options import stated_host_ram
from planner.model import offload
from planner.spec.schema import ClusterSpec


class _HW:
    """The attributes ``offload.host_ram`` reads of a HardwareOption."""
    instance = None
    reference = None
    gpus_per_node = 1
    gpu = None

    def __init__(self, host_ram_bytes=None):
        self.host_ram_bytes = host_ram_bytes


def test_stated_host_ram_wins_and_is_named():
    c = ClusterSpec(gpu="V100-SXM2-32GB", gpus_per_node=1, host_ram_gib=1536)
    hw = _HW(stated_host_ram(c))
    assert offload.host_ram(hw) == (1536 * 2**30, "cluster.host_ram_gib")
    assert offload.host_limit(hw) == 1536 * 2**30 * offload.HOST_RAM_USABLE


def test_unset_keeps_the_assumption():
    assert stated_host_ram(ClusterSpec(gpu="V100-SXM2-32GB")) is None
    ram, why = offload.host_ram(_HW())
    assert ram == offload.REF_HOST_RAM_PER_GPU and "assumed" in why


def test_the_field_reaches_an_estimate(tmp_path):
    """End to end: the same offloading job fits its host only with the stated RAM (fails on the old code: the
    field was refused as unknown)."""
    import json

    import yaml
    from typer.testing import CliRunner

    from planner.cli import app

    job = {"model": {"preset": "llama3-8b"},
           "training": {"seq_len": 2048, "global_batch": 8, "micro_batch": 1, "precision": "fp16", "recompute": "full",
                        "framework": {"name": "deepspeed", "optimizer_offload": True}},
           "parallel": {"tp": 1, "pp": 1, "dp": 1, "zero": 2},
           "cluster": {"gpu": "V100-SXM2-32GB", "gpus_per_node": 1, "nodes": 1}}
    out = {}
    for ram in (None, 1536):
        j = json.loads(json.dumps(job))
        if ram:
            j["cluster"]["host_ram_gib"] = ram
        p = tmp_path / f"job{ram}.yaml"
        p.write_text(yaml.safe_dump(j))
        res = CliRunner().invoke(app, ["estimate", str(p), "--json"])
        assert res.exit_code == 0, res.output
        out[ram] = json.loads(res.stdout)["memory_per_gpu_bytes"]
    assert out[1536]["host_limit"] == 1536 * 2**30 * offload.HOST_RAM_USABLE
    assert out[None]["host_limit"] < out[1536]["host_limit"]
