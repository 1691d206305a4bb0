"""Regression tests for items 4-6 of the robustness issue: user text reaching the terminal as
markup or control codes (4), unbounded simulator/campaign work (5), and wrong exit codes or
silently accepted nonsense (6). The bad inputs of the issue are the test data. Limits are in
README "Limits and bad input"."""
import copy
import io
import json
import math

import pytest

from conftest import EXAMPLES, ROOT, answered, write_gpu_profile
from test_robustness import ESTIMATE_JOB, SEARCH_JOB, one_line_error

CPU_PROFILE = json.loads((ROOT / "planner" / "hardware" / "profiles" / "cpu-ci-example.json").read_text())


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def gpu_profile(tmp_path, name="p.json", **fitted):
    """A profile measured on the job's catalog GPU (conftest ``write_gpu_profile``), fitted fields changed."""
    return write_gpu_profile(tmp_path, name, "A100-SXM-80GB", **fitted)


def named(name: str) -> str:
    return ESTIMATE_JOB.replace("preset: gpt2", f"preset: gpt2, name: {json.dumps(name)}")


# ====================================================================== item 4: text, not markup
@pytest.mark.parametrize("where", ["preset", "cloud", "emit", "profile_device"])
def test_markup_in_user_text_is_one_line_not_a_markup_error(tmp_path, cli, where):
    if where == "preset":
        args = ("estimate", write(tmp_path, "j.yaml", ESTIMATE_JOB.replace("preset: gpt2", "preset: '[/]'")))
    elif where == "cloud":
        args = ("catalog", "instances", "--cloud", "[/]")
    elif where == "emit":
        args = ("recommend", write(tmp_path, "j.yaml", SEARCH_JOB), "--no-simulate", "--emit", "[/]")
    else:
        d = copy.deepcopy(CPU_PROFILE)
        d["fingerprint"]["device_name"] = "[/]"
        args = ("estimate", write(tmp_path, "j.yaml", ESTIMATE_JOB), "--profile", write(tmp_path, "p.json", json.dumps(d)))
    line = one_line_error(*cli(*args))
    assert "[/]" in line  # shown as typed, not swallowed or parsed


@pytest.mark.parametrize("cmd", ["estimate", "recommend", "simulate"])
def test_markup_and_control_codes_in_a_model_name_are_shown_inert(tmp_path, cli, cmd):
    name = "x[/]y[bold]z \x1b]0;pwned\x07\x1b[31mred\u202e"
    job = named(name) if cmd != "recommend" else SEARCH_JOB.replace("preset: gpt2", f"preset: gpt2, name: {json.dumps(name)}")
    extra = {"estimate": (), "recommend": ("--no-simulate",), "simulate": ("--steps", "5", "--no-answers")}[cmd]
    code, out, err = cli(cmd, write(tmp_path, "j.yaml", job), *extra)
    assert code == 0, err
    # CliRunner is not a terminal, so rich writes no styles: any ESC/BEL would be the input's
    assert "\x1b" not in out + err and "\x07" not in out + err and "\u202e" not in out + err
    if cmd == "estimate":
        assert "x[/]y[bold]z" in out and "\\x1b]0;pwned\\x07" in out


def test_safe_console_keeps_its_styles_and_drops_the_inputs_codes():
    from planner.present.safe import SafeConsole, clean, esc

    buf = io.StringIO()
    con = SafeConsole(file=buf, force_terminal=True, color_system="standard", width=100)
    con.print(f"[bold]ok[/] {esc('[/]a')} \x1b[2Jgone", highlight=False)
    con.print("unbalanced [/] markup from a forgotten call site", highlight=False)  # literal, no MarkupError
    text = buf.getvalue()
    assert "\x1b[1mok\x1b[0m" in text  # rich's own bold survives
    assert "\x1b[2J" not in text and "\\x1b[2Jgone" in text  # the input's code is shown, not sent
    assert "[/]a" in text and "unbalanced [/] markup" in text
    assert clean("a\tb\nc\x00\x7f\x9b") == "a\tb\nc\\x00\\x7f\\x9b"
    assert esc("[red]x") == "\\[red]x"


