"""launch42: what the emitted launchers and serve left out.

- A plan held at ``cluster.power_limit_w`` below the GPUs' rated limit launched at the rated one: every format now runs
  ``nvidia-smi -pl W`` on each node before training (Slurm: an srun step; torchrun / SkyPilot: the line before
  torchrun; k8s: a privileged init container), which needs root, and where it may not, checks the limit in force and
  stops the job if a GPU is above the plan's.
- The ComputeDomain stays ``resource.nvidia.com/v1beta1`` (DRA driver release 0.5.0's API; v1beta2, without
  ``spec.numNodes``, is on the driver's main branch only), its header naming the release.
- A plan on several NVL72 racks priced the racks' InfiniBand between them and requested no device for it, unsaid.
- ``serve`` dropped the instances over ``constraints.max_price_per_gpu_hour`` (and a spot job's on-demand-only ones)
  without a line naming them; it prints recommend's lines (README "Launch specs", "Serving").
"""
from __future__ import annotations

import os
import re
import subprocess

import pytest
import yaml

from conftest import answered, write_job
from test_launch_parsers import bash_syntax_ok, k8s_accepts

from planner.hardware.options import price_cap_left_out
from planner.spec.schema import ConstraintsSpec
from hardware_catalog import load_catalog

LLAMA = """
model: {preset: llama3-8b}
training: {seq_len: 4096, global_batch: 512, tokens: 1.0e10}
cluster: {gpu: H100, nodes: 2, price_usd_hr: 60%s}
"""
RACKS = """
model: {preset: llama3-70b}
training: {seq_len: 8192, global_batch: 1024, precision: bf16, tokens: 1.0e11}
cluster: {gpu: GB200, nodes: %d, price_usd_hr: 300}
"""
SET = "nvidia-smi -pl 500"


def _emit(cli, tmp_path, text: str, fmt: str) -> str:
    code, out, err = cli("recommend", str(write_job(tmp_path, text)), "--no-simulate", "--emit", fmt)
    assert code == 0, err
    return out


def _node_step(script: str) -> str:
    """The ``bash -c '...'`` power-limit command a shell launch runs on each node, unquoted by bash itself."""
    (line,) = [x for x in script.splitlines() if SET in x and not x.startswith("#")]
    cmd = line.split("bash -c ", 1)[1].removesuffix(" || exit 1")
    return subprocess.run(["bash", "-c", f"printf %s {cmd}"], capture_output=True, text=True, check=True).stdout


# ---- the power limit


@pytest.mark.parametrize("fmt", ["slurm", "torchrun", "skypilot", "k8s"])
def test_the_launch_sets_the_power_limit_exactly_when_the_plan_holds_one(cli, tmp_path, fmt):
    """Llama-3-8B on 2 H100 nodes at 500 W (rated 700): each format sets it and says so in its header; the same job
    at 700 W (the rated limit) or without a limit writes no nvidia-smi at all. The scripts still parse (bash -n), the
    YAML formats load, and the k8s pod templates pass the Kubernetes schema (strict)."""
    for limit, held in ((", power_limit_w: 500", True), (", power_limit_w: 700", False), ("", False)):
        out = _emit(cli, tmp_path, LLAMA % limit, fmt)
        assert (SET in out) is held, (fmt, limit)
        assert ("nvidia-smi" in out) is held, (fmt, limit)
        assert ("the plan holds every H100-SXM-80GB at 500 W (cluster.power_limit_w; rated 700 W)" in out) is held
        if fmt in ("slurm", "torchrun"):
            bash_syntax_ok(out)
        elif fmt == "skypilot":
            bash_syntax_ok(yaml.safe_load(out)["run"])
        else:
            (job,) = [d for d in yaml.safe_load_all(out) if d["kind"] == "PyTorchJob"]
            for script in k8s_accepts(job):
                bash_syntax_ok(script)
            for rep in job["spec"]["pytorchReplicaSpecs"].values():
                init = rep["template"]["spec"].get("initContainers", [])
                assert bool(init) is held
                for c in init[1:]:  # the first: the restore sidecar (cost43, k8s44: tests/test_k8s44.py)
                    assert c["securityContext"] == {"privileged": True} and SET in c["command"][2]
                    assert c["resources"]["limits"] == {"nvidia.com/gpu": 8}


def test_the_slurm_step_runs_once_a_node_before_training(cli, tmp_path):
    out = _emit(cli, tmp_path, LLAMA % ", power_limit_w: 500", "slurm")
    steps = [x for x in out.splitlines() if x.startswith("srun ")]
    assert len(steps) == 2 and steps[0].startswith("srun --ntasks-per-node=1 --kill-on-bad-exit=1 bash -c ")
    assert SET in steps[0] and "torchrun" in steps[1]


