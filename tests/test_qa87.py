"""QA pass 87: a finance reviewer's and an ML lead's pass over the what-if app and the budget-review report
(docs/qa_log.md, "QA 87"). Each test fails on the code before."""
from __future__ import annotations

import pandas as pd
import pytest

from planner import interactive as wi
from planner.units import duration_cell, fmt_step_s, fmt_usd


def _page_job(base: dict, **changed):
    """The job the page builds from ``base`` with its sidebar at the job's own values (``changed`` set over them),
    the token count through the sidebar's "billions" as app.py passes it."""
    w = wi.inputs_from_job(wi.build_job(base, None))
    if w.tokens is not None:
        w = w.replace(tokens=(w.tokens / 1e9) * 1e9)
    return wi.build_job(base, w.replace(**changed))


@pytest.mark.parametrize("preset", ["gpt3-175b", "llama3-8b"])
def test_the_page_keeps_the_lines_that_say_which_training_fields_are_defaults(preset):
    """`planner recommend` of a bare preset says "training.tokens defaulted to the Chinchilla compute-optimal 20 x
    params", and for gpt3-175b that its 4,096-token sequence is "(the default)" past its 2,048-position table. The
    page wrote each sidebar value back into the job, so neither its assumptions nor the report downloaded from it
    said any of them were defaults (the caption read "1 defaults filled in" for gpt3-175b, 0 for llama3-8b)."""
    base = wi.preset_base(preset)
    cli = wi.build_job(base, None).assumptions
    assert any("Chinchilla" in a for a in cli)
    page = _page_job(base)
    assert page.assumptions == cli
    assert page.training == wi.build_job(base, None).training  # the same training, field for field


def test_a_default_that_moved_or_a_value_changed_is_written_as_set():
    """The loader's global batch follows the sequence length (~4M tokens a step): at 8,192 it would default to
    512, so the sidebar's 1,024 stays written; the sequence length set is no default any more."""
    page = _page_job(wi.preset_base("llama3-8b"), seq_len=8192)
    assert (page.training.seq_len, page.training.global_batch) == (8192, 1024)
    said = " ".join(page.assumptions)
    assert "seq_len defaulted" not in said and "global_batch defaulted" not in said
    assert "Chinchilla" in said and "precision defaulted to bf16" in said
    fp8 = _page_job(wi.preset_base("llama3-8b"), precision="fp8")
    assert fp8.training.precision == "fp8" and "precision defaulted" not in " ".join(fp8.assumptions)


def _sweep(cost: float, spot: float, hours: float, step_s: float) -> pd.DataFrame:
    return pd.DataFrame({"value": [1.0], "current": [True], "gpus": [1], "step_time_s": [step_s], "hours": [hours],
                         "cost_ondemand_usd": [cost], "cost_spot_usd": [spot], "mfu": [0.316], "hfu": [0.467],
                         "mem_gib": [74.0], "fits": [True], "meets_deadline": [None], "within_budget": [None],
                         "note": [""]})


def _shown(frame: pd.DataFrame) -> dict:
    """The cells the page draws (``table_style``'s display values), by column, for row 0."""
    styled, _ = wi.table_style(frame)
    ctx = styled._translate(False, False)
    names = [c.get("display_value") for c in ctx["head"][0]][1:]
    return dict(zip(names, (c["display_value"] for c in ctx["body"][0][1:])))


def test_the_tables_write_each_figure_as_the_terminal_does_not_rounded_first():
    """The app's frames rounded before ``table_style`` wrote the terminal's format, so a cell's last digits were the
    rounding's: the QLoRA example's sweep row read "$114.00" / spot "$144.00" beside "$113.90" / "$143.62" for the
    same plan in the metric and the alternatives; a 0.0318-day run "0.030" where the report says "0.032 d"; a
    10.2 ms step "0.0100" where recommend prints "0.0102"."""
    cells = _shown(wi.sensitivity_display(_sweep(113.9, 143.62, 0.0318 * 24 * 10, 0.0102437), "nodes"))
    assert cells["on-demand $"] == fmt_usd(113.9) == "$113.90"
    assert cells["spot $"] == "$143.62"
    assert cells["step s"] == fmt_step_s(0.0102437) == "0.0102"
    hours = 0.0318 * 24
    unit, shown = wi._duration([hours, 3.2 * 24])
    assert unit == "days to train" and duration_cell(shown[0], "days") == "0.032"