def test_markdown_and_html_reports_show_html_from_a_model_name_as_text(tmp_path, cli):
    job = write(tmp_path, "j.yaml", SEARCH_JOB.replace(
        "preset: gpt2", "preset: gpt2, name: '<script>alert(1)</script> [x](javascript:alert(2)) `c`'"))
    code, _, err = cli("report", job, "--no-simulate", "-o", tmp_path / "r.md")
    assert code == 0, err
    md = (tmp_path / "r.md").read_text()
    # '<' is an entity, so no tag opens; '>' stays (since QA 40: an arrow reads ->)
    assert "<script>" not in md and "&lt;script>alert(1)&lt;/script>" in md
    assert "](javascript:" not in md.replace("\\](javascript:", "")  # the link is escaped text
    code, _, err = cli("report", job, "--no-simulate", "-o", tmp_path / "r.html")
    assert code == 0, err
    html = (tmp_path / "r.html").read_text()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html


def test_emitted_job_names_are_ascii_and_header_is_inert(tmp_path, cli):
    job = write(tmp_path, "j.yaml", SEARCH_JOB.replace("preset: gpt2", "preset: gpt2, name: \"Ünïcode\\nrm -rf /\""))
    code, out, err = cli("recommend", job, "--no-simulate", "--emit", "k8s")
    assert code == 0, err
    name = next(line for line in out.splitlines() if line.strip().startswith("name:") and "train" in line)
    assert name.split(":", 1)[1].strip().isascii()
    assert "\nrm -rf" not in out


# ====================================================================== item 5: bounded work
def _sim_cfg(**loader):
    from planner.simulate import LoaderConfig, PipelineConfig, SimConfig

    return SimConfig(PipelineConfig(t_fwd_mb=0.01, t_bwd_mb=0.02, m=2, dp=2, micro_batch=4),
                     loader=LoaderConfig(**loader))


def test_loader_credits_never_exceed_what_the_run_consumes():
    from planner.simulate import simulate

    small = simulate(_sim_cfg(workers=4, prefetch_factor=2, decode_s=1e-3), steps=10, steady_state=False)
    huge = simulate(_sim_cfg(workers=1024, prefetch_factor=1024, decode_s=1e-3), steps=10, steady_state=False)
    # 1024 x 1024 credits built a million batches per replica before the first step; now the work
    # is the run's own 10 steps x 2 micro-batches plus one wake-up per worker
    assert huge.events < 20 * small.events + 10 * 2 * 1024, (huge.events, small.events)


def test_huge_loader_job_simulates_in_bounded_work(tmp_path, cli):
    job = write(tmp_path, "j.yaml", ESTIMATE_JOB + "data: {workers_per_gpu: 1024, prefetch_factor: 1024, decode_ms_per_sample: 1}\n")
    assert answered(cli("simulate", job, "--steps", "20", "--no-answers", "--json"))["events"] < 200_000


def test_steady_state_window_is_capped():
    from planner.simulate.engine import WINDOW_CAP, _Run

    cfg = _sim_cfg(workers=1024, prefetch_factor=1024)
    run = _Run(cfg, 10, 0, False, False, True, 10, False)
    assert run.window_size() == WINDOW_CAP


def test_sample_bytes_at_its_limit_runs(tmp_path, cli):
    job = write(tmp_path, "j.yaml", ESTIMATE_JOB + "data: {sample_bytes: 1.0e+12}\n")
    code, out, err = cli("simulate", job, "--steps", "10")
    assert code == 0, err
    assert "Traceback" not in out + err


@pytest.mark.parametrize("every,ok", [(1 << 40, True), ((1 << 40) + 1, False), ("1.0e+30", False)])
def test_evaluation_cadence_is_bounded(tmp_path, cli, every, ok):
    job = write(tmp_path, "j.yaml", ESTIMATE_JOB + f"evaluation: {{every_steps: {every}, samples: 1000}}\n")
    res = cli("simulate", job, "--steps", "10")
    if ok:
        assert res[0] == 0, res[2]
    else:
        one_line_error(*res, "evaluation.every_steps")


def test_tiny_mtbf_is_refused_before_simulating(tmp_path, cli):
    job = write(tmp_path, "j.yaml", ESTIMATE_JOB + "checkpoint: {every_steps: 100, mtbf_hours_per_node: 1.0e-7}\n")
    one_line_error(*cli("simulate", job, "--steps", "20"), "checkpoint.mtbf_hours_per_node", "too large")


