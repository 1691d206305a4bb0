"""What the qa64 hostile-user pass left (qa65): stack options a plan does not use listed as set in recommend's CSV and
JSON, a long whole number echoed digit by digit, a catalog CSV's broken quote read as a value, and the what-if app's
OpenBLAS threads."""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import invoke_main

ROOT = Path(__file__).resolve().parents[1]

MEGATRON_JOB = {"model": {"preset": "llama3-8b"},
                "training": {"seq_len": 4096, "global_batch": 256, "tokens": 1e10, "framework": {"name": "megatron-core"}},
                "constraints": {"gpus": ["H100-SXM-80GB"], "clouds": ["aws"], "max_gpus": 16}}


def _one_line(code: int, out: str) -> str:
    assert code == 2, out
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1, out
    return lines[0]


# ---- 1. a stack option appears only where the plan's stack has it and the plan's layout uses it
def test_recommend_table_leaves_out_reshard_where_no_plan_uses_it():
    """Megatron-Core's reshard switch is its torch-FSDP2 ZeRO-3's (--torch-fsdp2-no-reshard-after-forward): the
    table read reshard_after_forward=True on its ZeRO-0/1/2 rows and on Megatron-FSDP rows, which have no such switch."""
    from hardware_catalog import load_catalog
    from planner.spec import load_job_dict
    from planner.workloads.training import recommend

    res = recommend(load_job_dict(MEGATRON_JOB), load_catalog(), top=3, simulate=False)
    t = res["table"]
    fsdp2_z3 = (t["zero"] == 3) & ~t["megatron_fsdp"].astype(bool)
    assert fsdp2_z3.any() and (~fsdp2_z3).any()
    assert (t.loc[fsdp2_z3, "reshard_after_forward"] == True).all()  # noqa: E712 -- the option as the stack sets it
    assert t.loc[~fsdp2_z3, "reshard_after_forward"].isna().all()
    for p in res["ranked"]:  # the JSON stack record of each plan: the option only where its layout uses it
        assert ("reshard_after_forward" in p.stack) == (p.config.zero == 3 and not p.config.megatron_fsdp), p.config


def test_option_cells_follow_the_stack_registry():
    """Megatron-LM (2021-22) has no offload, no reshard and no Megatron-FSDP: its rows read False / True for them."""
    from planner.model.stacks import STACKS
    from planner.search.recommend import _option_cell

    zero = np.array([0, 1])
    for o in ("optimizer_offload", "reshard_after_forward", "megatron_fsdp", "pp_split"):
        assert _option_cell(STACKS["megatron-lm"], o, zero) is None, o
    mixed = _option_cell(STACKS["megatron-core"], "reshard_after_forward", np.array([1, 3, 2, 3]))
    assert list(mixed) == [None, True, None, True]
    mfsdp = STACKS["megatron-core"].with_options(megatron_fsdp=True)
    assert _option_cell(mfsdp, "reshard_after_forward", np.array([3, 3])) is None
    assert _option_cell(STACKS["torchtitan"], "reshard_after_forward", np.array([3, 3])) is True


def test_stack_line_names_no_reshard_switch_megatron_fsdp_lacks():
    from planner.model.stacks import STACKS

    mfsdp = STACKS["megatron-core"].with_options(megatron_fsdp=True)
    assert mfsdp.reshard_label(3, 1) is None
    assert "reshard_after_forward" not in mfsdp.describe("bf16", zero=3, pp=1)
    assert STACKS["megatron-core"].reshard_label(3, 1) == "on"  # torch FSDP2 at ZeRO-3: the switch exists


# ---- 2. an echoed value as the user wrote it
@pytest.mark.parametrize("written,shown", [("1e308", "1e+308"), ("1e20", "1e+20"),
                                           ("12345678901234567890", "1.23456789012346e+19")])
def test_a_long_whole_number_is_echoed_in_scientific_form(tmp_path, written, shown):
    job = tmp_path / "job.yaml"
    job.write_text(f"model: {{preset: llama3-8b}}\ntraining: {{seq_len: 2048, global_batch: {written}, tokens: 1e10}}\n")
    line = _one_line(*invoke_main("estimate", job)[::2])
    assert line == f"error: training.global_batch: must be at most 67,108,864, got {shown}", line


def test_echo_keeps_short_numbers_and_never_reads_digits_past_the_limit():
    from planner.errors import clip

    assert clip(123456789012345) == "123456789012345" and clip(True) == "true" and clip(2.5) == "2.5"
    assert clip(10 ** 5000) == "1e+5000"  # no str() of 5,001 digits (Python refuses past 4,300)


# ---- 3. a catalog CSV with a broken quote
@pytest.mark.parametrize("body,line,what", [
    ('aws,p5.48xlarge,"40\n', 2, "a quoted cell opened here is never closed"),
    ('aws,p4d.24xlarge,20\naws,p5.48xlarge,"40\naws,p4de.24xlarge,30\n', 3, "a quoted cell opened here is never closed"),
    ('aws,p5.48xlarge,"40"x\n', 2, "a quoted cell is malformed"),
])
def test_a_broken_quote_in_a_catalog_csv_is_refused(tmp_path, body, line, what):
    """csv's lenient reader read ``"40`` as 40 (the cell ran to the end of the file, swallowing the rows after it)."""
    f = tmp_path / "prices.csv"
    f.write_text("cloud,name,price_ondemand_usd_hr\n" + body)
    out = _one_line(*invoke_main("catalog", "instances", "--catalog", f)[::2])
    assert out.startswith(f"error: catalog override prices.csv: line {line}: {what}"), out


