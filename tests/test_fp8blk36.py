"""Block-wise FP8 (DeepSeek-V3's recipe: 1x128 activation / gradient tiles, 128x128 weight blocks, arXiv 2412.19437
§3.3) as the stacks run it: Transformer Engine's ``Float8BlockScaling`` through Megatron-Core's ``--fp8-recipe
blockwise`` and NeMo AutoModel's ``TEFp8Config.recipe: block`` (planner.model.stacks RECIPES "blockwise"; sources in
its docstring). Hopper runs it on the FP8 tensor cores; compute capability 10.x emulates it on the MXFP8 ones
(TransformerEngine PR #2157); Ada and AMD parts have no block-scaled FP8 GEMM; torchtitan does not expose torchao's
block-wise prototype.

Transformer Engine's GEMM profiling guide (docs/features/low_precision_training/gemm_profiling/gemm_profiling.rst
@33294178; B300, hidden 4096 / FFN 16384, 15,872 tokens, one layer's 12 GEMMs) times FP8 Block at 9.598 ms a layer
under autocast and 6.830 ms pre-quantised against BF16's 12.227 / 12.835 (fprop 2.992 against 4.056)."""
import shlex
import sys

import pytest

from conftest import ROOT, answered, refused, write_job
from test_mxfp8_te_table import _ratios

from planner.model import physics
from planner.model.stacks import resolve
from planner.model.stack_kernels import RECIPES, recipe_on, te_cast_bytes

sys.path.insert(0, str(ROOT / "benchmarks"))

TE_B300_BLOCK = {"layer_autocast": 12.227 / 9.598, "layer_prequant": 12.835 / 6.830, "fprop_autocast": 4.056 / 2.992}


def _job(recipe: str, gpu: str, framework: str = "megatron-core") -> dict:
    return {"model": {"preset": "llama3-8b"},
            "training": {"precision": "fp8", "seq_len": 4096, "global_batch": 64, "micro_batch": 1, "tokens": 1e9,
                         "recompute": "selective", "framework": {"name": framework, "fp8_recipe": recipe}},
            # ZeRO-3: the one data parallelism both stacks share (NeMo AutoModel is FSDP2 or DDP)
            "parallel": {"tp": 1, "pp": 1, "dp": 8, "zero": 3},
            "cluster": {"gpu": gpu, "gpus_per_node": 8, "nodes": 1}}


def test_the_recipe_prices_te_float8blockscaling_from_its_sources():
    """One cast kernel (a 16-bit read, the row-wise and the transposed column-wise FP8 copies, an FP32 scale per 128
    each way): 4.0625 B; the wgrad input saved as FP8 + its 1x128 scales: 1.03125 B; the FP8 parameter gathered
    (1 B); the Hopper GEMM at DeepGEMM's H800 fraction over the cuBLASLt per-tensor one (0.907 of bf16's, 0.92
    per-tensor); on SM100 the MXFP8 path at TE's B300 rates."""
    r = RECIPES["blockwise"]
    assert r.cast_bytes == pytest.approx(4.0625) and r.saved_bytes == pytest.approx(1.03125)
    assert r.param_gather_bytes == 1.0 and r.weight_casts == "microbatch" and r.split_kernels == 1.0
    assert r.gemm_rel == pytest.approx(0.907, abs=5e-4) and r.peak == "fp8block"
    on_b200 = recipe_on(r, "B200-SXM-180GB")
    assert on_b200.peak == "mxfp8" and on_b200.gemm_rel == pytest.approx(0.939, abs=5e-4)
    assert on_b200.cast_bytes == pytest.approx(9.505, abs=5e-3)
    assert recipe_on(r, "H100-SXM-80GB") is r and recipe_on(RECIPES["mxfp8"], "B200-SXM-180GB") is RECIPES["mxfp8"]
    # the column-wise copy is a second quantisation (1D blocks do not transpose), so no part skips its write
    assert te_cast_bytes(resolve("megatron-core", fp8_recipe="blockwise"), "B200-SXM-180GB") == pytest.approx(9.505,
                                                                                                          abs=5e-3)
    assert te_cast_bytes(resolve("megatron-core", fp8_recipe="blockwise"), "H100-SXM-80GB") == pytest.approx(4.0625)


#: TE linears that re-quantise the weight every forward (test_mxfp8_te_table ``_ratios`` times them)
AM = "nemo-automodel"