def test_failure_check_agrees_with_the_renewal_formula():
    from planner.errors import TooLargeError
    from planner.simulate import CheckpointConfig, FailureConfig, PipelineConfig, SimConfig
    from planner.simulate.engine import MAX_FAILURES, check_failures

    def cfg(mtbf):
        return SimConfig(PipelineConfig(t_fwd_mb=0.5, t_bwd_mb=0.5), checkpoint=CheckpointConfig(every_steps=10, bytes=1.0),
                         failures=FailureConfig(mtbf_node_s=mtbf, restart_s=1.0))
    check_failures(cfg(100.0), 1000)  # 10 s intervals, 100 s MTBF: ~10 failures, fine
    # 10 s of work per interval with a 0.5 s MTBF: exp(20) - 1 ~ 5e8 failures per interval
    with pytest.raises(TooLargeError, match="too large"):
        check_failures(cfg(0.5), 1000)
    assert MAX_FAILURES >= 1000


def test_runtime_work_limit_is_one_line(tmp_path, cli, monkeypatch):
    import planner.simulate.engine as engine

    monkeypatch.setattr(engine, "MAX_SIM_WORK", 500)
    job = write(tmp_path, "j.yaml", ESTIMATE_JOB)
    line = one_line_error(*cli("simulate", job, "--steps", "2000", "--no-answers", "--timeline", tmp_path / "t.csv"),
                          "--steps", "too large")
    assert "500" in line
    assert not (tmp_path / "t.csv").exists()  # nothing written half-way


def _campaign_job(tmp_path, per_week, weeks, q="0.15"):
    text = (EXAMPLES / "preprocess-campaign.yaml").read_text()
    text = text.replace("experiments_per_week: 10", f"experiments_per_week: {per_week}").replace("weeks: 4", f"weeks: {weeks}")
    return write(tmp_path, "c.yaml", text.replace("invalidation_rate: 0.15", f"invalidation_rate: {q}"))


def test_huge_campaign_is_small_and_says_what_caching_costs(tmp_path, cli):
    code, out, err = cli("recommend", _campaign_job(tmp_path, 10000, 520), "--json")
    assert code == 0, err
    assert len(out) < 500_000  # was 4.7 GB of cumulative-cost points
    camp = json.loads(out)["campaign"]
    assert len(camp["cumulative"]["experiments"]) <= 1001
    code, out, err = cli("recommend", _campaign_job(tmp_path, 10000, 520, q="1.0"))
    assert code == 0, err
    assert "caching costs $" in out and "$-" not in out


def test_campaign_break_even_matches_the_experiment_by_experiment_sum():
    import numpy as np

    from planner.workloads.campaign import _first_win

    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(1, 60))
        q, pre, fetch, storage = rng.uniform(0, 1), rng.uniform(0, 50), rng.uniform(0, 20), rng.uniform(0, 30)
        tr = rng.uniform(0, 10)

        def cum(k):
            k = np.asarray(k, dtype=np.float64)
            miss = 1 + q * (k - 1)
            return k * (pre + tr), miss * pre + (k - miss) * fetch + miss * storage + k * tr
        k = np.arange(1, n + 1)
        no, yes = cum(k)
        wins = np.flatnonzero(yes < no)
        assert _first_win(n, q, pre, fetch, storage, cum) == (int(k[wins[0]]) if len(wins) else None)


# ====================================================================== item 6: exit 2, field named
def hf(tmp_path, **over):
    base = {"model_type": "llama", "hidden_size": 512, "num_attention_heads": 8, "num_hidden_layers": 2,
            "intermediate_size": 1024, "vocab_size": 1000}
    base.update(over)
    return write(tmp_path, "config.json", json.dumps(base))


@pytest.mark.parametrize("over,field", [
    ({"num_attention_heads": 0}, "num_attention_heads"), ({"hidden_size": "abc"}, "hidden_size"),
    ({"num_hidden_layers": True}, "num_hidden_layers"), ({"vocab_size": 1.5}, "vocab_size"),
    ({"tie_word_embeddings": "yes"}, "tie_word_embeddings"), ({"model_type": ["llama"]}, "model"),
])
def test_hf_config_nonsense_is_field_named(tmp_path, cli, over, field):
    one_line_error(*cli("estimate", hf(tmp_path, **over)), field)
    job = write(tmp_path, "j.yaml", "model: {hf_config: config.json}\n")
    one_line_error(*cli("estimate", job), field)


