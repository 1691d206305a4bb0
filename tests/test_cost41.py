"""cost41: rack-scale NVL72 segments billed by whole racks and said so; a floor under a user's price rows; the report's
"no catalog on-demand rate" words reached."""
from __future__ import annotations

import pytest
from conftest import answered, refused, write_job

from hardware_catalog import load_catalog
from hardware_catalog.bounds import DEEPEST_DISCOUNT
from hardware_catalog.catalog import rate_floors, rate_units
from planner.hardware.options import option_from_cluster, racks_billed
from planner.spec.schema import ClusterSpec

RACK = 720.0  # USD per rack-hour: a stated job rate, no market figure

LLAMA = """
model: {preset: llama3-8b}
training: {seq_len: 4096, global_batch: 960, micro_batch: 1, tokens: 1.0e11, recompute: selective,
           framework: {name: megatron-core}}
parallel: {tp: 1, pp: 1}
"""


def place(trays: int, segments: int, rack_trays: int = 18) -> int:
    """Racks Slurm's block topology opens for ``segments`` segments of ``trays`` trays, filled tray by tray (a
    segment never spans two racks), counted by hand."""
    racks, free = 0, 0
    for _ in range(segments):
        if free < trays:
            racks, free = racks + 1, rack_trays
        free -= trays
    return racks


@pytest.mark.parametrize("trays, segments", [(8, 3), (8, 4), (4, 5), (6, 7), (16, 3), (9, 1)])
def test_a_fixed_segment_count_pays_the_whole_racks_it_opens(trays, segments):
    """3 segments of 8 trays (2 a rack) open 2 racks and pay both: the cost is racks x the rack's rate. Until cost41
    each segment paid 1/2 of a rack, 1.5 racks for 3 segments."""
    hw = option_from_cluster(ClusterSpec(gpu="GB200-B200", segment=trays, nodes=segments, price_usd_hr=RACK))
    assert racks_billed(segments, hw.segments_per_rack) == place(trays, segments)
    assert segments * hw.price_ondemand == pytest.approx(place(trays, segments) * RACK)


def test_the_note_says_segments_gpus_and_racks_billed(cli, tmp_path):
    job = write_job(tmp_path, LLAMA + f"cluster: {{gpu: GB200-B200, segment: 8, nodes: 3, price_usd_hr: {RACK}}}\n")
    est = answered(cli("estimate", job, "--json"))
    hours = est["cost"]["hours"]
    assert est["cost"]["cost_ondemand_usd"] == pytest.approx(hours * 2 * RACK)  # 2 racks, not 1.5
    note = next(a for a in est["assumptions"] if a.startswith("NVLink domain: 32 GPUs"))
    assert "3 segments of 8 trays = 96 GPUs; billed: 2 racks (144 GPUs" in note, note
    # since cost42 the cap counts what is rented (tests/test_cost42.py), the floor what is run on
    assert "constraints.max_gpus counts the GPUs billed, min_gpus the GPUs the plan runs on" in note, note


def test_recommend_searches_whole_racks_of_small_segments(cli, tmp_path):
    """With the node count open, segments of 8 trays come in pairs (one rack each): an odd count would pay a rack
    it half uses."""
    job = write_job(tmp_path, LLAMA + f"cluster: {{gpu: GB200-B200, segment: 8, price_usd_hr: {RACK}}}\n"
                    "constraints: {max_gpus: 256}\n")
    rec = answered(cli("recommend", job, "--json", "--no-simulate"))
    nodes = {r["hardware"]["nodes"] for r in rec["ranked"]}
    assert nodes and all(n % 2 == 0 for n in nodes), nodes
    best = rec["best"]["hardware"]
    assert best["racks_billed"] * 72 <= 256  # max_gpus counts the GPUs billed (cost42; the GPUs run on before)
    assert best["racks_billed"] == best["nodes"] // 2 and best["idle_gpus_per_rack"] == 8
    code, out, err = cli("recommend", job, "--no-simulate", "--top", "1")
    assert code == 0, err
    flat = " ".join(out.split())
    assert (f"recommended: {best['nodes']} x GB200-B200 --segment=8 ({best['nodes']} segments of 8 trays = "
            f"{best['gpus']} GPUs; billed: {best['nodes'] // 2} rack") in flat, flat[:1500]


# ---- price floors


def test_every_shipped_rate_is_above_its_floor():
    """The floors come from the shipped rows' on-demand rates; every shipped spot and committed rate is above them
    (the deepest shipped spot discount, p6-b300's 88.8%, is inside the 90% the floor allows)."""
    cat, floors = load_catalog(), rate_floors()
    for inst in cat.instances.values():
        per = rate_units(inst.gpu is not None, inst.gpu_count, inst.vcpus)
        if not per:
            continue
        floor = (floors.get(inst.gpu.name) or floors["*"]) if inst.gpu else floors["cpu"]
        for rate in (inst.price_ondemand, inst.price_spot, *(c.price for c in cat.commitments_for(inst.key))):
            if rate is not None:
                assert rate / per >= floor.usd, inst.key
    h100 = floors["H100-SXM-80GB"]
    assert h100.usd == pytest.approx((1 - DEEPEST_DISCOUNT) * min(
        i.price_ondemand / i.gpu_count for i in cat.instances.values() if i.gpu and i.gpu.name == "H100-SXM-80GB"))


