"""Hostile input on session 48's new inputs (fuzz49), end to end through the CLI: ``serving.replicas``,
``serving.expert_parallel`` and ``serving.all2all_backend`` (wrong types, NaN / inf, 0, -1, 2^63, text, unknown names;
beside ``qps``, ``mode: batch``, ``parallel.ep`` / ``tp``, a dense, generic or one-expert model, 1-GPU nodes, GPUs
without DeepEP) under ``planner serve`` as JSON, CSV (``--csv``, read back) and tables; ``cluster.fabric`` (a link name,
its figures, nonsense, beside ``inter_node_gbps``), ``cluster.nvlink_topology`` (on parts with and without NVLink, nodes
past the mesh) and ``training.framework.param_offload`` (every stack, every ZeRO stage) under ``estimate`` and
``recommend``; and an instances override CSV (the ``price_check`` and ``nvlink_topology`` columns, hostile cells, a
missing or extra column, duplicate rows, BOM, CRLF, CR) through ``--catalog`` and ``$PLANNER_CATALOG`` under
``catalog instances`` and ``estimate``.

The outcome rules are tests/test_fuzz_cli.py's (``check_outcome``: exit 0 with strict JSON, or one line ``error:
<field>: <message>``, exit 2; no traceback, nothing left behind), and the user's override file is byte for byte as it
was.

Found by it (fixed at the root, pinned below; docs/qa_log.md "QA fuzz49"): ``serving.expert_parallel: true`` where no
node holds an expert-parallel replica -- nodes of one GPU (``cluster.instance: aws:g6.xlarge``) or an MoE model of one
expert -- planned no option at all and ended in ``internal error (ValueError): min() arg is an
empty sequence``, exit 1 (real-time, fixed fleet and offline alike); ``cluster.nvlink_topology: hybrid-cube-mesh`` on a
part without NVLink (L4, A10G, PCIe A100 / H100, MI300X, TPU, Gaudi) was taken, its DGX-1 link shares read off the
PCIe or fabric rate (a TP-2 pair at a sixth of it), and so was a catalog row's; a searched catalog (``recommend`` /
``serve`` without ``cluster.instance``) dropped the job's ``cluster.nvlink_topology`` without a word, each instance on
its row's wiring; a fixed fleet past one deployment (``replicas: 16777216``) was refused as ``serving.qps``, a field
the job leaves out; and an override row's mesh past its GPUs was blamed on ``cluster.nvlink_topology``."""
from __future__ import annotations

import csv
import io
import json
import os

import pytest

pytest.importorskip("hypothesis")
from hypothesis import example, given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from conftest import invoke_main  # noqa: E402
from test_fuzz_cli import (TINY_DENSE, TINY_MOE, check_outcome, fuzz_settings, job_file, refused_on,  # noqa: E402
                           run_cli, stray)

from planner.present.serving import options_csv_columns  # noqa: E402

ONE_EXPERT = dict(TINY_MOE, name="one-expert", moe={"experts": 1, "top_k": 1})
GENERIC = {"name": "g", "family": "generic", "params": 1e8, "fwd_flops_per_sample": 1e9}
SERVE = {"p99_latency_ms": 100.0, "prompt_tokens": 128, "output_tokens": 32}



# ------------------------------------------------------------------------ pinned: expert parallel no node holds
@pytest.mark.parametrize("model, hardware, said", [
    (ONE_EXPERT, {"constraints": {"clouds": ["aws"], "gpus": ["H100"]}}, "one-expert has 1 expert"),
    (TINY_MOE, {"cluster": {"instance": "aws:g6.xlarge"}}, "every option's node has 1 GPU"),  # single-node only
])
@pytest.mark.parametrize("load", [{"qps": 1.0}, {"replicas": 2}, {"mode": "batch", "requests": 1e5}])
def test_expert_parallel_no_node_holds_is_refused_by_name(tmp_path, model, hardware, said, load):
    """Every such job ended in ``internal error (ValueError): min() arg is an empty sequence``, exit 1, until fuzz49."""
    job = {"model": model, "serving": {**SERVE, "expert_parallel": True, **load}, **hardware}
    p = tmp_path / "job.json"
    p.write_text(json.dumps(job))
    refused_on(*run_cli("serve", p, "--no-simulate", "--json"), "serving.expert_parallel", "no option holds", said,
             "leave it out")


