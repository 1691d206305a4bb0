"""app52: the what-if app's controls for session 52's inputs. transformers' ``experts_implementation`` (the HF-code
stacks, MoE models only: a stack option control, ``interactive.STACK_OPTION_LABELS``), a bare-GPU node's
``cluster.nvlink_topology`` (offered only where the planner builds the node more than one way:
``interactive.topology_choices``), ``cluster.host_ram_gib`` (the job file's 1..1e6 GiB), DeepSpeed's
``mixed_precision: amp`` (its stack line names ``torch_autocast``) and hf-trainer's ``fsdp_version`` (default 2), each
on one page under streamlit's ``AppTest``."""
from __future__ import annotations

import pytest

from app_page import checked, open_page, page_text, stack_line, upload

pytestmark = pytest.mark.slow  # ~11 CPU s in 3 tests: an xdist worker gets it first (conftest HEAVY_MARKERS; suite55)

#: one pinned layout (a short search) on DeepSpeed, TP1 PP1 ZeRO-3, of a preset on a bare-GPU cluster
JOB = """
model: {{preset: {model}}}
training: {{seq_len: 4096, global_batch: {batch}, micro_batch: 1, precision: bf16, recompute: full, tokens: 1.0e9,
           framework: deepspeed}}
parallel: {{tp: 1, pp: 1, cp: 1, zero: 3}}
cluster: {{gpu: {gpu}, gpus_per_node: {g}, nodes: {nodes}}}
"""
# Mixtral (MoE) on 4 x 8 H100
MOE = JOB.format(model="mixtral-8x7b", batch=64, gpu="H100-SXM-80GB", g=8, nodes=4).encode()
# a 4-GPU H200 board (kfnode52's kind of node: no NVSwitch where the job says nvlink4-quad-mesh)
BOARD = JOB.format(model="llama3-8b", batch=8, gpu="H200-SXM-141GB", g=4, nodes=1).encode()


@pytest.fixture(scope="module")
def page():
    return open_page()


def _assumptions(at) -> str:
    return page_text(" ".join(m.value for m in at.markdown))


def test_the_experts_kernel_amp_and_fsdp_version_on_the_hf_code_stacks(page):
    """Mixtral on DeepSpeed: the experts kernel starts at the stack's default and, set to grouped_mm, is the plan's
    stack line (at the plan's EP > 1 the CLI's "MoE experts: AutoEP's GroupedExperts ..., not transformers'
    experts_implementation=grouped_mm"); the default page's dense
    Llama on Megatron-Core draws no such control. DeepSpeed's mixed_precision amp is its config's torch_autocast
    section on that line; hf-trainer's fsdp_version input, left empty, reads "auto": the search tries 1 and 2 on this
    job (rec54; words58: it read 2, the Trainer's default since session 52, the help alone saying searched)."""
    assert not [b for b in page.selectbox if b.key == "w_stackopt_experts_implementation"]
    at = upload(page, "moe.yaml", MOE)
    kernel, mp = at.selectbox(key="w_stackopt_experts_implementation"), at.selectbox(key="w_stackopt_mixed_precision")
    assert list(kernel.options) == ["stack default", "eager", "grouped_mm"] and kernel.value == "stack default"
    assert (list(mp.options), mp.value) == (["amp", "bf16"], "bf16")
    kernel.set_value("grouped_mm")
    mp.set_value("amp").run()
    line = stack_line(checked(at))
    # the plan runs EP > 1 here: AutoEP's layer replaces the kernel set, and the line names both (autoep53b)
    assert "MoE experts: AutoEP's GroupedExperts" in line and "experts_implementation=grouped_mm" in line, line
    assert 'mixed_precision=amp ("torch_autocast": {"enabled": true' in line, line
    at.selectbox(key="w_framework").set_value("hf-trainer").run()
    version = at.number_input(key="w_stackopt_fsdp_version")
    assert version.value is None and version.proto.placeholder == "auto"
    assert "empty: the search tries its values" in version.proto.help
    assert checked(at).selectbox(key="w_stackopt_experts_implementation").value == "stack default"


def test_a_four_gpu_hopper_board_offers_the_quad_mesh(page):
    """A bare 4 x H200 node offers its wiring (the default page's search does not: no one node to wire); the quad
    mesh chosen is the plan's, its line among the assumptions as `planner estimate` prints it. Where no control is
    drawn the job's own wiring is kept, not dropped."""
    assert not [b for b in page.selectbox if b.key == "w_nvlink_topology"]
    at = upload(page, "board.yaml", BOARD)
    wiring = at.selectbox(key="w_nvlink_topology")
    # the node default named with its wiring, once (qa105: "node default" and "switch" were the same node)
    assert list(wiring.options) == ["switch (node default)", "nvlink4-quad-mesh"] and wiring.value == "node default"
    assert "nvlink4-quad-mesh" not in _assumptions(at)
    wiring.set_value("nvlink4-quad-mesh").run()
    assert "NVLink nvlink4-quad-mesh: a TP / DP group rings only over the NVLinks" in _assumptions(checked(at))

    # an instance draws no wiring control, and keeps the job's own: p3.16xlarge's row is the cube mesh, the job's switch
    p3 = JOB.replace("bf16", "fp16").format(model="llama3-8b", batch=8, gpu="V100-SXM2-16GB", g=8, nodes=1)
    at = upload(page, "p3.yaml", p3.replace("gpu: V100-SXM2-16GB, gpus_per_node: 8", "instance: aws:p3.16xlarge, "
                                            "nvlink_topology: switch").encode())
    assert not [b for b in at.selectbox if b.key == "w_nvlink_topology"]
    assert "aws:p3.16xlarge" in at.success[0].value and "hybrid-cube-mesh" not in _assumptions(at)


def test_host_ram_is_the_offloads_limit_within_the_job_files_bounds(page):
    """DeepSpeed's optimizer offload on the 4 x H200 node: 16 GiB of host RAM holds 3.2 GiB a GPU of the 29.9 GiB it
    offloads (the page says no configuration fits, naming the host RAM); 2,048 GiB plans it; under 1 GiB is the
    loader's one line (cluster.host_ram_gib's bounds, 1..1e6)."""
    at = upload(page, "board.yaml", BOARD)
    at.selectbox(key="w_stackopt_optimizer_offload").set_value(True)
    at.number_input(key="w_host_ram_gib").set_value(16.0).run()
    assert not at.exception and len(at.error) == 1 and "GiB of host RAM (3.2 allowed) per GPU" in at.error[0].value
    at.number_input(key="w_host_ram_gib").set_value(2048.0).run()
    assert checked(at).success
    at.number_input(key="w_host_ram_gib").set_value(0.5).run()
    assert not at.exception and [e.value[:26] for e in at.error] == ["**cluster.host_ram_gib**: "]
    assert at.number_input(key="w_host_ram_gib").max == 1e6
