"""QA 52: beyond NVIDIA -- AMD Instinct, TPU, Trainium, Gaudi on the shipped catalog (docs/qa_log.md "QA 52")."""
from conftest import answered, refused

# (on deepspeed, a stack with offload there: megatron-core on Gaudi is Intel's core_r0.9.0 fork, which offloads nothing
# (gaudi37); QA 52 ran it on the upstream entry's offloads)
GAUDI2_70B = """model: {preset: llama3-70b}
training: {seq_len: 8192, global_batch: 1024, precision: bf16, tokens: 1e12, framework: deepspeed}
constraints: {gpus: [Gaudi2-96GB]}
"""


def test_nearest_misfit_names_the_host_ram_its_offload_overfills(cli, tmp_path):
    """Llama-3-70B on the catalog's one Gaudi 2 node (8 x 96 GB, 940 GiB of RAM): the offloaded layouts fit the chips
    and not the host. The refusal read "nearest: ... off:optimizer+activation needs 51.9 GiB; 91.2 GiB allowed per
    GPU", a layout inside its limit, the 152.1 GiB per GPU its offload puts in 94.0 GiB of host RAM unsaid."""
    p = tmp_path / "gaudi2.yaml"
    p.write_text(GAUDI2_70B)
    line = refused(cli("recommend", str(p)))
    assert "GPU and host memory" in line, line
    assert "GiB of host RAM (94.0 allowed) per GPU" in line, line
    assert "…" not in line, line  # whole: the error's 300 characters hold it


def _no_plan(d):
    return [c for c in d["caveats"] if "no plan" in c]


def test_no_plan_gpu_past_the_gpu_limit_says_so_not_memory(cli, tmp_path):
    """TPU v5p's one catalog row is a 512-chip slice: under max_gpus 16 it is never searched. The caveat read
    "TPU-v5p: no layout fits in its memory" (an 8B fine-tune fits 95 GB chips easily)."""
    p = tmp_path / "v5p.yaml"
    p.write_text("""model: {preset: llama3-8b}
training: {mode: full_finetune, seq_len: 4096, global_batch: 64, precision: bf16, tokens: 1e9}
constraints: {gpus: [TPU-v5p, H100-SXM-80GB], clouds: [gcp, aws], max_gpus: 16, objective: cost}
""")
    lines = _no_plan(answered(cli("recommend", str(p), "--json")))
    assert len(lines) == 1 and "TPU-v5p: not searched: constraints.max_gpus:" in lines[0], lines
    assert "memory" not in lines[0], lines


def test_no_plan_gpu_names_the_no_deadline_horizon_it_misses(cli, tmp_path):
    """MI300X's only instance is one RunPod node: Llama-3-8B on 10T tokens runs 4.3 years there, past the 365 days
    recommend caps a job without a deadline at. The caveat read "its plans that fit miss the constraints (budget,
    deadline or GPU count)" for a job that sets no budget and no deadline."""
    p = tmp_path / "mi300x.yaml"
    p.write_text("""model: {preset: llama3-8b}
training: {seq_len: 4096, global_batch: 512, precision: bf16, tokens: 1e13}
constraints: {gpus: [MI300X-192GB, H100-SXM-80GB], clouds: [runpod, aws], max_gpus: 512, objective: cost}
""")
    lines = _no_plan(answered(cli("recommend", str(p), "--json")))
    assert len(lines) == 1 and lines[0].startswith("constraints.gpus: no plan — MI300X-192GB:"), lines
    assert "longer than 365 days" in lines[0] and "defaults.HORIZON_HOURS" in lines[0], lines
    assert "budget, deadline or GPU count" not in lines[0], lines


def test_bare_gaudi_cluster_takes_intels_box_scale_out_not_the_100g_default(cli, tmp_path):
    """Intel documents each Gaudi 3's three 200 Gb/s scale-out ports, 4,800 Gb/s for an 8-chip HLS-3 box (Gaudi 2:
    3 x 100 Gb/s); gpus.csv cited it, yet a bare Gaudi cluster ran on the 100 Gb/s-per-node default (Llama-3-70B on
    16 Gaudi 3 nodes: 101.8 d at 35% MFU; on the box's network 88.1 d at 40%)."""
    for gpu, key, gbps in (("Gaudi3", "intel:HLS-Gaudi3", 4800.0), ("Gaudi2", "intel:HLS-Gaudi2", 2400.0)):
        p = tmp_path / f"{gpu}.yaml"
        p.write_text(f"""model: {{preset: llama3-8b}}
training: {{seq_len: 8192, global_batch: 64, precision: bf16, tokens: 1e9}}
parallel: {{tp: 1, pp: 1, dp: 16, zero: 1}}
cluster: {{gpu: {gpu}, nodes: 2}}
""")
        hw = answered(cli("estimate", str(p), "--json"))["hardware"]
        assert hw["reference_system"] == key and hw["inter_node_gbps"] == gbps, hw


def _serve(cli, tmp_path, gpu):
    p = tmp_path / f"serve-{gpu}.yaml"
    p.write_text(f"""model: {{preset: llama3-8b}}
serving: {{p99_latency_ms: 100, ttft_ms: 2000, qps: 5, prompt_tokens: 1024, output_tokens: 128}}
cluster: {{gpu: {gpu}, price_usd_hr: 30}}
""")
    return answered(cli("serve", str(p), "--no-simulate", "--json"))


def test_serving_range_and_ranking_say_no_published_run_is_on_the_accelerator(cli, tmp_path):
    """The serving model's error range comes from 140 published runs, every one on NVIDIA GPUs. Llama-3-70B served on
    Gaudi 2 (first in the ranking, then MI300X) printed that range as its own and no word of the priors it ranked on,
    where a training plan says 'efficiencies are a prior, not measured' and 'none on Gaudi'."""
    d = _serve(cli, tmp_path, "Gaudi3")
    assert "none on Intel Gaudi (SynapseAI): Gaudi3-128GB's range is theirs" in d["accuracy"], d["accuracy"]
    assert d["budget"]["range_basis"] in d["accuracy"]
    assert any(a.startswith("Gaudi3-128GB: serving efficiencies are priors, not measured") for a in d["assumptions"]), \
        d["assumptions"]
    h = _serve(cli, tmp_path, "H100")  # the runs' own platform: nothing added
    assert "none on" not in h["accuracy"] and not any("serving efficiencies are priors" in a for a in h["assumptions"])