def test_expert_parallel_left_open_on_one_gpu_nodes_still_plans_tp1(tmp_path):
    """The refusal is for ``true`` only: left open, a 1-GPU node plans the MoE model at TP1, as before."""
    p = tmp_path / "job.json"
    p.write_text(json.dumps({"model": TINY_MOE, "cluster": {"instance": "aws:g6.xlarge"}, "serving": {**SERVE, "qps": 1}}))
    code, out, err = run_cli("serve", p, "--no-simulate", "--json")
    assert code == 0, err
    assert {o["tp"] for o in json.loads(out)["options"]} == {1}


def test_a_fleet_past_one_deployment_names_its_replicas(tmp_path):
    """``replicas: 16777216`` (the field's ceiling) read "serving.qps: ... needs 16,777,216 GPUs ... for <the QPS the
    fleet carries> QPS": a QPS the job never gave, on a field it left out, until fuzz49."""
    p = tmp_path / "job.json"
    p.write_text(json.dumps({"model": TINY_DENSE, "cluster": {"instance": "aws:g6.xlarge"},
                             "serving": {**SERVE, "replicas": 1 << 24}}))
    line = refused_on(*run_cli("serve", p, "--no-simulate", "--json"), "serving.replicas", "as serving.replicas asks",
                    "one plan deploys")
    assert "QPS," not in line.split(";")[0]


# ------------------------------------------------------------------------ pinned: an NVLink mesh without NVLink
@pytest.mark.parametrize("gpu, link", [("L4", "PCIe"), ("A100-PCIe-80GB", "PCIe"), ("MI300X", "InfinityFabric"),
                                       ("H100-NVL-94GB", "NVLink-bridge")])
def test_a_mesh_on_a_part_without_nvlink_isrefused_on(tmp_path, gpu, link):
    """Taken until fuzz49: an 8-L4 node's TP-2 pairs at a sixth of its PCIe rate (the DGX-1 V100 link shares)."""
    job = {"model": TINY_DENSE, "training": {"seq_len": 1024, "global_batch": 64, "tokens": 1e9},
           "cluster": {"gpu": gpu, "gpus_per_node": 8, "nodes": 1, "nvlink_topology": "hybrid-cube-mesh"},
           "parallel": {"tp": 2, "pp": 1, "dp": 4}}
    p = tmp_path / "job.json"
    p.write_text(json.dumps(job))
    refused_on(*run_cli("estimate", p, "--json"), "cluster.nvlink_topology", f"joined by {link}", "does not have")


def test_a_catalog_row_mesh_without_nvlink_isrefused_on(tmp_path):
    over = tmp_path / "over.csv"
    over.write_text(_row_csv([{**_shipped_row("aws:g6.xlarge"), "nvlink_topology": "hybrid-cube-mesh"}]))
    refused_on(*run_cli("catalog", "instances", "--catalog", over, "--csv"),
             "catalog override over.csv", "instances[0].nvlink_topology", "joined by PCIe")


def test_a_catalog_row_mesh_past_its_gpus_names_the_row(tmp_path):
    """A 16-GPU override row on the 8-GPU mesh read "cluster.nvlink_topology: ... (set cluster.gpus_per_node ...)", a
    field the job never gave and one an instance cannot change, until fuzz49."""
    over = tmp_path / "over.csv"
    over.write_text("cloud,name,gpu,gpu_count,price_ondemand_usd_hr,source,nvlink_topology\n"
                    "x,a16,V100-SXM2-32GB,16,40,me,hybrid-cube-mesh\n")
    p = tmp_path / "job.json"
    p.write_text(json.dumps({"model": TINY_DENSE, "cluster": {"instance": "x:a16", "nodes": 1},
                             "training": {"seq_len": 1024, "global_batch": 64, "tokens": 1e9}}))
    refused_on(*run_cli("estimate", p, "--json", "--catalog", over), "cluster.instance", "x:a16's catalog row",
             "joins 8 GPUs", "its nvlink_topology")