@pytest.mark.parametrize("text, field", [
    # a RunPod, an Azure and a Shadeform row (no bound but "above 0" until cost41), and a new instance
    ("cloud,name,price_ondemand_usd_hr,price_spot_usd_hr\nrunpod,8x_MI300X_SECURE,0.1,\n",
     "instances[0].price_ondemand_usd_hr: 0.1 $/node-h is 0.0125 $/GPU-h on runpod:8x_MI300X_SECURE's 8 MI300X-192GB"),
    ("cloud,name,price_ondemand_usd_hr,price_spot_usd_hr\nazure,Standard_ND96isr_H100_v5,0.01,\n",
     "instances[0].price_ondemand_usd_hr: 0.01 $/node-h"),
    ("cloud,name,price_ondemand_usd_hr,price_spot_usd_hr\nshadeform,denvr_Gaudi2x8,0.05,\n",
     "instances[0].price_ondemand_usd_hr: 0.05 $/node-h"),
    ("cloud,name,gpu,gpu_count,price_ondemand_usd_hr,source\nmine,h100x8,H100,8,0.01,refresh\n",
     "instances[0].price_ondemand_usd_hr: 0.01 $/node-h is 0.00125 $/GPU-h on mine:h100x8's 8 H100-SXM-80GB, below "
     "the floor of 0.399 $/GPU-h"),
    ("cloud,name,price_ondemand_usd_hr,price_spot_usd_hr\naws,p5.48xlarge,55.04,0.5\n",
     "instances[0].price_spot_usd_hr: 0.5 $/node-h"),
    # (a GPU no instance row prices; since gbprice42 GB200's floor is its shipped NVL72 rack rate's, CoreWeave's)
    ("cloud,name,gpu,gpu_count,price_ondemand_usd_hr,source\nmine,gb200x4,GB200,4,0.1,refresh\n",
     "cheapest shipped on-demand GB200-B200 rate (coreweave:nvidia:DGX-GB200-NVL72"),
    ("cloud,name,gpu,gpu_count,price_ondemand_usd_hr,source\nmine,h800x8,H800,8,0.1,refresh\n",
     "cheapest shipped on-demand any GPU rate"),
])
def test_a_user_rate_below_the_floor_is_refused(cli, tmp_path, text, field):
    cat = tmp_path / "prices.csv"
    cat.write_text(text)
    line = refused(cli("catalog", "instances", "--catalog", str(cat)))
    assert line.startswith("error: catalog override prices.csv: instances[0].price_"), line
    assert field in line, line


def test_a_committed_rate_below_the_floor_is_refused(cli, tmp_path):
    cat = tmp_path / "c.yaml"
    cat.write_text("commitments:\n  - {cloud: aws, instance: p5.48xlarge, term: 1yr, price_usd_hr: 0.8, source: q}\n")
    line = refused(cli("catalog", "commitments", "--catalog", str(cat)))
    assert line.startswith("error: catalog override c.yaml: commitments[0].price_usd_hr: 0.8 $/node-h is 0.1 $/GPU-h"), line


def test_a_cpu_row_and_a_cpu_commitment_are_held_per_vcpu_alike(cli, tmp_path):
    """code42: both of check_rate_floor's call sites (a user's instance row, a user's commitment) count a rate's units
    by one function (``rate_units``): a CPU-only node's vCPUs, in both messages the same."""
    row, commit = tmp_path / "r.csv", tmp_path / "c.yaml"
    row.write_text("cloud,name,price_ondemand_usd_hr,price_spot_usd_hr\naws,c7i.12xlarge,0.001,\n")
    commit.write_text("commitments:\n  - {cloud: aws, instance: c7i.12xlarge, term: 1yr, price_usd_hr: 0.001, source: q}\n")
    said = "0.001 $/node-h is 2.083e-05 $/vCPU-h on aws:c7i.12xlarge's 48 vCPUs, below the floor of"
    assert said in refused(cli("catalog", "instances", "--catalog", str(row)))
    assert said in refused(cli("catalog", "commitments", "--catalog", str(commit)))


def test_a_plausible_user_rate_still_loads(tmp_path):
    cat = tmp_path / "prices.csv"
    cat.write_text("cloud,name,gpu,gpu_count,price_ondemand_usd_hr,source\nmine,h100x8,H100,8,12,quote\n")
    assert load_catalog([cat]).instance("mine:h100x8").price_ondemand == 12


# ---- the report's "no catalog on-demand rate" words


def test_the_report_says_a_bare_gpu_has_no_catalog_on_demand_rate(cli, tmp_path):
    """A bare-GPU cluster at the job's own rate has no catalog rate to set beside it; the report says so (the words
    were in planner/present/report.py ``_catalog_rate_words`` and no test reached them)."""
    job = write_job(tmp_path, LLAMA.replace("960", "256") + "cluster: {gpu: H100, nodes: 2, price_usd_hr: 20}\n")
    out = tmp_path / "r.md"
    code, _, err = cli("report", job, "-o", str(out), "--no-simulate")
    assert code == 0, err
    text = " ".join(out.read_text().split())
    assert "At the job's rate (cluster.price_usd_hr):" in text
    assert "(20.00 $/node-h x 2 nodes x" in text and "; no catalog on-demand rate is known for a bare GPU." in text, text[:3000]