@pytest.mark.parametrize("can_set, limits, code", [
    (True, "700.00", 0),  # root: set, nothing checked
    (False, "500.00\n500.00", 0),  # the site's prolog set it: passes
    (False, "500.00\n700.00", 1),  # no root and one GPU above: the job stops before training
])
def test_the_node_step_sets_the_limit_or_checks_the_one_in_force(cli, tmp_path, can_set, limits, code):
    """The per-node line run under bash with ``nvidia-smi`` and ``sudo`` stubbed: ``-pl`` succeeds as root; without
    root (both fail) the limits in force are read, and one GPU above 500 W fails the step, naming it."""
    body = _node_step(_emit(cli, tmp_path, LLAMA % ", power_limit_w: 500", "slurm"))
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "nvidia-smi").write_text(f'#!/bin/bash\nif [ "$1" = -pl ]; then exit {0 if can_set else 6}; fi\n'
                                     f'printf "{limits}\\n"\n')
    (bin_ / "sudo").write_text("#!/bin/bash\nexit 1\n")
    for f in bin_.iterdir():
        f.chmod(0o755)
    r = subprocess.run(["bash", "-c", body], capture_output=True, text=True,  # TMPDIR: the limits kept (cost43)
                       env={**os.environ, "PATH": f"{bin_}:{os.environ['PATH']}", "TMPDIR": str(tmp_path)})
    assert r.returncode == code, r.stderr
    if code:
        assert r.stderr.strip() == ("error: GPU 1 is held at 700.00 W, above the planned 500 W (cluster.power_limit_w); "
                                    "nvidia-smi -pl needs root: have the site set it (prolog) or plan without the limit")


# ---- the ComputeDomain's version and the racks' scale-out fabric


def test_the_compute_domain_is_the_released_drivers_api_and_says_so(cli, tmp_path):
    """resource.nvidia.com/v1beta1 with numNodes, the API DRA driver 0.5.0 serves (v1beta2 drops numNodes and is on
    the driver's main only), and only fields both versions convert (numNodes -> an annotation, channel as is)."""
    out = _emit(cli, tmp_path, RACKS % 2, "k8s")
    assert "the API DRA driver release 0.5.0 serves (its main branch converts it to v1beta2)" in out
    cds = [d for d in yaml.safe_load_all(out) if d["kind"] == "ComputeDomain"]
    assert len(cds) == 2
    for cd in cds:
        assert cd["apiVersion"] == "resource.nvidia.com/v1beta1" and cd["spec"]["numNodes"] == 16
        assert set(cd["spec"]) == {"numNodes", "channel"} and set(cd["spec"]["channel"]) <= {
            "resourceClaimTemplate", "allocationMode"}


@pytest.mark.parametrize("fmt", ["slurm", "torchrun", "skypilot", "k8s"])
def test_racks_say_their_scale_out_nics_are_not_requested(cli, tmp_path, fmt):
    """Two GB200 racks price DGX GB200's InfiniBand between them (25,600 Gb/s out of each 16-tray segment); no
    catalog instance row documents a device resource for it, so the spec says it requests none and why. One rack
    has no traffic between racks: no such line."""
    note = ("the plan priced 25,600 Gb/s of infiniband out of each of its 2 NVLink domains (nvidia:DGX-GB200-NVL72's "
            "scale-out NICs")
    assert note in _emit(cli, tmp_path, RACKS % 2, fmt)
    assert "this spec requests no infiniband device" in _emit(cli, tmp_path, RACKS % 2, fmt)
    assert "scale-out NICs" not in _emit(cli, tmp_path, RACKS % 1, fmt)


# ---- serve names what the price cap and spot left out

SERVE = """
model: {preset: llama3-8b}
serving: {qps: 5, prompt_tokens: 1000, output_tokens: 200, p99_latency_ms: 20000}
constraints: {%s}
"""


def test_serve_names_the_instances_over_the_price_cap(cli, tmp_path):
    """Under 5 $/GPU-h over H100 / H200: the JSON caveats and the text carry recommend's line (the same function's
    words), which the serve output lacked."""
    job = write_job(tmp_path, SERVE % "max_price_per_gpu_hour: 5, gpus: [H100, H200]")
    line = price_cap_left_out(load_catalog(), ConstraintsSpec(max_price_per_gpu_hour=5, gpus=["H100", "H200"]))
    assert line and "aws:p5.48xlarge (6.88)" in line
    res = answered(cli("serve", str(job), "--no-simulate", "--json"))
    assert line in res["caveats"]
    for row in res["options"]:
        assert row["price_usd_hr"] / row["gpus_per_node"] <= 5 + 1e-9, row["hardware"]
    code, out, err = cli("serve", str(job), "--no-simulate")
    assert code == 0, err
    assert "moves the ranking: constraints.max_price_per_gpu_hour: 8 instances" in re.sub(r"\s+", " ", out)


def test_serve_names_the_instances_a_spot_job_drops(cli, tmp_path):
    job = write_job(tmp_path, SERVE % "spot: true, gpus: [H100]")
    res = answered(cli("serve", str(job), "--no-simulate", "--json"))
    (line,) = [c for c in res["caveats"] if c.startswith("constraints.spot: ")]
    assert "lambda:gpu_8x_h100_sxm5" in line and "(leave constraints.spot off to rank them on demand)" in line