@pytest.mark.parametrize("topology, mesh", [("switch", False), (None, True)])
def test_a_search_takes_the_jobs_topology(tmp_path, topology, mesh):
    """p3.16xlarge's row is the DGX-1 mesh; a job's ``nvlink_topology: switch`` replaces it in a search as on a fixed
    cluster (the search searched it on its row's mesh, the job's word dropped, until fuzz49)."""
    job = {"model": TINY_DENSE, "training": {"seq_len": 1024, "global_batch": 64, "tokens": 1e9, "precision": "fp16"},
           "cluster": {"gpu": "V100", **({"nvlink_topology": topology} if topology else {})},
           "constraints": {"instances": ["aws:p3.16xlarge"], "min_gpus": 8, "max_gpus": 8}}
    p = tmp_path / "job.json"
    p.write_text(json.dumps(job))
    code, out, err = run_cli("recommend", p, "--no-simulate", "--top", "1", "--json")
    assert code == 0, err
    assert any("hybrid-cube-mesh" in n for n in json.loads(out)["notes"]) == mesh


# ------------------------------------------------------------------------ fuzzed: serving's new fields
WRONG = [None, 0, -1, 1.5, 2**63, 1e308, float("nan"), float("inf"), "", "2", "yes", "é\u202e", "\x1b[31m", True,
         [], {}, [1], "DEEPEP_LOW_LATENCY", "allgather_reducescatter"]
REPLICAS = st.sampled_from([1, 2, 7, 1 << 20, 1 << 24, (1 << 24) + 1] + WRONG)
EP = st.sampled_from([True, True, False] + WRONG)
A2A = st.sampled_from(["deepep_low_latency", "allgather_reducescatter", "deepep_high_throughput"] + WRONG)
SERVE_HW = st.sampled_from([
    {"constraints": {"clouds": ["aws"], "gpus": ["L4"]}}, {"constraints": {"clouds": ["aws"], "gpus": ["H100"]}},
    {"cluster": {"instance": "aws:g6.xlarge"}}, {"cluster": {"instance": "aws:p5.48xlarge"}},
    {"cluster": {"gpu": "H100", "gpus_per_node": 1}}, {"cluster": {"gpu": "A100", "gpus_per_node": 2}},
    {"cluster": {"gpu": "MI300X", "gpus_per_node": 8}}])
OUTPUT = {"json": ("--json",), "csv": ("--csv",), "table": ()}


@st.composite
def serve_jobs(draw):
    """A serving job (mostly sized, as no simulation runs) with one to three of the new fields drawn, often hostile,
    and the contradictions among them: a fleet beside a QPS or an offline job, expert parallelism on a dense, generic
    or one-expert model, a backend with expert parallelism off, ``parallel.ep`` / ``tp`` beside them."""
    s = dict(SERVE)
    load = draw(st.sampled_from(["qps", "qps", "replicas", "batch", "none"]))
    if load == "qps":
        s["qps"] = draw(st.sampled_from([1.0, 50.0]))
    elif load == "replicas":
        s["replicas"] = draw(REPLICAS)
    elif load == "batch":
        s.update(mode="batch", requests=1e5)
    for k in draw(st.lists(st.sampled_from(["replicas", "expert_parallel", "all2all_backend", "qps"]), max_size=3,
                           unique=True)):
        s[k] = draw({"replicas": REPLICAS, "expert_parallel": EP, "all2all_backend": A2A,
                     "qps": st.sampled_from([1.0, 0, float("nan"), "1"])}[k])
    job = {"model": draw(st.sampled_from([TINY_MOE, TINY_MOE, TINY_DENSE, ONE_EXPERT, GENERIC, {"preset": "gpt2"}])),
           "serving": s, **draw(SERVE_HW)}
    if draw(st.integers(0, 3)) == 0:
        job["parallel"] = draw(st.sampled_from([{"ep": 2}, {"ep": 8}, {"tp": 2}, {"tp": 1}, {"ep": 4, "tp": 4},
                                                {"ep": 0}, {"ep": "x"}]))
    return job