def test_the_buy_inputs_say_a_small_node_takes_its_share_of_the_8_gpu_server():
    """The default preset's winner is a 2-GPU runpod node: the report's "buy-vs-rent inputs used" table read
    "server_price_usd 37,500 | catalog server_price_hgx_a100_8gpu (assumption)" above the catalog table's
    "server_price_hgx_a100_8gpu | 150000", nothing saying the 8-GPU server was scaled to 2 of its 8 GPUs."""
    from hardware_catalog import load_catalog
    from planner.model.cost import onprem_inputs

    cat = load_catalog()
    two, eight = onprem_inputs(cat, "A100-SXM-80GB", 2), onprem_inputs(cat, "A100-SXM-80GB", 8)
    row = float(cat.onprem["server_price_hgx_a100_8gpu"]["value"])
    assert eight["server_price_usd"] == (row, "catalog server_price_hgx_a100_8gpu (assumption)")
    value, source = two["server_price_usd"]
    assert value == row * 2 / 8
    assert source == "catalog server_price_hgx_a100_8gpu (assumption) x 2/8: a 2-GPU node's share of the 8-GPU server"
    assert two["server_power_kw"][1].endswith("x 2/8: a 2-GPU node's share of the 8-GPU server")


def _titles(spec) -> list[str]:
    """Every axis title in a chart's Vega-Lite spec."""
    out = []

    def walk(o):
        if isinstance(o, dict):
            for k, v in o.items():
                if k in ("x", "y") and isinstance(v, dict) and isinstance(v.get("title"), str):
                    out.append(v["title"])
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    walk(spec)
    return out


def test_the_charts_give_time_to_train_in_the_unit_of_the_tables_beside_them():
    """The cost-vs-time and sensitivity charts always drew "days to train": the 5.6-hour full fine-tune's report
    charts ran 0.01 to 10 days and -0.04 to 0.26 days beside tables and metrics in hours ("5.6 h"). They take the
    tables' unit (``units.duration_unit`` of the longest run): hours here, the deadline rule in it too."""
    from planner.present import charts

    kept = pd.DataFrame([dict(hardware=f"aws:p5.48xlarge", gpu="H100-SXM-80GB", nodes=n, gpus=8 * n, pareto=True,
                              train_hours=5.56 / n, cost=177.5 * (1 + n / 50), tp=2, pp=1, dp=4 * n, cp=1, ep=1,
                              vpp=1, zero=1, micro_batch=4, recompute="none", step_time_s=3.2 / n, mfu=0.53,
                              mem_gib=73.8) for n in (1, 2, 4, 8)])
    spec = charts.cost_time_chart(kept).to_dict()
    assert "hours to train" in _titles(spec) and "days to train" not in _titles(spec)
    points = next(d for d in spec["datasets"].values() if len(d) == 4)
    assert sorted(round(p["time"], 3) for p in points) == [0.695, 1.39, 2.78, 5.56]
    sweep = _sweep(177.5, 60.0, 5.56, 3.2)
    sens = charts.sensitivity_chart(sweep, "nodes", deadline_hours=6.0).to_dict()
    assert "hours to train" in _titles(sens) and "days to train" not in _titles(sens)
    rule = [d for d in sens["datasets"].values() if d and "text" in d[0]]
    assert rule and rule[0][0]["time"] == 6.0  # the deadline, in hours on the hours axis
    long = charts.sensitivity_chart(_sweep(16381.0, float("nan"), 5151.0, 484.3), "nodes").to_dict()
    assert "days to train" in _titles(long)  # 214.6 d: days, as before