def test_blockwise_on_b300_gives_te_profiling_table_back(catalog):
    """The GEMM kernels alone within 1.5% (1.879x over BF16); with their casts within 4% (TE 1.274x a layer, 1.356x
    fprop; the planner 1.227x / 1.322x: its MXFP8 casts, which the block casts are scaled from, price 1.58 ms a
    layer where TE's table leaves 1.18)."""
    got = _ratios(catalog, "B300-SXM-288GB", "blockwise", stack=AM)
    assert got["layer_prequant"] == pytest.approx(TE_B300_BLOCK["layer_prequant"], rel=0.015)
    for key in ("layer_autocast", "fprop_autocast"):
        assert got[key] == pytest.approx(TE_B300_BLOCK[key], rel=0.04), (key, got[key])
    # and, as TE's table orders them, block-wise beats MXFP8 on the kernels alone and loses to it with the casts
    mx = _ratios(catalog, "B300-SXM-288GB", "mxfp8", stack=AM)
    assert got["layer_prequant"] > mx["layer_prequant"] and got["layer_autocast"] < mx["layer_autocast"]


@pytest.mark.parametrize("framework", ["megatron-core", "nemo-automodel"])
@pytest.mark.parametrize("gpu", ["H100-SXM-80GB", "H800-SXM-80GB", "B200-SXM-180GB"])
def test_megatron_and_automodel_run_blockwise_on_hopper_and_blackwell(tmp_path, cli, framework, gpu):
    plan = answered(cli("estimate", write_job(tmp_path, _job("blockwise", gpu, framework)), "--json"))
    assert plan["step_time_s"] > 0


@pytest.mark.parametrize("gpu", ["L40S-48GB", "MI300X-192GB"])
def test_parts_without_block_scaled_fp8_gemms_are_refused(tmp_path, cli, gpu):
    line = refused(cli("estimate", write_job(tmp_path, _job("blockwise", gpu))))
    assert line == (f"error: training.framework.fp8_recipe: blockwise needs FP8 block-scaled GEMMs (Hopper or "
                    f"Blackwell, Transformer Engine Float8BlockScaling); {gpu} has none"), line
    assert not any(gpu.startswith(p) for p in physics.BLOCK_FP8_CAPABLE)


def test_torchtitan_has_no_blockwise(tmp_path, cli):
    line = refused(cli("estimate", write_job(tmp_path, _job("blockwise", "H100-SXM-80GB", "torchtitan"))))
    assert line.startswith("error: training.framework.fp8_recipe: torchtitan has no blockwise fp8_recipe (it offers "
                           "rowwise, tensorwise, mxfp8"), line


def test_megatron_launch_sets_blockwise_in_e4m3():
    from test_qa23 import _job as qa23_job
    from planner.present.emit import emit_launch_spec
    from planner.workloads.training import estimate_job

    job = qa23_job({"framework": {"name": "megatron-core", "fp8_recipe": "blockwise"}, "precision": "fp8"},
                   {"tp": 2, "zero": 1})
    f = shlex.split(emit_launch_spec(job, estimate_job(job), "torchrun"), comments=True)
    assert f[f.index("--fp8-recipe") + 1] == "blockwise" and f[f.index("--fp8-format") + 1] == "e4m3"


def test_blockwise_activations_keep_the_scales_of_the_saved_fp8_input(tmp_path, cli):
    """The wgrad input TE saves is the FP8 column-wise copy plus an FP32 scale per 128 (1.03125 B an element against
    per-tensor's 1): more activation memory than tensorwise, as much as MXFP8's 1 + 1/32."""
    act = {r: answered(cli("estimate", write_job(tmp_path, _job(r, "B200-SXM-180GB")), "--json"))
           ["memory_per_gpu_bytes"]["activations"] for r in ("tensorwise", "blockwise", "mxfp8")}
    assert act["tensorwise"] < act["blockwise"] == pytest.approx(act["mxfp8"])


def test_deepseek_v3_report_row_runs_blockwise():
    """The open_reports row of DeepSeek-V3's own run takes the registry's block-wise recipe (it took rowwise while the
    registry had none)."""
    import validate
    from hardware_catalog import load_catalog

    rows = validate.pd.read_csv(validate.OPEN_REPORTS_CSV)
    r = rows[rows["id"] == "deepseekv3_671b"].iloc[0]
    *_, stack = validate.open_reports_case(load_catalog(), r)
    assert stack.fp8_recipe == "blockwise"