def serve_holds(job_path, fmt, job):
    """``planner serve`` ends by the contract; a refusal of ``serving.qps`` is of a job that gives one; a CSV answer
    reads back with the JSON options' columns, one row an option (``options_csv_columns``), and nothing is left beside
    the job."""
    code, out, err = run_cli("serve", job_path, "--no-simulate", "--top", "3", *OUTPUT[fmt])
    line = check_outcome(code, out, err, json_out=fmt == "json")
    if line is not None and line.startswith("error: serving.qps: "):
        assert "qps" in job["serving"], line
    if code == 0 and fmt == "csv":
        rows = list(csv.reader(io.StringIO(out)))
        assert rows[0] == options_csv_columns() and 1 <= len(rows) - 1 <= 3, rows[:2]
        assert all(len(r) == len(rows[0]) for r in rows)
    if code == 0 and fmt == "json":
        assert json.loads(out)["options"]
    assert stray(job_path.parent, {job_path.name}) == []


@fuzz_settings(30)
@given(job=serve_jobs(), fmt=st.sampled_from(sorted(OUTPUT)))
@example(job={"model": ONE_EXPERT, "constraints": {"clouds": ["aws"], "gpus": ["H100"]},
              "serving": {**SERVE, "expert_parallel": True, "qps": 1.0}}, fmt="json")
@example(job={"model": TINY_MOE, "cluster": {"instance": "aws:g6.xlarge"},
              "serving": {**SERVE, "expert_parallel": True, "replicas": 2}}, fmt="csv")
@example(job={"model": ONE_EXPERT, "cluster": {"instance": "aws:p5.48xlarge"},
              "serving": {**SERVE, "expert_parallel": True, "mode": "batch", "requests": 1e5}}, fmt="table")
@example(job={"model": TINY_DENSE, "cluster": {"instance": "aws:g6.xlarge"},
              "serving": {**SERVE, "replicas": 1 << 24}}, fmt="json")  # named serving.qps until fuzz49
def test_fuzz_serving_new_fields(tmp_path_factory, job, fmt):
    serve_holds(job_file(tmp_path_factory, "serve49", job), fmt, job)


# ------------------------------------------------------------------------ fuzzed: the network and the stack
FABRIC = st.one_of(
    st.sampled_from(["IB-NDR", "RoCE-1600", {"gbps_per_gpu": 400, "family": "roce"},
                     {"gbps_per_node": 3200, "family": "infiniband", "latency_us": 5}]),
    st.sampled_from(["IB-NDR", "ib-ndr", "RoCE-1600", "EFA-v2-p5", "NVLink4", "PCIe5", "", " ", "x" * 101, 5, None, [],
                     {}, "\x1b[31m", "é"]),
    st.fixed_dictionaries({}, optional={
        "link": st.sampled_from(["IB-NDR", "nope", "", None, 1]),
        "gbps_per_gpu": st.sampled_from([400, 0, -1, 1e-300, 1e5, 1e6, float("nan"), float("inf"), "400", True]),
        "gbps_per_node": st.sampled_from([3200, 0.001, 1e6, 2e6, float("nan")]),
        "family": st.sampled_from(["infiniband", "roce", "efa", "ethernet", "nvlink", "", None, 3]),
        "latency_us": st.sampled_from([5, 0, -1, 1e-9, 1e4, 1e5, float("inf")]),
        "bogus": st.just(1)}))
NET_GPUS = ["H100", "V100", "L4", "A100-PCIe-80GB", "MI300X", "H100-NVL-94GB", "GB200", "TPU-v5p", "Gaudi2"]
STACKS = ["deepspeed", "deepspeed", "megatron-deepspeed", "megatron-core", "torchtitan", "hf-trainer", "auto"]