@pytest.mark.parametrize("section,field", [
    ("evaluation: {every_steps: 10, samples: .inf}", "evaluation.samples"),
    ("constraints: {budget_usd: .nan}", "constraints.budget_usd"),
    ("checkpoint: {every_steps: 10, write_gbps: .inf}", "checkpoint.write_gbps"),
])
def test_infinities_and_nans_are_refused(tmp_path, cli, section, field):
    one_line_error(*cli("simulate", write(tmp_path, "j.yaml", ESTIMATE_JOB + section + "\n"), "--steps", "5"), field)


@pytest.mark.parametrize("cmd", ["estimate", "simulate"])
def test_estimate_and_simulate_refuse_a_tabular_job(cli, cmd):
    one_line_error(*cli(cmd, EXAMPLES / "gbdt-tabular.yaml"), "tabular", "recommend")


@pytest.mark.parametrize("constraints", ["{budget_usd: 1000, deadline_hours: 100}", "{budget_usd: 1000}"])
def test_a_budget_without_a_price_is_refused(tmp_path, cli, constraints):
    job = write(tmp_path, "j.yaml", "model: {preset: gpt2}\ntraining: {seq_len: 1024, global_batch: 64, tokens: 1e9}\n"
                                    f"cluster: {{gpu: H100}}\nconstraints: {constraints}\n")
    one_line_error(*cli("recommend", job, "--no-simulate"), "constraints.budget_usd", "price")
    priced = write(tmp_path, "k.yaml", job.read_text().replace("{gpu: H100}", "{gpu: H100, price_usd_hr: 30}"))
    code, _, err = cli("recommend", priced, "--no-simulate")
    assert code in (0, 2) and "budget_usd: a bare" not in err


def test_fixed_nodes_beyond_max_gpus_is_refused(tmp_path, cli):
    job = write(tmp_path, "j.yaml", "model: {preset: gpt2}\ntraining: {seq_len: 1024, global_batch: 64, tokens: 1e9}\n"
                                    "cluster: {gpu: H100, nodes: 1024}\nconstraints: {max_gpus: 8}\n")
    one_line_error(*cli("recommend", job, "--no-simulate"), "cluster.nodes", "max_gpus")
    job.write_text(job.read_text().replace("nodes: 1024", "nodes: 1024, gpus_per_node: 8"))
    one_line_error(*cli("recommend", job, "--no-simulate"), "cluster.nodes", "8,192")


@pytest.mark.parametrize("field,text", [("training.global_batch", "global_batch: true"),
                                        ("training.micro_batch", "micro_batch: false")])
def test_booleans_are_not_numbers(tmp_path, cli, field, text):
    job = ESTIMATE_JOB.replace("global_batch: 32", text if "global" in text else "global_batch: 32")
    job = job.replace("micro_batch: 4", text if "micro" in text else "micro_batch: 4")
    one_line_error(*cli("estimate", write(tmp_path, "j.yaml", job)), field)


@pytest.mark.parametrize("fitted,field", [
    ({"gemm_max": 1.32}, "fitted.gemm_max"), ({"hbm": 1.2}, "fitted.hbm"),
    ({"attn_fwd": 1.5}, "fitted.attn_fwd"),  # against a catalog GPU's datasheet peak
    ({"intra_alpha_s": 1e300}, "fitted.intra_alpha_s"), ({"launch_s": 5.0}, "fitted.launch_s"),
    ({"hbm_bw": 1e300}, "fitted.hbm_bw"), ({"peak_flops": {"fp32": 1e300}}, "fitted.peak_flops"),
    ({"by_dtype": {"fp64": {"gemm_max": 0.5}}}, "fitted.by_dtype"),
    ({"by_dtype": {"bf16": {"gemm_max": "x"}}}, "fitted.by_dtype.bf16.gemm_max"),
    ({"by_dtype": {"bf16": {"gemm_max": 0.5, "typo": 1}}}, "fitted.by_dtype.bf16.typo"),
    ({"by_dtype": {"bf16": {"attn_fwd": 3.0}}}, "fitted.by_dtype.bf16.attn_fwd"),
])
def test_profile_nonsense_is_field_named(tmp_path, cli, fitted, field):
    job = write(tmp_path, "j.yaml", ESTIMATE_JOB)
    one_line_error(*cli("estimate", job, "--json", "--profile", gpu_profile(tmp_path, **fitted)), "--profile." + field)


