"""QA 54: session 37's options end to end, a demanding user's pass (docs/qa_log.md "QA 54")."""
import json

from conftest import answered, write_job

# Megatron-Core's precision-aware optimizer over H100 and Gaudi 2: Intel's fork (megatron-core-gaudi) lacks the option,
# so the Gaudi is left out with that reason and the H100 planned (QA 53)
PA_OVER_GAUDI = """model: {preset: llama3-8b}
training: {seq_len: 8192, global_batch: 256, precision: bf16, optimizer: adamw, tokens: 1.0e11,
           framework: {name: megatron-core, precision_aware_optimizer: true, exp_avg_dtype: bf16,
                       exp_avg_sq_dtype: bf16}}
constraints: {gpus: [Gaudi2-96GB, H100-SXM-80GB], max_gpus: 8, objective: cost}
"""


def test_compare_json_has_a_row_for_a_gpu_left_out_with_its_reason(cli, tmp_path):
    """``compare --by gpu`` says under its table "constraints.gpus: left out — Gaudi2-96GB: megatron-core on
    Gaudi2-96GB is megatron-core-gaudi ..."; ``--json`` printed the H100's row alone, no word of the Gaudi. Now the
    Gaudi is a row after the planned ones, ``no_plan`` true, with the same words; ``recommend --by gpu --json``'s
    ``by`` likewise."""
    p = write_job(tmp_path, PA_OVER_GAUDI)
    code, out, err = cli("compare", str(p), "--by", "gpu", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["gpu"] for r in rows] == ["H100-SXM-80GB", "Gaudi2-96GB"], rows
    assert "no_plan" not in rows[0] and rows[0]["cost"] > 0
    gone = rows[1]
    assert gone["no_plan"] is True and gone["status"] == "left out", gone
    assert "megatron-core-gaudi" in gone["reason"] and "no precision-aware optimizer" in gone["reason"], gone
    code, text, err = cli("compare", str(p), "--by", "gpu")  # the text's line is the same reason
    assert code == 0, err
    assert gone["reason"].split(":")[1] in " ".join(text.split())
    d = answered(cli("recommend", str(p), "--by", "gpu", "--json", "--no-simulate"))
    assert d["by"][-1] == gone and d["no_plan"] == [{k: gone[k] for k in ("gpu", "status", "reason")}]