@st.composite
def network_jobs(draw):
    """A training job on a bare GPU (fixed or searched) with a drawn ``cluster.fabric``, ``nvlink_topology``,
    ``inter_node_gbps`` beside them, ``gpus_per_node`` past the mesh, and ``param_offload`` on each stack and ZeRO
    stage."""
    gpu = draw(st.sampled_from(NET_GPUS))
    cluster = {"gpu": gpu, "gpus_per_node": draw(st.sampled_from([8, 8, 4, 1, 16])), "nodes": draw(st.sampled_from([1, 2]))}
    for k in draw(st.lists(st.sampled_from(["fabric", "nvlink_topology", "inter_node_gbps"]), min_size=1, max_size=3,
                           unique=True)):
        cluster[k] = draw({"fabric": FABRIC, "inter_node_gbps": st.sampled_from([400, 400, 0, float("nan")]),
                           "nvlink_topology": st.sampled_from(["hybrid-cube-mesh", "hybrid-cube-mesh", "switch", "mesh",
                                                               "", None, 1])}[k])
    t = {"seq_len": 1024, "global_batch": 64, "tokens": 1e9,
         "precision": "fp16" if gpu == "V100" else "bf16"}
    if draw(st.booleans()):
        t["framework"] = {"name": draw(st.sampled_from(STACKS)),
                          "param_offload": draw(st.sampled_from([True, True, False, None, "yes", 1]))}
        if draw(st.booleans()):
            t["framework"]["optimizer_offload"] = draw(st.booleans())
    job = {"model": TINY_DENSE, "training": t, "cluster": cluster}
    if draw(st.booleans()):
        job["parallel"] = {"zero": draw(st.sampled_from([0, 1, 2, 3, 3]))}
    if draw(st.integers(0, 3)) == 0:  # a searched cluster: recommend over the catalog's instances of the GPU
        job["cluster"] = {k: v for k, v in cluster.items() if k not in ("gpus_per_node", "nodes")}
        job["constraints"] = {"max_gpus": 16}
    return job


@fuzz_settings(40)
@given(job=network_jobs())
@example(job={"model": TINY_DENSE, "training": {"seq_len": 1024, "global_batch": 64, "tokens": 1e9},
              "cluster": {"gpu": "L4", "gpus_per_node": 8, "nodes": 1, "nvlink_topology": "hybrid-cube-mesh"}})
@example(job={"model": TINY_DENSE, "training": {"seq_len": 1024, "global_batch": 64, "tokens": 1e9},
              "cluster": {"gpu": "L4", "nvlink_topology": "hybrid-cube-mesh"}, "constraints": {"max_gpus": 16}})
def test_fuzz_network_and_stack_fields(tmp_path_factory, job):
    p = job_file(tmp_path_factory, "net49", job)  # YAML: NaN and inf as .nan, .inf
    args = (("recommend", p, "--no-simulate", "--top", "2", "--json") if "constraints" in job else
            ("estimate", p, "--json"))
    code, out, err = run_cli(*args)
    line = check_outcome(code, out, err)
    topology = job["cluster"].get("nvlink_topology")
    if code == 0 and topology == "hybrid-cube-mesh":  # only NVLink2 parts take the mesh (fuzz49; QA 93: V100 only)
        assert job["cluster"]["gpu"] == "V100", job
    if line is not None:
        assert "internal" not in line, line
    assert stray(p.parent, {p.name}) == []


# ------------------------------------------------------------------------ fuzzed: an instances override file
def _shipped_rows() -> list[dict]:
    code, out, err = invoke_main("catalog", "instances", "--csv")
    assert code == 0, err
    return list(csv.DictReader(io.StringIO(out)))


_ROWS: list[dict] = []


def _shipped_row(key: str) -> dict:
    if not _ROWS:
        _ROWS.extend(_shipped_rows())
    return dict(next(r for r in _ROWS if r["key"] == key))


def _row_csv(rows: list[dict], header: list[str] | None = None) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, header or list(rows[0]), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


CELLS = ["", "x", "é\u202e", "\x1b[31m", "a\nb", "=cmd()", "nan", "inf", "-1", "1e308", "0", " switch ", "x" * 5000,
         "\ufeff", "hybrid-cube-mesh", "switch", "HYBRID-CUBE-MESH", "0.0001", "1e5", "1"]
COLUMNS = ["price_check", "price_check", "nvlink_topology", "nvlink_topology", "price_ondemand_usd_hr",
           "price_spot_usd_hr", "gpu_count", "gpu"]