TITAN = {"model": {"preset": "llama3.1-8b"},
         "training": {"seq_len": 8192, "global_batch": 512, "tokens": 2.0e11,
                      "framework": {"name": "TorchTitan", "compile": True}},
         "constraints": {"gpus": ["H100-SXM-80GB"], "clouds": ["aws"]}}


def test_the_sidebar_sets_the_training_stack():
    """The stack moves every plan's step time and memory (planner.model.stacks), yet the page had no input for it:
    an ML lead comparing Megatron-Core with torchtitan or the HF Trainer had to edit and upload a file. The sidebar's
    "training stack" starts at the job's own (its options kept while it is chosen), "default" where the job leaves
    it out, and "auto" is recommend's search over the stacks."""
    w = wi.inputs_from_job(wi.build_job(TITAN, None))
    assert w.framework == "torchtitan"
    own = wi.build_job(TITAN, w).training.framework
    assert (own.name, own.compile) == ("torchtitan", True)  # the job's section, its options kept
    other = wi.build_job(TITAN, w.replace(framework="deepspeed")).training.framework
    assert (other.name, other.compile) == ("deepspeed", None)  # another stack at its own defaults
    assert wi.build_job(TITAN, w.replace(framework=None)).training.framework is None
    assert wi.build_job(TITAN, w.replace(framework="auto")).training.framework.name == "auto"
    preset = wi.preset_base("llama3-8b")
    assert wi.inputs_from_job(wi.build_job(preset, None)).framework is None
    # the widget's words: "default" is the field left out, "auto" the field's own value
    assert wi.widget_value("framework", None) == wi.STACK_DEFAULT and "auto" in wi.STACK_CHOICES
    assert wi.field_value(wi.STACK_DEFAULT, "framework") is None and wi.field_value("auto", "framework") == "auto"
    assert wi.field_value("auto") is None  # the other selectboxes' auto is still "searched"


def test_the_recompute_method_inputs_follow_the_chosen_stack():
    """Megatron's --recompute-method / --recompute-num-layers are shown for a stack that runs them: the chosen one,
    not the job's; a stack the job cannot run shows none (its error is the page's, from build_job)."""
    preset = wi.preset_base("llama3-8b")
    assert wi.partial_recompute(wi.with_stack(preset, None))  # the default stack, Megatron-Core
    assert not wi.partial_recompute(wi.with_stack(preset, "torchtitan"))
    assert wi.partial_recompute(wi.with_stack(TITAN, "megatron-core"))
    assert not wi.partial_recompute(wi.with_stack(TITAN, "torchtitan"))
    w = wi.inputs_from_job(wi.build_job(preset, None)).replace(recompute="full", recompute_method="uniform",
                                                              recompute_num_layers=2)
    assert wi.build_job(preset, w).training.recompute_method == "uniform"
    assert wi.build_job(preset, w.replace(framework="torchtitan")).training.recompute_method is None


def test_the_caption_counts_assumption_lines_not_defaults():
    """The caption under the title read "1 defaults filled in" for the QLoRA example, whose one line is not a default
    (its last step holds the dataset's remainder), and "1 defaults" in the singular."""
    import yaml

    from conftest import EXAMPLES

    base = wi.parse_upload("q.yaml", (EXAMPLES / "qlora-llama3.1-70b.yaml").read_bytes())
    job = _page_job(base)
    assert len(job.assumptions) == 1 and "defaulted" not in job.assumptions[0]
    assert wi.source_caption("q.yaml", job) == "q.yaml: llama3.1-70b · 1 assumption (see 'assumptions and inputs' below)"
    five = _page_job(wi.preset_base("llama3-8b"))
    assert wi.source_caption("preset llama3-8b", five).endswith(" · 5 assumptions (see 'assumptions and inputs' below)")
    bare = wi.build_job(yaml.safe_load("model: {preset: llama3-8b}\ntraining: {seq_len: 2048, global_batch: 512, "
                                       "tokens: 1.0e9, precision: bf16, optimizer: adamw}"), None)
    assert wi.source_caption("j.yaml", bare) == "j.yaml: llama3-8b"
