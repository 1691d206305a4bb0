"""cost42: ``constraints.max_gpus`` caps the GPUs a plan rents (whole NVL72 racks), not only those it runs on; a cap on
the rate per GPU-hour (``constraints.max_price_per_gpu_hour``) held to the rate the plan is priced at, with what it
left out said where the ranking is."""
from __future__ import annotations

import pytest
from conftest import answered, refused, write_job

from planner.hardware.options import option_from_cluster
from planner.spec.schema import ClusterSpec

from test_cost41 import LLAMA, RACK  # (RACK: 720 $/rack-h, 10 $/GPU-h over the rack's 72 GPUs)

SMALL = """
model: {preset: llama3-8b}
training: {seq_len: 4096, global_batch: 512, tokens: 1.0e10}
"""


def segment16(tmp_path, constraints: str, nodes: str = ""):
    """The Llama job on GB200 in 16-tray segments (64 GPUs of each 72-GPU rack) at ``RACK`` a rack-hour."""
    return write_job(tmp_path, LLAMA + f"cluster: {{gpu: GB200-B200, segment: 16, {nodes}price_usd_hr: {RACK}}}\n"
                     f"constraints: {{{constraints}}}\n")


# ---- max_gpus counts the GPUs billed


@pytest.mark.parametrize("trays, nodes, billed", [(16, 1, 72), (8, 3, 144), (8, 2, 72), (18, 2, 144), (4, 5, 144), (4, 4, 72)])
def test_billed_gpus_are_the_whole_racks_opened(trays, nodes, billed):
    """A segment of 16 trays (64 GPUs) rents its whole 72-GPU rack; 3 segments of 8 trays open 2 racks, as do 5 of 4 (4 a rack)."""
    hw = option_from_cluster(ClusterSpec(gpu="GB200-B200", segment=trays, price_usd_hr=RACK))
    assert hw.billed_gpus(nodes) == billed


def test_billed_gpus_off_a_rack_are_the_nodes_gpus():
    hw = option_from_cluster(ClusterSpec(instance="aws:p5.48xlarge"))
    assert hw.billed_gpus(3) == 24


def test_recommend_refuses_a_64_gpu_segment_under_max_gpus_64(cli, tmp_path):
    """The plan runs on 64 GPUs and rents 72: under ``max_gpus: 64`` it is refused with the rack named. Until cost42 it
    was recommended ("1 segment of 16 trays = 64 GPUs; billed: 1 rack of 72 GPUs") under a cap of 64."""
    err = refused(cli("recommend", segment16(tmp_path, "max_gpus: 64"), "--no-simulate"))
    assert err.startswith("error: constraints.max_gpus: ") and "billed as its whole 72-GPU rack" in err, err


def test_recommend_allows_it_under_max_gpus_72(cli, tmp_path):
    rec = answered(cli("recommend", segment16(tmp_path, "max_gpus: 72"), "--json", "--no-simulate"))
    best = rec["best"]["hardware"]
    assert (best["gpus"], best["racks_billed"], best["rack_gpus"]) == (64, 1, 72)
    note = next(n for n in rec["notes"] if n.startswith("NVLink domain: 64 GPUs"))
    assert "constraints.max_gpus counts the GPUs billed, min_gpus the GPUs the plan runs on" in note, note


def test_a_fixed_segment_over_the_cap_is_refused(cli, tmp_path):
    """``estimate`` of one 16-tray segment under ``max_gpus: 64``: one line saying what is billed."""
    err = refused(cli("estimate", segment16(tmp_path, "max_gpus: 64", "nodes: 1, ")))
    assert err == ("error: cluster.nodes: 1 node x 64 GPUs = 64 GPUs, billed as 72 GPUs (whole racks), exceeds "
                   "constraints.max_gpus (64), which counts the GPUs billed"), err
    est = answered(cli("estimate", segment16(tmp_path, "max_gpus: 72", "nodes: 1, "), "--json"))
    assert est["hardware"]["gpus"] == 64


def test_min_gpus_still_counts_the_gpus_run_on(cli, tmp_path):
    """``min_gpus: 72`` asks for 72 GPUs of work: a 64-GPU segment (72 billed) does not meet it."""
    err = refused(cli("estimate", segment16(tmp_path, "min_gpus: 72", "nodes: 1, ")))
    assert err.startswith("error: cluster.nodes: ") and "below constraints.min_gpus (72)" in err, err


# ---- max_price_per_gpu_hour


@pytest.mark.parametrize("value, message", [
    ("0", "must be more than 0"), ("-3", "must be more than 0"), (".inf", "must be a finite number"),
    (".nan", "must be a finite number"), ("cheap", "must be a number")])