def test_cpu_profile_may_exceed_1_on_attention_against_its_measured_peak(tmp_path):
    from planner.hardware.profile import load_profile

    d = copy.deepcopy(CPU_PROFILE)
    d["fitted"]["attn_fwd"] = 1.7
    assert load_profile(write(tmp_path, "p.json", json.dumps(d))).fitted.attn_fwd == 1.7


def test_by_dtype_fits_are_used_for_the_jobs_precision(tmp_path, cli):
    def step(gemm_bf16, precision="bf16"):
        prof = gpu_profile(tmp_path, f"p{gemm_bf16}.json", gemm_table=None,
                           by_dtype={"bf16": {"gemm_max": gemm_bf16}, "fp32": {"gemm_max": 0.9}})
        job = write(tmp_path, "j.yaml", ESTIMATE_JOB.replace("tokens: 1e9", f"tokens: 1e9, precision: {precision}"))
        return answered(cli("estimate", job, "--json", "--profile", prof))["step_time_s"]
    assert step(0.2) > step(0.8)  # the bf16 fit moves a bf16 job (this small job is mostly host-bound)
    assert step(0.2, "fp32") == pytest.approx(step(0.8, "fp32"))  # ... and not an fp32 one
    from hardware_catalog import load_catalog
    from planner.hardware.options import efficiency_for
    from planner.hardware.profile import load_profile

    prof = load_profile(gpu_profile(tmp_path, by_dtype={"bf16": {"gemm_max": 0.2}, "fp32": {"gemm_max": 0.9}}))
    gpu = load_catalog().gpu("A100-SXM-80GB")
    assert efficiency_for(gpu, prof, "bf16").gemm_max == 0.2 and efficiency_for(gpu, prof, "fp32").gemm_max == 0.9
    assert efficiency_for(gpu, prof, "fp8").gemm_max == prof.fitted.gemm_max  # no fit: the headline one


def test_json_output_is_strict(tmp_path):
    from planner.present.safe import SafeConsole

    buf = io.StringIO()
    SafeConsole(file=buf).print_json(json.dumps({"a": float("nan"), "b": [float("inf"), 1.5]}))
    assert json.loads(buf.getvalue(), parse_constant=lambda c: pytest.fail(c)) == {"a": None, "b": [None, 1.5]}
    assert not math.isnan(1.5)


@pytest.mark.parametrize("cmd", ["estimate", "simulate"])
def test_json_with_control_characters_in_user_text_still_parses(tmp_path, cli, cmd):
    """A C1 control (U+0085), DEL or a bidi override in a model name: ``--json`` writes it as a JSON
    ``\\u`` escape, so the output parses and gives the name back (the terminal cleaning turned a raw
    U+0085 inside the JSON string into ``\\x85``, an invalid escape) and the terminal still gets no
    raw control code."""
    name = "a\u0085b\x7fc\u202ed\x1be"
    extra = ("--steps", "5", "--no-answers") if cmd == "simulate" else ()
    code, out, err = cli(cmd, write(tmp_path, "j.yaml", named(name)), "--json", *extra)
    assert code == 0, err
    obj = json.loads(out, parse_constant=lambda c: pytest.fail(c))
    if cmd == "estimate":
        assert obj["model"] == name  # the name comes back as typed
    assert not any(c in out for c in "\u0085\x7f\u202e\x1b")


@pytest.mark.parametrize("text,field", [
    ("campaign: {experiments_per_week: true, preprocess: {hours: 6, usd_per_hour: 3}}", "campaign.experiments_per_week"),
    ("campaign: {experiments_per_week: .nan, preprocess: {hours: 6, usd_per_hour: 3}}", "campaign.experiments_per_week"),
])
def test_campaign_sections_refuse_bools_and_nans(tmp_path, cli, text, field):
    one_line_error(*cli("estimate", write(tmp_path, "j.yaml", ESTIMATE_JOB + text + "\n")), field)


def test_tabular_sections_refuse_bools_and_nans(tmp_path, cli):
    for bad in ("rows: true", "rows: .inf"):
        job = write(tmp_path, "t.yaml", f"tabular: {{{bad}, features: 10}}\nconstraints: {{clouds: [aws]}}\n")
        one_line_error(*cli("recommend", job), "tabular.rows")


def test_a_bool_in_a_text_field_is_not_called_a_number(tmp_path, cli):
    job = write(tmp_path, "j.yaml", ESTIMATE_JOB.replace("preset: gpt2", "preset: gpt2, name: true"))
    line = one_line_error(*cli("estimate", job), "model.name")
    assert "number" not in line
