"""QA pass 27: the CLI used as a demanding, hostile user would — ordinary and odd jobs through ``estimate``,
``recommend``, ``serve``, ``simulate``, ``report`` and ``catalog`` — each defect with the check that failed before
its fix."""
from __future__ import annotations

import pytest

from conftest import answered, flat, refused, write_job

RESNET = {"model": {"preset": "resnet50"}, "training": {"global_batch": 256, "epochs": 1, "dataset_samples": 1281167}}


# ---- 1. a generic model with a fixed tp / pp / cp / ep / vpp ------------------------------------------------------
# ``estimate`` of ResNet-50 with ``parallel.tp: 4`` was an internal error (TypeError: the heads rule read
# model.heads = None), ``cp: 2`` was planned as "TP1 PP1 DP4 CP2", ``pp: 2`` said "pp=2 exceeds model.layers=None",
# and ``recommend`` dropped every one of them without a word (it planned TP1 where the job fixed TP4).
@pytest.mark.parametrize("cmd", ["estimate", "recommend"])
@pytest.mark.parametrize("key", ["tp", "pp", "cp", "ep", "vpp"])
def test_generic_model_refuses_model_splits_by_name(tmp_path, cli, cmd, key):
    where = ({"cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}} if cmd == "estimate"
             else {"constraints": {"gpus": ["H100"], "max_gpus": 8}})
    job = write_job(tmp_path, {**RESNET, "parallel": {key: 2}, **where})
    line = refused(cli(cmd, job, "--no-simulate") if cmd == "recommend" else cli(cmd, job))
    assert line.startswith(f"error: parallel.{key}: ") and "data parallelism only" in line


def test_generic_model_keeps_its_data_parallel_fields(tmp_path, cli):
    """``tp: 1`` and a DP degree are what a generic model runs: still planned."""
    job = write_job(tmp_path, {**RESNET, "parallel": {"tp": 1, "dp": 8},
                               "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}})
    assert answered(cli("estimate", job, "--json"))["config"]["dp"] == 8


# ---- 2. a generic model's global batch below 8 samples per GPU had no plan ----------------------------------------
# The search tried micro-batches of 8-256 samples for CNNs / ViTs, so ResNet-50 at a global batch of 256 on 64 H100
# found nothing and blamed a single-GPU instance ("lambda:gpu_1x_h100_sxm5 is single-node only (1 GPU), below
# min_gpus=64") while ``estimate`` planned 8 x p5.48xlarge at micro-batch 4 for $2.35.
def test_generic_small_share_of_the_global_batch_is_searched(tmp_path, cli):
    job = write_job(tmp_path, {**RESNET, "constraints": {"gpus": ["H100"], "min_gpus": 64, "max_gpus": 64}})
    best = answered(cli("recommend", job, "--json", "--no-simulate"))["ranked"][0]
    assert best["hardware"]["gpus"] == 64
    assert best["config"]["micro_batch"] * best["config"]["dp"] == 256  # one micro-batch of the replica's share
    # the same layout through estimate: the same step
    fixed = write_job(tmp_path, {**RESNET, "training": {**RESNET["training"], "micro_batch": 4},
                                 "parallel": {"zero": best["config"]["zero"]},
                                 "cluster": {"instance": best["hardware"]["name"], "nodes": best["hardware"]["nodes"]}},
                      "fixed.yaml")
    assert answered(cli("estimate", fixed, "--json"))["step_time_s"] == pytest.approx(best["step_time_s"], rel=1e-9)


def test_generic_small_micro_batches_never_accumulate(tmp_path, cli):
    """Below 8 samples a micro-batch is the replica's whole share: a 1,024-sample job on one GPU still runs
    micro-batches of 8 or more, not 1,024 accumulations of one image (the model times them alike)."""
    job = write_job(tmp_path, {**RESNET, "training": {**RESNET["training"], "global_batch": 1024},
                               "constraints": {"gpus": ["H100"], "max_gpus": 64}})
    for p in answered(cli("recommend", job, "--json", "--no-simulate", "--top", "20"))["ranked"]:
        c = p["config"]
        assert c["micro_batch"] >= 8 or c["micro_batch"] * c["dp"] == 1024, c


# ---- 3. options given empty (an unset shell variable) were taken as not given ---------------------------------------
# ``serve --precisions ""`` planned the job's precision and ``recommend --emit ""`` printed the ranked table, each
# without a word (``--precisions ,`` was refused); ``--emit bogus`` was refused only after the whole search; and
# ``--catalog ""`` lost the "catalog override" prefix: "error: file: is a directory, not a file".
def test_empty_precisions_is_refused(cli):
    from conftest import ROOT

    assert refused(cli("serve", ROOT / "examples" / "serving-llama3-8b-chat.yaml", "--precisions", "", "--no-simulate")).startswith("error: --precisions: empty")


@pytest.mark.parametrize("fmt, words", [("", "must be one of torchrun"), ("slurm:bogus", "launcher style")])
def test_emit_format_is_checked_before_the_search(tmp_path, cli, monkeypatch, fmt, words):
    import planner.workloads as workloads

    def no_search(*a, **k):
        raise AssertionError("searched before checking --emit")

    monkeypatch.setattr(workloads, "plan", no_search)
    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "training": {"tokens": 1e9},
                               "constraints": {"gpus": ["H100"], "max_gpus": 8}})
    line = refused(cli("recommend", job, "--emit", fmt))
    assert line.startswith("error: --emit: ") and words in line


def test_empty_catalog_path_keeps_its_prefix(cli):
    from conftest import ROOT

    assert refused(cli("estimate", ROOT / "examples" / "llama3-8b-estimate.yaml", "--catalog", "")).startswith("error: --catalog: an empty path")


# ---- 4. serve --trace with --no-simulate dropped the trace unsaid ----------------------------------------------------
# Simulated, a trace sizes the replicas for its own rate ("trace: t.csv replays 0.400 QPS ..."); with --no-simulate the
# plan was sized for serving.qps at the job's lengths and nothing said the trace had not been read.
def test_unreplayed_trace_is_said(tmp_path, cli):
    trace = tmp_path / "t.csv"
    trace.write_text("arrival_s,prompt_tokens,output_tokens\n1,100,10\n5,100,10\n")
    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"},
                               "serving": {"qps": 5, "p99_latency_ms": 50}, "constraints": {"gpus": ["H100"]}})
    plan = answered(cli("serve", job, "--trace", trace, "--no-simulate", "--json"))
    notes = [a for a in plan["assumptions"] if "not replayed" in a]
    assert len(notes) == 1 and "'t.csv'" in notes[0] and "serving.qps" in notes[0]
    assert not any("replayed" in a for a in answered(cli("serve", job, "--no-simulate", "--json"))["assumptions"])