def test_compare_json_has_a_row_for_a_gpu_no_layout_fits_on(cli, tmp_path):
    """A listed GPU that was searched and fits no layout ("constraints.gpus: no plan — A10G-24GB: no layout fits in
    its memory (nearest ...)") is a row too, status "no plan"."""
    p = write_job(tmp_path, """model: {preset: llama3-70b}
training: {seq_len: 8192, global_batch: 64, precision: bf16, tokens: 1.0e9}
constraints: {gpus: [A10G-24GB, H100-SXM-80GB], max_gpus: 16, objective: cost}
""")
    code, out, err = cli("compare", str(p), "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["gpu"] for r in rows] == ["H100-SXM-80GB", "A10G-24GB"], rows
    assert rows[1]["no_plan"] is True and rows[1]["status"] == "no plan", rows[1]
    assert rows[1]["reason"].startswith("A10G-24GB: no layout fits in its memory (nearest: "), rows[1]


def test_compare_by_framework_json_has_the_stack_without_a_plan(cli, tmp_path):
    """``compare --by framework``'s note "training.framework auto: no plan — deepspeed: does not fit: ..." (QA 49) was
    not in ``--json``: Qwen2.5-7B at 160K on 32 H100 listed three stacks there. deepspeed is now a row, no_plan true,
    status "does not fit" and the reason."""
    p = write_job(tmp_path, """model: {preset: qwen2.5-7b}
training: {seq_len: 163840, global_batch: 32, precision: bf16, tokens: 5.0e9, mode: full_finetune, framework: auto}
cluster: {gpu: H100-SXM-80GB, gpus_per_node: 8, nodes: 4}
""")
    code, out, err = cli("compare", str(p), "--by", "framework", "--objective", "time", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["framework"] for r in rows if not r.get("no_plan")] == ["megatron-core", "torchtitan", "hf-trainer"]
    gone = [r for r in rows if r.get("no_plan")]
    assert len(gone) == 1 and gone[0]["framework"] == "deepspeed" and gone[0]["status"] == "does not fit", gone
    assert gone[0]["reason"].startswith("no layout fits in GPU memory; nearest: "), gone


# Llama-3-70B under MaxText's minimal_offloaded remat on a TPU v6e-64 slice: every weight GEMM's output of every layer
# goes to the host: q 8,192 + k 1,024 + v 1,024 + out 8,192 + wi_0, wi_1 2 x 28,672 + wo 8,192 = 83,968 bf16 values a token a
# layer, x 65,536 tokens (micro-batch 8 x 8,192) x 80 layers = 820.0 GiB a chip
MX_OFFLOAD_70B = """model: {preset: llama3-70b}
training: {seq_len: 8192, global_batch: 512, micro_batch: 8, precision: bf16, recompute: full, tokens: 1.0e10,
           framework: {name: maxtext, remat_policy: minimal_offloaded}}
parallel: {tp: 1, pp: 1, zero: 3}
cluster: {instance: gcp:tpu-v6e-64, nodes: 1}
"""


def test_a_tpu_plans_host_overflow_is_said_per_chip(cli, tmp_path):
    """The host-memory misfit of a TPU plan read "820.0 GiB per GPU offloaded ... over its 64 GPUs" (estimate's fits
    line and advice), where every other line of a TPU plan says chip."""
    code, out, err = cli("estimate", str(write_job(tmp_path, MX_OFFLOAD_70B)))
    assert code == 0, err
    text = " ".join(out.split())
    assert "host memory: 820.0 GiB per chip offloaded" in text, text
    assert "does not fit host memory: 820.0 GiB per chip offloaded" in text and "over its 64 chips)" in text, text
    assert "per GPU" not in text and " GPUs)" not in text, text


def test_tpu_v6e_slices_hold_a_remat_offload_to_googles_host_ram(cli, tmp_path):
    """The v6e slices had no RAM figure, so a MaxText remat offload was held to the 256 GiB a chip assumed for a node
    of unknown RAM (offload.REF_HOST_RAM_PER_GPU, p5.48xlarge's per GPU): 204.8 GiB allowed a chip. Google's v6e page
    gives 1,536 GiB of DRAM per 8-chip host, 192 GiB a chip: 153.6 GiB allowed at 80%. Llama-3-8B under
    minimal_offloaded, micro-batch 8 x 8,192 tokens, offloads 43,008 bf16 values a token a layer (q 4,096, k and v
    1,024 each, out 4,096, wi_0 / wi_1 14,336 each, wo 4,096) x 65,536 tokens x 32 layers = 168.0 GiB a chip: over."""
    job = MX_OFFLOAD_70B.replace("llama3-70b", "llama3-8b")
    d = answered(cli("estimate", str(write_job(tmp_path, job)), "--json"))
    mem, GiB = d["memory_per_gpu_bytes"], 2**30
    assert round(mem["host"] / GiB, 2) == 168.0
    assert d["detail"]["host_ram_bytes"] == 12288 * GiB and d["detail"]["host_ram_source"] == "gcp:tpu-v6e-64"
    assert round(mem["host_limit"] / GiB, 2) == 153.6 and mem["host"] > mem["host_limit"]


def test_the_app_plans_an_uploaded_job_on_an_instance_of_another_gpu(tmp_path):
    """The app wrote its three default GPUs (H100, H200, A100-80GB) into constraints.gpus beside the job's own
    cluster.instance, so every upload on another GPU's instance was refused: "constraints.gpus: the cluster's
    A100-SXM-40GB is not one of them" (aws:p4d.24xlarge), likewise a MaxText job on gcp:tpu-v6e-8, which
    `planner estimate` plans. The sidebar now starts with the instance's GPU."""
    from streamlit.testing.v1 import AppTest

    from conftest import ROOT
    from planner import interactive as wi

    job = MX_OFFLOAD_70B.replace("llama3-70b", "llama3-8b").replace("micro_batch: 8", "micro_batch: 1").replace(
        "tpu-v6e-64", "tpu-v6e-8").replace("global_batch: 512", "global_batch: 256")
    base = wi.parse_upload("mx.yaml", job.encode())
    w = wi.inputs_from_job(wi.build_job(base, None), wi.cached_catalog())
    assert w.gpus == ["TPU-v6e"] and w.instance == "gcp:tpu-v6e-8"
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.file_uploader(key="upload").set_value(("mx.yaml", job.encode(), "application/octet-stream")).run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    assert {m.label: m.value for m in at.metric}["chips"] == "8"


FLEX_MIXTRAL = """model: {preset: mixtral-8x7b}
training: {seq_len: 4096, global_batch: 256, micro_batch: 1, precision: bf16, recompute: full, tokens: 1.0e10,
           framework: {name: megatron-core, moe_dispatcher: hybridep}}
"""


def test_the_flex_dispatcher_needs_more_than_one_rank_in_the_experts_tp_x_ep_group(cli, tmp_path):
    """Megatron-Core's MoEFlexTokenDispatcher asserts tp_size * ep_size > 1 (the experts' TP x EP group it dispatches
    over). Mixtral with moe_dispatcher hybridep was priced at ETP 1 x EP 1 (14.82 s a step on 16 H100), and
    recommend ranked such a plan first over H100 / B200 and emitted --moe-token-dispatcher-type flex for it."""
    from conftest import refused

    fixed = FLEX_MIXTRAL + "parallel: {tp: 1, pp: 4, ep: 1, zero: 1}\ncluster: {instance: aws:p5.48xlarge, nodes: 2}\n"
    line = refused(cli("estimate", str(write_job(tmp_path, fixed))))
    assert line.startswith("error: training.framework.moe_dispatcher: Megatron refuses the flex dispatcher"), line
    assert ": ETP1 x EP1" in line and "'Flex token dispatcher requires TPxEP > 1')" in line and "…" not in line, line
    ok = fixed.replace("ep: 1", "ep: 2")
    assert answered(cli("estimate", str(write_job(tmp_path, ok, "ok.yaml")), "--json"))["config"]["ep"] == 2


def test_auto_says_which_of_its_stacks_refused_an_accelerator_left_out(cli, tmp_path):
    """framework auto with cross_entropy_fusion (a Megatron-Core option) over H100 and TPU v6e: the TPU's one stack,
    maxtext, refuses the option, and the line read "TPU-v6e: auto does not run on Google TPUs (XLA) (stacks for it:
    maxtext; ...)" -- auto is no stack, and maxtext does run there. It now names maxtext and its refusal (in the text
    and in compare --json's no-plan row)."""
    p = write_job(tmp_path, """model: {preset: llama3-8b}
training: {seq_len: 8192, global_batch: 256, precision: bf16, tokens: 1.0e10,
           framework: {name: auto, cross_entropy_fusion: te}}
constraints: {gpus: [H100-SXM-80GB, TPU-v6e], max_gpus: 16, objective: cost}
""")
    code, out, err = cli("compare", str(p), "--by", "gpu", "--json")
    assert code == 0, err
    tpu = json.loads(out)[-1]
    assert tpu["gpu"] == "TPU-v6e" and tpu["no_plan"] is True, tpu
    assert tpu["reason"].startswith("TPU-v6e: auto's stack on TPU-v6e (Google TPUs (XLA)), maxtext, refuses the job: "
                                    "training.framework.cross_entropy_fusion: maxtext has no"), tpu
    assert "auto does not run" not in tpu["reason"]
