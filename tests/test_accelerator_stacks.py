"""Accelerator / training-stack pairing: a stack is timed only on the accelerators its code runs on
(planner.model.stacks ``RUNS_ON``, by platform: planner.hardware.options ``PLATFORMS``). Megatron-Core,
torchtitan, DeepSpeed and the HF Trainer are CUDA code (with ROCm / Gaudi ports); a Google TPU runs only
XLA code (the ``maxtext`` entry), AWS Trainium the Neuron SDK (``neuronx-distributed``). An open
``training.framework`` on a TPU / Trainium takes that platform's stack and says so; a named GPU stack there
is one line of error; ``recommend`` never pairs them. Trainium2's NeuronLink-v3 bandwidth is sourced
(catalog), and the generic efficiency prior these chips get is printed as unmeasured."""
import pytest

from planner import defaults as D
from planner.errors import InputError
from planner.hardware.options import option_from_cluster
from planner.hardware.platform import PLATFORMS, platform_of
from planner.model import stack_rules
from planner.model.stacks import RUNS_ON, STACKS, check_platform
from planner.spec import load_job_dict
from planner.vocab import FRAMEWORK
from planner.workloads.training import estimate_job, recommend

MODEL = {"preset": "llama3-8b"}
TRAIN = {"seq_len": 4096, "global_batch": 256, "tokens": 2e10, "precision": "bf16"}


def _estimate_job(gpu, framework=None, nodes=2, gpus_per_node=None, parallel=None):
    t = dict(TRAIN, **({"framework": {"name": framework}} if framework else {}))
    cl = {"gpu": gpu, "nodes": nodes, **({"gpus_per_node": gpus_per_node} if gpus_per_node else {})}
    return load_job_dict({"model": MODEL, "training": t, "cluster": cl, **({"parallel": parallel} if parallel else {})})


def _search_job(gpus, framework=None):
    t = dict(TRAIN, **({"framework": framework if framework == "auto" else {"name": framework}} if framework else {}))
    return load_job_dict({"model": MODEL, "training": t,
                          "constraints": {"gpus": gpus, "max_gpus": 1024, "objective": "cost", "deadline_hours": 4000}})


def test_every_stack_says_where_it_runs():
    assert set(RUNS_ON) == set(STACKS) and set(FRAMEWORK.names) <= set(RUNS_ON)
    for name, plats in RUNS_ON.items():
        assert plats and set(plats) <= set(PLATFORMS), name
        assert STACKS[name].platforms == plats
    # only the XLA stacks run on TPUs / Trainium, and they run nowhere else
    assert {n for n, p in RUNS_ON.items() if "tpu" in p} == {"maxtext"}
    assert {n for n, p in RUNS_ON.items() if "neuron" in p} == {"neuronx-distributed"}
    assert RUNS_ON["maxtext"] == ("tpu",) and RUNS_ON["neuronx-distributed"] == ("neuron",)
    # the stacks that need Transformer Engine / CUDA kernels run on NVIDIA, and those with a ROCm port on AMD
    for n in D.AUTO_FRAMEWORKS:
        assert "cuda" in RUNS_ON[n] and "rocm" in RUNS_ON[n]
    assert set(D.FRAMEWORK_BY_PLATFORM.values()) <= set(STACKS)
    for plat, name in D.FRAMEWORK_BY_PLATFORM.items():
        assert plat in RUNS_ON[name]
        assert stack_rules.runtime(STACKS[name]) is not None  # its launch limits are rules, not silence


def test_platform_by_vendor(catalog):
    assert platform_of(catalog.gpu("TPU-v5p")) == "tpu" and platform_of(catalog.gpu("Trainium2")) == "neuron"
    assert platform_of(catalog.gpu("H100")) == "cuda" and platform_of(catalog.gpu("MI300X")) == "rocm"
    assert platform_of(catalog.gpu("Gaudi3")) == "gaudi"