def test_a_quoted_cell_over_two_lines_still_reads(tmp_path):
    from hardware_catalog.catalog import _csv_rows

    rows = _csv_rows('cloud,name,price_ondemand_usd_hr,notes\naws,p5.48xlarge,40,"two\nlines"\n', "x.csv")
    assert rows["instances"][0]["notes"] == "two\nlines"


# ---- 5. an MFU at the top of published runs says what it assumes
def _estimate_advice(tmp_path, cluster: str, parallel: str, mb: int) -> tuple[float, list[str]]:
    import json

    job = tmp_path / "job.yaml"
    training = f"{{seq_len: 8192, global_batch: 1024, tokens: 1.5e13, micro_batch: {mb}}}"
    job.write_text(f"model: {{preset: llama3-8b}}\ntraining: {training}\ncluster: {cluster}\nparallel: {parallel}\n")
    code, out, err = invoke_main("estimate", job, "--json")
    assert code == 0, err
    res = json.loads(out)
    return res["mfu"], res["advice"]


def test_a100_plan_mfu_says_its_assumptions(tmp_path):
    """The A100 Llama-3-8B 8K plan without recompute (the recommended one is 72.3%, under the FlashAttention-2 paper's
    72.7%) printed its MFU with nothing of what it assumes."""
    mfu, advice = _estimate_advice(tmp_path, "{gpu: A100-SXM-80GB, nodes: 16}", "{tp: 2, pp: 1, zero: 1}", 2)
    assert mfu >= 0.6
    said = [a for a in advice if a.startswith(f"MFU {mfu:.0%} assumes")]
    assert len(said) == 1, advice
    assert "no activation recompute" in said[0] and "a fused attention kernel" in said[0], said
    assert "16 nodes of 8, TP 2" in said[0], said


def test_a_modest_mfu_says_nothing_more(tmp_path):
    mfu, advice = _estimate_advice(tmp_path, "{gpu: A100-SXM-80GB, nodes: 16}",
                                   "{tp: 8, pp: 4, zero: 1}", 1)
    assert mfu < 0.6 and not any("assumes" in a for a in advice), (mfu, advice)


# ---- 4. the what-if app's process runs OpenBLAS on one thread
_PROBE = """
import ctypes as _c, os as _o
_lib = [l.split()[-1] for l in open('/proc/self/maps') if 'openblas' in l.lower() and '/' in l]
_get = None
for _n in ('scipy_openblas_get_num_threads64_', 'openblas_get_num_threads64_', 'openblas_get_num_threads'):
    _get = _get or (getattr(_c.CDLL(_lib[0]), _n, None) if _lib else None)
open(OUT, 'w').write(f"{_get() if _get else -1} {_o.environ.get('OPENBLAS_NUM_THREADS')}")
st.stop()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _run_script_once(port: int) -> None:
    """One browser session's first run of the page (a websocket and a rerun message, as the page sends), until the
    server says the script finished (its ``script_finished`` ForwardMsg, which st.stop sends too). Until suite44a it
    read until 20 s of silence after the run: 20 of the test's ~24 s were that wait."""
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    async with websockets.connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"]) as ws:
        msg = BackMsg()
        msg.rerun_script.query_string = ""
        await ws.send(msg.SerializeToString())
        try:
            while True:
                fwd = ForwardMsg()
                fwd.ParseFromString(await asyncio.wait_for(ws.recv(), 20))
                if fwd.WhichOneof("type") == "script_finished":
                    return
        except Exception:  # the server went quiet or closed (the probe's file then says whether the run got there)
            pass


@pytest.mark.skipif(not sys.platform.startswith("linux") or (os.cpu_count() or 1) < 2,
                    reason="reads /proc/self/maps; OpenBLAS runs one thread on one core whatever is set")
def test_the_served_app_runs_openblas_on_one_thread(tmp_path):
    """``streamlit run app.py`` (streamlit 1.67, pyproject's pin) loads no numpy before the page's script runs, so
    app.py's first planner import sets the count (planner.__init__). The probe runs in the served script right after
    app.py's imports, in the server's process."""
    pytest.importorskip("websockets")
    pytest.importorskip("streamlit")
    src = (ROOT / "app.py").read_text()
    anchor = "st.set_page_config("
    out = tmp_path / "threads.txt"
    script = tmp_path / "app_probe.py"
    script.write_text(src.replace(anchor, f"OUT = {str(out)!r}\n" + _PROBE + anchor, 1))
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("OPENBLAS_NUM_THREADS", None)
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import urllib.request

        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "streamlit did not start"
                time.sleep(0.5)
        asyncio.run(_run_script_once(port))
        threads, left = out.read_text().split()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    if threads == "-1":
        pytest.skip("numpy is not linked to OpenBLAS here")
    assert (threads, left) == ("1", "None")
