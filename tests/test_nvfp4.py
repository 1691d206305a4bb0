"""NVFP4 as Megatron-Bridge runs it: the layers its presets keep in BF16 (planner.model.stacks
``Stack.lp_bf16_layers``) and the TP overlap its performance configs turn off for NVFP4
(benchmarks/validate.py ``MBRIDGE_BF16_LAYERS``, ``MBRIDGE_NO_TP_OVERLAP``)."""
import math
import sys

import pytest

from conftest import ROOT, refused

sys.path.insert(0, str(ROOT / "benchmarks"))

CSV = ROOT / "benchmarks" / "data" / "mbridge_all_runs.csv"


def _row(rows, rid):
    return next(rows[rows["id"] == rid].itertuples())


def _time(catalog, r, **opts):
    import validate
    from planner.model.step_time import step_time

    case = validate.pr2_case(catalog, r)
    kw = validate.pr2_time_kw(case.stack, {**case.options, **opts})
    return float(step_time(case.model, case.training, case.candidates, case.hw, **kw)["step_time_s"][0])


def test_nemotron_3_super_keeps_the_final_15_percent_in_bf16(rows):
    """Megatron-Bridge's count (14 layers at the end) is the NVFP4 paper's / Nemotron 3 recipe's "final
    15%" of the preset's 88 layers (the HF config's count, planner.spec.presets), rounded up."""
    import validate

    n = validate.MBRIDGE_BF16_LAYERS[("nemotron 3 super", "nvfp4")]
    nv = _row(rows, "mbridgeall_2606_gb200_nemotron-3-super-120b-a12b_nvfp4_64")
    assert validate.pr2_model(nv).layers == 88
    assert n == math.ceil(0.15 * validate.pr2_model(nv).layers)
    mx = _row(rows, "mbridgeall_2606_gb200_nemotron-3-super-120b-a12b_mxfp8_64")
    assert validate.pr2_options(nv, "megatron-core")["lp_bf16_layers"] == n
    assert "lp_bf16_layers" not in validate.pr2_options(mx, "megatron-core")