@pytest.mark.parametrize("stack", ["megatron-core", "torchtitan", "deepspeed", "hf-trainer", "nemo"])
def test_gpu_stacks_refused_on_tpu_and_trainium(catalog, stack):
    for gpu, own in (("TPU-v5p", "maxtext"), ("Trainium2", "neuronx-distributed")):
        with pytest.raises(InputError) as e:
            estimate_job(_estimate_job(gpu, stack), catalog)
        assert e.value.field == "training.framework"
        assert stack in e.value.message and gpu in e.value.message and own in e.value.message
        with pytest.raises(InputError):
            check_platform(own, catalog.gpu("H100"))  # and the other way round


def test_cli_error_is_one_line(cli, tmp_path):
    p = tmp_path / "job.yaml"
    p.write_text("model: {preset: llama3-8b}\ntraining: {seq_len: 4096, global_batch: 256, tokens: 2.0e10, "
                 "framework: megatron-core}\ncluster: {gpu: TPU-v5p, nodes: 2}\n")
    code, out, err = cli("estimate", p)
    text = (out + err).strip()
    assert code == 2 and text.startswith("error: training.framework: megatron-core runs on") and "\n" not in text
    assert "Traceback" not in text


def test_tpu_job_gets_a_tpu_stack_with_its_assumptions(catalog):
    plan = estimate_job(_estimate_job("TPU-v5p", nodes=4, gpus_per_node=4), catalog)
    assert plan.stack["name"] == "maxtext"
    lines = " | ".join(plan.assumptions)
    assert "training.framework open on TPU-v5p" in lines and "its platform's stack maxtext" in lines
    assert "training stack: maxtext" in lines
    assert "UNMEASURED" in plan.inputs["efficiencies_prior"] and "TPU" in plan.inputs["efficiencies_prior"]
    # MaxText's default data parallelism is its fsdp axis (ZeRO-3), and it has no ZeRO-2
    assert plan.config["zero"] == 3
    with pytest.raises(InputError) as e:
        estimate_job(_estimate_job("TPU-v5p", nodes=4, gpus_per_node=4, parallel={"zero": 2}), catalog)
    assert e.value.field == "parallel.zero" and "MaxText" in e.value.message
    # named, it is the same plan, without the "open" line
    named = estimate_job(_estimate_job("TPU-v5p", "maxtext", nodes=4, gpus_per_node=4), catalog)
    assert named.step_time_s == pytest.approx(plan.step_time_s, rel=1e-12)
    assert not any("training.framework open" in a for a in named.assumptions)


def test_trainium_job_gets_nxd_and_zero1_only(catalog):
    plan = estimate_job(_estimate_job("Trainium2", nodes=2), catalog)
    assert plan.stack["name"] == "neuronx-distributed" and plan.config["zero"] == 1
    assert "UNMEASURED for Trainium" in plan.inputs["efficiencies_prior"]
    with pytest.raises(InputError) as e:
        estimate_job(_estimate_job("Trainium2", nodes=2, parallel={"zero": 3}), catalog)
    assert e.value.field == "parallel.zero" and "NeuronX Distributed" in e.value.message


def test_nvidia_and_amd_jobs_keep_their_default_stack_and_prior(catalog):
    for gpu in ("H100", "MI300X"):
        plan = estimate_job(_estimate_job(gpu), catalog)
        assert plan.stack["name"] == D.FRAMEWORK
        assert not any("training.framework open on" in a for a in plan.assumptions)
        assert "UNMEASURED" not in plan.inputs["efficiencies_prior"]


def test_trainium2_neuronlink_sourced(catalog):
    g = catalog.gpu("Trainium2")
    # trn2-arch: intra-instance NeuronLink-v3 1,024 GB/s per chip, no direction stated: halved per direction
    assert g.intra_node_bw == 512e9 and "trn2-arch" in g.source and "read 2026-12-01" in g.source
    sys = catalog.systems["aws:trn2.48xlarge"]
    assert sys.gpu.name == "Trainium2" and sys.gpu_count == 16 and sys.network_bw == 3200e9 / 8
    # a bare Trainium2 cluster's node is that instance: 16 chips, EFAv3 per chip, NeuronLink inside
    job = load_job_dict({"model": MODEL, "training": TRAIN, "cluster": {"gpu": "Trainium2", "nodes": 2}})
    hw = option_from_cluster(job.cluster, catalog)
    assert hw.gpus_per_node == 16 and hw.intra_bw == 512e9 and hw.inter_node_bw == pytest.approx(3200e9 / 8)
    assert any("NeuronLink-v3 domain" in n for n in hw.notes)


