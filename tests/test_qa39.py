"""QA pass 39: a user's pass over serve, simulate, report, calibrate, catalog and the app -- each defect with the check
that failed before its fix."""
from __future__ import annotations

import pytest

from conftest import one_error_line


# ---- 1. "-" as an output path was written as a file named "-" -----------------------------------------------------
# `calibrate -o -` measured for a minute and "wrote -" into the working directory (so would `recommend --csv -`):
# the Unix convention reads "-" as standard output, and no output option writes there
def test_a_dash_output_path_is_refused_not_written_as_a_file(tmp_path, monkeypatch):
    from planner.errors import InputError
    from planner.outputs import output_target

    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as e:
        output_target("-", "--csv")
    assert "standard output" in str(e.value)
    assert output_target("./-", "--csv").name == "-"  # the file named "-" is still reachable
    assert list(tmp_path.iterdir()) == []


def test_calibrate_dash_out_is_refused_before_measuring(tmp_path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("calibrate", "-o", "-", "--device", "cpu", "--quick")
    assert code == 2, out
    assert one_error_line(err).startswith("error: --out: - (standard output) is not taken"), err
    assert list(tmp_path.iterdir()) == []


# ---- 2. the catalog tables --catalog does not read back were misread --------------------------------------------
# `catalog links --csv > l.csv; catalog gpus --catalog l.csv` read "gpus[0].vendor: is required" (taken for a GPU table),
# the commitments CSV "commitments[0].key: is not a known column"; each now says which table it is and why not
@pytest.mark.parametrize("table, words", [
    ("links", "the interconnects are built in"),
    ("systems", "the reference systems are built in"),
    ("commitments", "adds a term beside the built-in ones"),
])
def test_a_catalog_table_that_is_not_read_back_says_so(tmp_path, cli, table, words):
    code, out, err = cli("catalog", table, "--csv")
    assert code == 0, err
    mine = tmp_path / f"{table}.csv"
    mine.write_text(out)
    line = one_error_line(cli("catalog", "gpus", "--catalog", mine)[2])
    assert f"header: this is `planner catalog {table} --csv`'s table, which --catalog does not read back" in line, line
    assert words in line, line


@pytest.mark.parametrize("table", ["gpus", "instances", "onprem"])
def test_the_tables_that_are_read_back_still_are(tmp_path, cli, table):
    code, out, err = cli("catalog", table, "--csv")
    mine = tmp_path / f"{table}.csv"
    mine.write_text(out)
    code, out, err = cli("catalog", table, "--catalog", mine)
    assert code == 0, err


# ---- 3. an output length past the context blamed serving.prompt_tokens ----------------------------------------------
# `output_tokens: 1000000` beside 800 prompt tokens read "error: serving.prompt_tokens: 800 prompt + 1,000,000 output
# tokens exceed llama3-8b's 8,192-token context": the field to change is the one that takes the context
@pytest.mark.parametrize("prompt, output, field", [(800, 1_000_000, "output_tokens"), (8000, 500, "prompt_tokens")])
def test_a_request_past_the_context_blames_its_larger_part(tmp_path, cli, prompt, output, field):
    from conftest import write_job

    job = {"model": {"preset": "llama3-8b"},
           "serving": {"p99_latency_ms": 50, "qps": 4, "prompt_tokens": prompt, "output_tokens": output}}
    code, out, err = cli("serve", write_job(tmp_path, job), "--no-simulate")
    assert code == 2, out
    line = one_error_line(err)
    assert line.startswith(f"error: serving.{field}: {prompt:,} prompt + {output:,} output tokens exceed"), line


# ---- 4. a deadline past what one plan deploys was blamed on serving.deadline_hours, whoever set it -------------------
# `serve batch.yaml --deadline-hours 0.0001` read "error: serving.deadline_hours: no plan: ...", a field the job never
# set (so did constraints.deadline_hours); the refusal names the deadline as the user gave it
BATCH = {"model": {"preset": "llama3-8b"},
         "serving": {"mode": "batch", "requests": 5e6, "prompt_tokens": 2048, "output_tokens": 256, "precision": "fp8"},
         "constraints": {"clouds": ["aws"], "gpus": ["L4-24GB"]}}


@pytest.mark.parametrize("where, flag, field", [
    ("serving", False, "serving.deadline_hours"),
    ("constraints", False, "constraints.deadline_hours"),
    (None, True, "--deadline-hours"),
])
def test_a_deadline_no_plan_meets_is_named_as_the_user_gave_it(tmp_path, cli, where, flag, field):
    from conftest import write_job

    job = {k: dict(v) for k, v in BATCH.items()}
    if where:
        job[where]["deadline_hours"] = 0.0001
    args = ["--deadline-hours", "0.0001"] if flag else []
    code, out, err = cli("serve", write_job(tmp_path, job), "--no-simulate", *args)
    assert code == 2, out
    line = one_error_line(err)
    assert line.startswith(f"error: {field}: no plan: even the option needing the fewest GPUs"), line


# ---- 5. a serving trace: an infinite arrival read "need arrival_s >= 0", a shifted row was read askew ---------------
# `inf,100,10` is >= 0, yet read "need arrival_s >= 0 and token counts >= 1"; a row with a fourth cell under a
# three-column header had its extra cell dropped unread; a bad row after blank lines was given the wrong line number
@pytest.mark.parametrize("rows, words", [
    ("0.1,100,10\ninf,100,10\n", "line 3: arrival_s must be a finite number of seconds, got inf"),
    ("0.1,100,10\nnan,100,10\n", "line 3: arrival_s must be a finite number of seconds, got nan"),
    ("0.1,100,10\n0.2,100,10,7\n", "line 3: 4 cells but the header has 3 columns"),
    ("0.1,100,10\n\n\n0.2,x,10\n", "line 5: arrival_s must be a number and token counts integers"),
])
def test_a_trace_row_is_refused_for_what_is_wrong_with_it_at_its_line(tmp_path, rows, words):
    from planner.errors import InputError
    from planner.simulate.serving import load_trace

    p = tmp_path / "t.csv"
    p.write_text("arrival_s,prompt_tokens,output_tokens\n" + rows)
    with pytest.raises(InputError) as e:
        load_trace(p)
    assert words in str(e.value), str(e.value)


# ---- 6. an empty --catalog file was taken as no change, without a word ---------------------------------------------
# `--catalog mine.csv` where mine.csv is empty (a failed `> mine.csv`) or a header alone planned at the built-in rows
# and said nothing: every other empty input (job, trace, upload) is refused
@pytest.mark.parametrize("name, text", [("mine.csv", ""), ("mine.yaml", ""), ("mine.csv", "cloud,name,gpu\n"),
                                        ("mine.yaml", "gpus: []\n")])
def test_an_override_with_no_rows_is_refused(tmp_path, cli, name, text):
    p = tmp_path / name
    p.write_text(text)
    line = one_error_line(cli("catalog", "instances", "--catalog", p)[2])
    assert line.startswith(f"error: catalog override {name}: file: adds or changes no row"), line


# ---- 7. a tiny serving.gpu_memory_utilization was blamed on the model ------------------------------------------------
# `gpu_memory_utilization: 0.001` read "error: serving: the model does not fit any option: ... exceed 0 GiB usable ...
# quantise (serving.precision), or allow larger GPUs": the job's own memory share is what leaves no room
def test_a_memory_share_too_small_for_the_model_is_named(tmp_path, cli):
    from conftest import write_job

    job = {"model": {"preset": "llama3-8b"},
           "serving": {"p99_latency_ms": 50, "qps": 4, "gpu_memory_utilization": 0.001},
           "constraints": {"clouds": ["aws"], "gpus": ["H100-SXM-80GB"]}}
    code, out, err = cli("serve", write_job(tmp_path, job), "--no-simulate")
    assert code == 2, out
    line = one_error_line(err)
    assert line.startswith("error: serving.gpu_memory_utilization: 0.001 of GPU memory leaves no option room"), line
    assert "vLLM's default 0.9 would hold its weights there" in line


# ---- 8. a real-time job's serving.requests and serving.deadline_hours were dropped without a word --------------------
# `serve --deadline-hours 5` on a real-time job is refused; the same deadline (or a request count) in its serving
# section was planned around unsaid
@pytest.mark.parametrize("field, value", [("requests", 100), ("deadline_hours", 5)])
def test_offline_fields_on_a_realtime_job_are_refused(tmp_path, cli, field, value):
    from conftest import write_job

    job = {"model": {"preset": "llama3-8b"}, "serving": {"p99_latency_ms": 50, "qps": 4, field: value}}
    code, out, err = cli("serve", write_job(tmp_path, job), "--no-simulate")
    assert code == 2, out
    assert one_error_line(err) == (f"error: serving.{field}: applies to offline jobs (serving.mode: batch); this job is "
                                   "realtime, sized for serving.qps")