# ---- 5. the recommendation's "why" changed with --top -------------------------------------------------------------
# ``recommend --top 1`` said "best of 20,299 feasible layouts on the only feasible hardware and node count" where
# ``--top 5`` listed p6-b200, p5 and p6-b300 plans; the next best and the trade-off named were those of the rows shown.
def test_why_weighs_the_same_alternatives_whatever_top_shows(tmp_path, cli):
    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "training": {"tokens": 1e10},
                               "constraints": {"clouds": ["aws"], "gpus": ["H100", "B200"], "max_gpus": 16}})
    whys = []
    for top in (1, 2, 10):
        d = answered(cli("recommend", job, "--json", "--top", top))
        assert len(d["ranked"]) == min(top, len(d["ranked"])) and len(d["ranked"]) <= top
        whys.append(d["why"])
    assert len(set(whys)) == 1, whys
    assert "only feasible" not in whys[0] and "next best" in whys[0]


def test_why_of_a_single_option_still_says_so():
    """``why`` with one (hardware, node count) in the table keeps "the only feasible hardware"; with others in the
    table but none weighed (the simulator's re-rank of a --top 1 list) it claims nothing."""
    import pandas as pd

    from planner.search.rank import why

    best = {"hardware": {"name": "a:x", "nodes": 1}, "mfu": 0.5, "cost": {"hours": 2.0, "cost_ondemand_usd": 10.0}}
    one = pd.DataFrame({"hardware": ["a:x", "a:x"], "nodes": [1, 1]})
    two = pd.DataFrame({"hardware": ["a:x", "a:y"], "nodes": [1, 1]})
    assert "the only feasible hardware" in why(best, [best], one, "cost", False)
    assert "only feasible" not in why(best, [best], two, "cost", False)