def test_recommend_never_pairs_a_gpu_stack_with_a_tpu(catalog):
    for fw in ("auto", None):
        rec = recommend(_search_job(["TPU-v5e", "TPU-v5p", "H100-SXM-80GB"], fw), catalog, simulate=False)
        t = rec.table
        tpu = t["gpu"].str.startswith("TPU")
        assert tpu.any() and (~tpu).any()
        assert set(t.loc[tpu, "framework"]) == {"maxtext"}
        assert "maxtext" not in set(t.loc[~tpu, "framework"])
        if fw == "auto":  # the comparison names it, and no Trainium stack (none searched)
            names = {r["framework"] for r in rec.stacks}
            assert "maxtext" in names and "neuronx-distributed" not in names
        else:  # open: each platform's stack, said so
            assert not rec.stacks and any("its platform's stack maxtext" in a for a in rec.assumptions)
        for p in rec.ranked:
            assert (p.stack["name"] == "maxtext") == p.hardware.gpu.startswith("TPU")
    # an NVIDIA-only search never sees the TPU stacks
    rec = recommend(_search_job(["H100-SXM-80GB"], "auto"), catalog, simulate=False)
    assert {r["framework"] for r in rec.stacks} == set(D.AUTO_FRAMEWORKS)


def test_recommend_named_gpu_stack_leaves_tpus_out(catalog):
    with pytest.raises(InputError) as e:
        recommend(_search_job(["TPU-v5e", "TPU-v5p"], "megatron-core"), catalog, simulate=False)
    # every GPU constraints.gpus lists is left out: the list is named, with each GPU's reason (the stack's line)
    assert e.value.field == "constraints.gpus" and "maxtext" in e.value.message and "training.framework" in e.value.message
    assert "TPU-v5e" in e.value.message and "TPU-v5p" in e.value.message
    rec = recommend(_search_job(["TPU-v5e", "H100-SXM-80GB"], "megatron-core"), catalog, simulate=False)
    assert not rec.table["gpu"].str.startswith("TPU").any()
    assert any(a.startswith("left out: megatron-core runs on") and "TPU-v5e" in a for a in rec.assumptions)


def test_emit_refuses_a_tpu_plan(catalog):
    from planner.present.emit import emit_launch_spec

    rec = recommend(_search_job(["TPU-v5e", "TPU-v5p"]), catalog, simulate=False)
    with pytest.raises(InputError) as e:
        emit_launch_spec(_search_job(["TPU-v5e", "TPU-v5p"]), rec.best, "torchrun")
    assert e.value.field == "--emit" and "maxtext" in e.value.message


@pytest.mark.parametrize("gpu, noun", [("TPU-v5p", "chip"), ("Trainium2", "chip"), ("H100", "GPU"), ("MI300X", "GPU")])
def test_text_counts_chips_on_tpus_and_trainium(catalog, cli, tmp_path, gpu, noun):
    """The hardware line said "2 nodes x 4 TPU-v5p (8 GPUs)": a TPU or Trainium is counted in chips, by its
    platform (planner.hardware.platform.device_noun), in the plan's text and its JSON ``hardware.device``."""
    from planner.hardware.platform import device_noun
    from planner.units import hardware_str

    assert device_noun(catalog.gpu(gpu)) == noun
    plan = estimate_job(_estimate_job(gpu), catalog).to_json()
    hw = plan["hardware"]
    assert hw["device"] == noun
    assert hardware_str(hw).endswith(f"({hw['gpus']:,} {noun}s)")
    job = tmp_path / "job.yaml"
    job.write_text(f"model: {{preset: llama3-8b}}\ntraining: {{seq_len: 4096, global_batch: 256, tokens: 2.0e10}}\n"
                   f"cluster: {{gpu: {gpu}, nodes: 2}}\n")
    code, out, err = cli("estimate", job)
    assert code == 0, err
    assert f" {noun}s)" in out and f"per {noun})" in out and f"memory per {noun}" in out
    if noun == "chip":
        assert " GPUs)" not in out and "per GPU)" not in out and "GPU-hours" not in out