def test_a_bad_price_cap_is_one_line(cli, tmp_path, value, message):
    job = write_job(tmp_path, SMALL + f"constraints: {{max_price_per_gpu_hour: {value}, gpus: [H100]}}\n")
    err = refused(cli("recommend", job, "--no-simulate"))
    assert err.startswith(f"error: constraints.max_price_per_gpu_hour: {message}"), err


def test_recommend_ranks_only_instances_at_or_under_the_cap_and_names_the_rest(cli, tmp_path):
    """Under 5 $/GPU-h on demand over H100 / H200 / B200: every ranked row rents at 5 or less a GPU-hour, the
    instances left out are named with their rates where the ranking is, and a GPU with no instance under the cap
    says so (it read "no bf16 peak")."""
    job = write_job(tmp_path, SMALL + "constraints: {max_price_per_gpu_hour: 5, gpus: [H100, H200, B200], "
                                      "max_gpus: 64}\n")
    rec = answered(cli("recommend", job, "--json", "--no-simulate"))
    for row in rec["ranked"]:
        hw = row["hardware"]
        assert hw["price_ondemand_usd_hr"] / hw["gpus_per_node"] <= 5, hw["name"]
    line = next(c for c in rec["caveats"] if c.startswith("constraints.max_price_per_gpu_hour: "))
    assert "aws:p5.48xlarge (6.88)" in line and "not ranked" in line, line
    b200 = next(r for r in rec["no_plan"] if r["gpu"] == "B200-SXM-180GB")
    assert "every instance of it rents above 5 $/GPU-h at its on-demand rate" in b200["reason"], b200


def test_a_cap_below_every_instance_is_refused_with_the_cheapest(cli, tmp_path):
    job = write_job(tmp_path, SMALL + "constraints: {max_price_per_gpu_hour: 0.5, gpus: [H100]}\n")
    err = refused(cli("recommend", job, "--no-simulate"))
    assert err.startswith("error: constraints.max_price_per_gpu_hour: every GPU instance the other constraints "
                          "allow") and "the cheapest is lambda:gpu_8x_h100_sxm5 at 3.99 $/GPU-h" in err, err


def test_a_spot_job_is_held_at_its_spot_rate(cli, tmp_path):
    """Spot: the cap holds the spot rate (p5.48xlarge 16.9508 / 8 = 2.119 $/GPU-h), not the on-demand 6.88."""
    job = write_job(tmp_path, SMALL + "constraints: {max_price_per_gpu_hour: 3, instances: [aws:p5.48xlarge], "
                                      "spot: true}\n")
    rec = answered(cli("recommend", job, "--json", "--no-simulate"))
    assert rec["best"]["hardware"]["name"] == "aws:p5.48xlarge"
    job = write_job(tmp_path, SMALL + "constraints: {max_price_per_gpu_hour: 2, instances: [aws:p5.48xlarge], "
                                      "spot: true}\n")
    err = refused(cli("recommend", job, "--no-simulate"))
    assert "above 2 $/GPU-h at its spot rate; the cheapest is aws:p5.48xlarge at 2.119 $/GPU-h" in err, err


def test_a_fixed_instance_over_the_cap_is_refused(cli, tmp_path):
    job = write_job(tmp_path, SMALL + "cluster: {instance: aws:p5.48xlarge, nodes: 1}\nparallel: {tp: 1, pp: 1}\n"
                                      "constraints: {max_price_per_gpu_hour: 5}\n")
    err = refused(cli("estimate", job))
    assert err == ("error: constraints.max_price_per_gpu_hour: aws:p5.48xlarge rents at 6.88 $/GPU-h (its on-demand "
                   "rate per GPU billed), above 5 $/GPU-h"), err


@pytest.mark.parametrize("cap, held", [(9.99, False), (10, True)])
def test_a_rack_segment_is_capped_at_the_racks_rate_per_gpu(cli, tmp_path, cap, held):
    """A 64-GPU segment at 720 $/rack-h pays 10 $ per GPU rented (720 / 72), though 11.25 per GPU it runs on."""
    result = cli("recommend", segment16(tmp_path, f"max_price_per_gpu_hour: {cap}"), "--json", "--no-simulate")
    if held:
        assert answered(result)["best"]["hardware"]["gpus"] == 64
    else:
        assert "GB200-B200 --segment=16 rents at 10 $/GPU-h" in refused(result)


def test_an_unpriced_bare_gpu_cannot_be_held_to_the_cap(cli, tmp_path):
    job = write_job(tmp_path, SMALL + "cluster: {gpu: H100}\nconstraints: {max_price_per_gpu_hour: 5}\n")
    err = refused(cli("recommend", job, "--no-simulate"))
    assert err.startswith("error: constraints.max_price_per_gpu_hour: H100-SXM-80GB has no on-demand rate"), err