# ---- 6. constraints.regions was case-sensitive where clouds and instances are not --------------------------------
# ``clouds: [AWS]`` and ``instances: [AWS:P5.48XLARGE]`` planned; ``regions: [US-EAST-1]`` said "no GPU instance in
# regions 'US-EAST-1'", and a miss did not say which regions there are.
def test_regions_are_case_folded_and_a_miss_names_the_regions(catalog):
    from planner.hardware.options import select_instances
    from planner.spec import load_job_dict

    def pick(regions):
        job = load_job_dict({"model": {"preset": "llama3-8b"},
                             "constraints": {"gpus": ["H100"], "clouds": ["aws"], "regions": regions}})
        return select_instances(catalog, job.constraints, ["H100"])

    upper, lower = pick(["US-EAST-1"]), pick(["us-east-1"])
    assert upper and [i.key for i in upper] == [i.key for i in lower]
    from planner.errors import InputError
    with pytest.raises(InputError) as e:
        pick(["mars-1"])
    assert e.value.field == "constraints.regions" and "us-east-1" in e.value.message


# ---- 7. compare on a serving job named another command --------------------------------------------------------------
def test_compare_refuses_a_serving_job_in_its_own_name(cli):
    """``planner compare`` on a serving-only job said "`planner recommend` plans training"."""
    from conftest import ROOT

    line = refused(cli("compare", ROOT / "examples" / "serving-llama3-8b-chat.yaml"))
    assert "`planner compare` plans training" in line and "recommend" not in line


# ---- 8. recommend --emit with --json / --by / --scaling dropped them --------------------------------------------------
@pytest.mark.parametrize("extra", [("--json",), ("--by", "gpu"), ("--scaling",)])
def test_emit_with_another_output_is_refused_before_the_search(tmp_path, cli, monkeypatch, extra):
    """``recommend --json --emit torchrun`` printed the shell script and no JSON (a pipe into ``jq`` broke);
    ``--by gpu --emit slurm`` no comparison. Both outputs replace the table: the pair is refused in one line."""
    import planner.workloads as workloads

    monkeypatch.setattr(workloads, "plan", lambda *a, **k: (_ for _ in ()).throw(AssertionError("searched")))
    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "training": {"tokens": 1e9},
                               "constraints": {"gpus": ["H100"], "max_gpus": 8}})
    line = refused(cli("recommend", job, "--emit", "torchrun", *extra))
    assert line.startswith("error: --emit: ") and extra[0] in line


# ---- 9. the "why" named a bare-GPU cluster's nodes as GPUs -------------------------------------------------------
def test_why_spells_out_a_bare_gpu_clusters_nodes():
    """``cluster: {gpu: GB200}``: "next best 1 x GB200-B200 takes 14.3 h" over a table of nvidia:DGX-GB200-NVL72 racks
    read as one GPU; the line now names the node as the table and the "recommended:" head do."""
    import pandas as pd

    from planner.search.rank import why

    def plan(nodes, hours):
        return {"hardware": {"name": "GB200-B200", "gpu": "GB200-B200", "nodes": nodes, "gpus": 72 * nodes,
                             "gpus_per_node": 72, "gpus_per_host": 4, "reference_system": "nvidia:DGX-GB200-NVL72"},
                "mfu": 0.5, "cost": {"hours": hours}}

    df = pd.DataFrame({"hardware": ["GB200-B200"] * 2, "nodes": [2, 1]})
    line = why(plan(2, 7.2), [plan(2, 7.2), plan(1, 14.3)], df, "time", False)
    assert "next best 1 x nvidia:DGX-GB200-NVL72 (72 x GB200-B200) takes" in line
    assert "1 x GB200-B200" not in line


@pytest.mark.parametrize("cmd", ["estimate", "recommend"])
def test_fixed_instance_outside_the_regions_is_refused(tmp_path, cli, cmd):
    """A fixed ``cluster.instance`` is held to ``constraints.clouds`` and ``instances`` (README, "Job specification");
    one outside ``constraints.regions`` was planned there without a word."""
    cluster = {"instance": "aws:p5.48xlarge", **({"nodes": 1} if cmd == "estimate" else {})}
    base = {"model": {"preset": "llama3-8b"}, "training": {"tokens": 1e10}, "cluster": cluster}
    job = write_job(tmp_path, {**base, "constraints": {"regions": ["eu-west-1"]}})
    assert refused(cli(cmd, job, *(("--no-simulate",) if cmd == "recommend" else ()))).startswith("error: constraints.regions: cluster.instance aws:p5.48xlarge is in us-east-1")
    if cmd == "estimate":
        ok = write_job(tmp_path, {**base, "constraints": {"regions": ["US-EAST-1"]}}, "ok.yaml")
        code, out, err = cli(cmd, ok)
        assert code == 0, err