def test_bf16_layers_interpolate_between_the_recipe_and_16_bit_linears(rows, catalog):
    """Every layer kept 16-bit leaves nothing for the recipe to do: the NVFP4 and MXFP8 step times
    meet (their only difference is the linears' rate and quantisation); none kept is the plain
    recipe; half is in between."""
    r = _row(rows, "mbridgeall_2604_gb300_llama3-70b_nvfp4_64")
    layers = 80
    t0, th, tall = (_time(catalog, r, lp_bf16_layers=n) for n in (0, layers // 2, layers))
    assert t0 < th < tall
    assert tall == pytest.approx(_time(catalog, r, fp8_recipe="mxfp8", lp_bf16_layers=layers), rel=1e-9)
    assert _time(catalog, r, fp8_recipe="mxfp8") < tall  # MXFP8 linears beat 16-bit ones


def test_nvfp4_rows_run_without_te_tp_overlap(rows):
    """llama3_llm_pretrain.py / llama31_llm_pretrain.py: ``tp_comm_overlap = False if precision ==
    "nvfp4"``; the MXFP8 row of the same layout keeps the stack's TE overlap."""
    import validate
    from planner.model.stacks import STACKS

    nv = _row(rows, "mbridgeall_2604_gb200_llama3-70b_nvfp4_64")
    mx = _row(rows, "mbridgeall_2604_gb200_llama3-70b_mxfp8_64")
    assert validate.pr2_options(nv, "megatron-core")["tp_overlap"] == "none"
    assert validate.pr2_options(mx, "megatron-core").get("tp_overlap", STACKS["megatron-core"].tp_overlap) == "te"


def test_mtp_kept_in_bf16(rows, catalog):
    """Nemotron 3 Super's recipe keeps its MTP module 16-bit in every precision (keep_mtp_spec_in_bf16). Under
    MXFP8 that slows the step, even when every decoder layer is 16-bit too: Megatron-Core runs the MTP layers
    under the global fp8 context (multi_token_prediction.py ``_proj_and_transformer_layer``, "currently MTP only
    use global fp8 context"), which --first-last-layers-bf16 does not exempt. Under NVFP4 the flag changes
    nothing: that context is entered only ``if self.config.fp8`` ("TODO: currently ignoring FP4 in MTP layers"),
    so the MTP runs 16-bit either way."""
    import validate

    for rid in ("mbridgeall_2606_gb200_nemotron-3-super-120b-a12b_nvfp4_64",
                "mbridgeall_2606_gb200_nemotron-3-super-120b-a12b_mxfp8_64"):
        assert validate.pr2_options(_row(rows, rid), "megatron-core")["lp_bf16_mtp"] is True
    mx = _row(rows, "mbridgeall_2606_gb200_nemotron-3-super-120b-a12b_mxfp8_64")
    for n16 in (0, 88):
        assert _time(catalog, mx, lp_bf16_layers=n16, lp_bf16_mtp=False) < _time(catalog, mx, lp_bf16_layers=n16, lp_bf16_mtp=True)
    fp4 = _row(rows, "mbridgeall_2606_gb200_nemotron-3-super-120b-a12b_nvfp4_64")
    for n16 in (0, 88):
        assert _time(catalog, fp4, lp_bf16_layers=n16, lp_bf16_mtp=False) == _time(catalog, fp4, lp_bf16_layers=n16, lp_bf16_mtp=True)


def test_bf16_layer_options_are_megatron_cores_and_refuse_delayed_scaling():
    """lp_bf16_layers / lp_bf16_mtp / moe_fused_mlp name Megatron-Core / TE mechanisms: other stacks refuse them
    in one line; Megatron-Core itself refuses 16-bit first / last layers under delayed scaling
    (TransformerConfig.__post_init__)."""
    from planner.errors import InputError
    from planner.model.stacks import resolve

    for name in ("torchtitan", "hf-trainer", "deepspeed"):
        for opt in ({"lp_bf16_layers": 2}, {"lp_bf16_mtp": True}, {"moe_fused_mlp": True}):
            with pytest.raises(InputError) as e:
                resolve(name, **opt)
            assert e.value.field == f"training.framework.{next(iter(opt))}" and "\n" not in str(e.value)
    assert resolve("megatron-bridge", fp8_recipe="mxfp8", lp_bf16_layers=14).lp_bf16_layers == 14
    with pytest.raises(InputError, match="delayed"):
        resolve("megatron-core", fp8_recipe="delayed", lp_bf16_layers=2)


def test_bf16_layer_options_need_a_low_precision_run(tmp_path, cli):
    """A 16-bit run has nothing to leave 16-bit: the options are refused in one line, not ignored."""
    p = tmp_path / "job.yaml"
    for opt in ("lp_bf16_layers: 4", "lp_bf16_mtp: true"):
        p.write_text("model: {preset: llama3-8b}\n"
                     f"training: {{precision: bf16, framework: {{name: megatron-core, {opt}}}}}\n"
                     "cluster: {gpu: H100, nodes: 2}\n")
        assert refused(cli("estimate", p)).startswith("error: training.framework.lp_bf16_")


@pytest.mark.parametrize("model,training,field", [
    ("{preset: llama3-8b}", "{precision: fp8, framework: {name: megatron-core, lp_bf16_mtp: true}}",
     "training.framework.lp_bf16_mtp"),
    ("{preset: llama3-8b, mtp_repeated: true}", "{precision: bf16}", "model.mtp_repeated"),
])
def test_options_with_nothing_to_act_on_are_refused(tmp_path, cli, model, training, field):
    """An option that would be silently ignored (an MTP precision without an MTP module, shared MTP weights
    without MTP depths) is a one-line error."""
    p = tmp_path / "job.yaml"
    p.write_text(f"model: {model}\ntraining: {training}\ncluster: {{gpu: H100, nodes: 2}}\n")
    line = refused(cli("estimate", p))
    assert line.startswith(f"error: {field}:"), line