@st.composite
def instance_files(draw) -> bytes:
    """A shipped row or two (NVLink, PCIe, mesh) rewritten with hostile cells in session 48's columns and the prices
    they are read beside, then a missing or extra column, a duplicate row, a BOM, CRLF or CR line ends."""
    rows = [_shipped_row(k) for k in draw(st.lists(st.sampled_from(["aws:p5.48xlarge", "aws:g6.xlarge",
                                                                       "aws:p3.16xlarge"]), min_size=1, max_size=2))]
    for r in rows:
        for col, cell in draw(st.lists(st.tuples(st.sampled_from(COLUMNS), st.sampled_from(CELLS)), max_size=2)):
            r[col] = cell
    header = list(rows[0])
    shape = draw(st.sampled_from(["as-is"] * 6 + ["missing", "extra", "duplicate", "no-key"]))
    if shape == "missing":
        header.remove(draw(st.sampled_from(["price_check", "nvlink_topology", "price_ondemand_usd_hr", "source"])))
    elif shape == "extra":
        header.append(draw(st.sampled_from(["bogus", "price_check ", "Price_Check"])))
        rows = [{**r, header[-1]: "1"} for r in rows]
    elif shape == "duplicate":
        rows = rows + rows[:1]
    elif shape == "no-key":
        header.remove("key")
    text = _row_csv(rows, header)
    end = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    text = ("\ufeff" if draw(st.integers(0, 4)) == 0 else "") + text.replace("\n", end)
    return text.encode()


COMMANDS = {"catalog --csv": ("catalog", "instances", "--csv", "--cloud", "aws"),
            "catalog": ("catalog", "instances", "--cloud", "aws"),
            "estimate": ("estimate", "{job}", "--json")}
PRICED_JOB = {"model": {"preset": "gpt2"}, "training": {"seq_len": 1024, "global_batch": 64, "tokens": 1e9},
              "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}}


@fuzz_settings(30)
@given(data=instance_files(), cmd=st.sampled_from(sorted(COMMANDS)), via=st.sampled_from(["--catalog", "env"]))
@example(data=b"cloud,name,gpu,gpu_count,price_ondemand_usd_hr,source,nvlink_topology\r\n"
              b"aws,g6.xlarge,L4,1,0.805,me,hybrid-cube-mesh\r\n", cmd="catalog --csv", via="env")  # taken until fuzz49
def test_fuzz_instances_override(tmp_path_factory, data, cmd, via):
    d = tmp_path_factory.mktemp("inst49")
    over = d / "over.csv"
    over.write_bytes(data)
    job = d / "job.json"
    job.write_text(json.dumps(PRICED_JOB))
    args = [a.format(job=job) for a in COMMANDS[cmd]]
    old = os.environ.get("PLANNER_CATALOG")
    try:
        if via == "env":
            os.environ["PLANNER_CATALOG"] = str(over)
        else:
            args += ["--catalog", str(over)]
        code, out, err = run_cli(*args, cwd=d)
    finally:
        if old is None:
            os.environ.pop("PLANNER_CATALOG", None)
        else:
            os.environ["PLANNER_CATALOG"] = old
    line = check_outcome(code, out, err, json_out=cmd == "estimate")
    if line is not None:
        # a $PLANNER_CATALOG file's refusal names the variable (QA 89), a --catalog file's the override
        assert line.startswith("error: PLANNER_CATALOG: " if via == "env" else "error: catalog override over.csv: "), line
    elif cmd == "catalog --csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert rows and "price_check" in rows[0] and "nvlink_topology" in rows[0]
        # the DGX-1 mesh only on an NVLink part (the shipped p3.16xlarge's V100s): an L4 row took it until fuzz49
        assert all(r["gpu"].startswith("V100") for r in rows if r["nvlink_topology"] == "hybrid-cube-mesh")
    if code == 0 and cmd != "estimate":
        assert "\x1b" not in out and "\x07" not in out
    assert over.read_bytes() == data  # the user's file untouched
    assert stray(d, {over.name, job.name}) == []