def test_report_on_tpu_counts_chips_in_tables_and_risks(cli, tmp_path):
    """The report's alternatives and sensitivity tables headed their count "GPUs", and Buy, the memory chart,
    the headroom and calibration Risks said "GPU", on a TPU plan whose summary rows count chips."""
    job = tmp_path / "tpu.yaml"
    job.write_text("model: {preset: llama3-8b}\ntraining: {seq_len: 8192, global_batch: 256, tokens: 1.0e11}\n"
                   "constraints: {gpus: [TPU-v5p], objective: cost}\n")
    md = tmp_path / "r.md"
    code, _, err = cli("report", job, "-o", md, "--no-simulate")
    assert code == 0, err
    body = md.read_text().split("<!-- planner-summary")[0]
    assert "| nodes | chips | layout |" in body and "| nodes | chips | step |" in body
    assert "most loaded chip" in body and "this chip type" in body
    for said in ("| GPUs |", "this GPU", "most loaded GPU", "vs GPU capacity"):
        assert said not in body, said


def test_model_without_transformer_layers_defaults_to_plain_pytorch_ddp(catalog):
    """A ResNet / ViT job with training.framework open was timed and labelled "training stack: megatron-core
    (tp_overlap=te, ...)"; it now runs on plain PyTorch DDP + AMP (defaults.FRAMEWORK_NON_TRANSFORMER), the settings of
    the stack the ResNet-50 validation rows run, said in an assumption line -- with the same step time (the stacks
    price a model without transformer layers alike) -- and on ROCm too."""
    from planner.spec import load_job, load_job_dict
    from planner.workloads.training import estimate_job
    from conftest import EXAMPLES

    job = load_job(EXAMPLES / "resnet50-objectstore-shards.yaml")
    est = estimate_job(job, catalog)
    assert est.stack["name"] == "pytorch-ddp"
    assert any(a.startswith("training stack: pytorch-ddp (") for a in est.assumptions)
    # DDP has no TP or sharded-parameter collectives: their options are not listed for a model without transformer layers
    line = next(a for a in est.assumptions if a.startswith("training stack:"))
    assert "overlap_grad_reduce=on" in line and not any(o in line for o in ("tp_overlap", "overlap_param_gather", "reshard"))
    assert any(a.startswith("training.framework open for resnet50, a model without transformer layers") for a in est.assumptions)
    def named(name):
        return load_job_dict({**job.model_dump(exclude_none=True),
                              "training": {**job.training.model_dump(exclude_none=True), "framework": {"name": name}}})
    assert estimate_job(named("dle-convnets"), catalog).step_time_s == pytest.approx(est.step_time_s, rel=1e-12)
    # Megatron's code builds transformers only: refused since QA 108b (until then timed alike)
    with pytest.raises(InputError, match="training.framework: Megatron refuses a model without transformer layers"):
        estimate_job(named("megatron-core"), catalog)
    rocm = load_job_dict({"model": {"preset": "resnet50"}, "training": {"global_batch": 2048, "epochs": 1, "dataset_samples": 1281167},
                          "cluster": {"gpu": "MI300X-192GB", "nodes": 1}})
    assert estimate_job(rocm, catalog).stack["name"] == "pytorch-ddp"
    llm = load_job(EXAMPLES / "llama3-8b-estimate.yaml")  # a transformer keeps the LLM default
    assert estimate_job(llm, catalog).stack["name"] == "megatron-core"
    assert "tp_overlap=" in next(a for a in estimate_job(llm, catalog).assumptions if a.startswith("training stack:"))
