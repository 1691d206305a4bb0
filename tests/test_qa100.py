"""QA 100: small items of session 51. PP 1 plans' memory caption named a "first pipeline stage" of their one stage;
TP 1 plans' stack line said ``tp_overlap=te``; the DDP stacks' line left out ``channels_last``; ``--emit torchrun``
of a pytorch-ddp transformer plan wrote a Megatron line; a padded run's throughput counted padding unsaid; the app had
no ``cuda_module_loading`` control. Each test fails on the code before QA 100 but the guards named in their docstrings."""
from __future__ import annotations

from conftest import answered, write_job

TRAIN = {"model": {"name": "tiny", "layers": 4, "hidden": 512, "heads": 8, "vocab": 32000},
         "training": {"seq_len": 1024, "global_batch": 64, "tokens": 1e9, "precision": "bf16"},
         "cluster": {"gpu": "H100-SXM-80GB", "nodes": 1}}
RESNET = {"model": {"preset": "resnet50"}, "training": {"global_batch": 256, "micro_batch": 32, "precision": "bf16",
                                                       "optimizer": "sgd", "steps": 100},
          "cluster": {"gpu": "H100-SXM-80GB", "nodes": 1}}


def _estimate(cli, tmp_path, job) -> dict:
    return answered(cli("estimate", write_job(tmp_path, job), "--json"))


def _stack_line(d: dict) -> str:
    return next(a for a in d["assumptions"] if a.startswith("training stack:"))


def _memory_caption(res: dict) -> str:
    from planner.present.terminal import memory_table

    return str(memory_table(res).caption)


def test_a_pp1_plan_says_every_rank_holds_the_same_memory(tmp_path, cli):
    """At PP 1 there is one stage: "first pipeline stage" named a stage among none; the caption says what holds."""
    d = _estimate(cli, tmp_path, dict(TRAIN, parallel={"tp": 1, "pp": 1}))
    cap = _memory_caption(d)
    assert "first pipeline stage" not in cap and "every rank alike (PP 1" in cap, cap


def test_a_pipelined_plan_still_names_its_stage(tmp_path, cli):
    """Guard (passes on the old code too): at PP 2 the caption names the stage that peaks."""
    d = _estimate(cli, tmp_path, dict(TRAIN, parallel={"tp": 1, "pp": 2}))
    assert f"most loaded rank: {d['memory_per_gpu_bytes']['most_loaded_stage']} pipeline stage" in _memory_caption(d)


def test_the_stack_line_has_no_tp_overlap_at_tp1(tmp_path, cli):
    """TP 1 has no TP collective for Transformer Engine's overlap to hide; TP 2 keeps it (the guard half)."""
    tp1 = _stack_line(_estimate(cli, tmp_path, dict(TRAIN, parallel={"tp": 1})))
    tp2 = _stack_line(_estimate(cli, tmp_path, dict(TRAIN, parallel={"tp": 2})))
    assert tp1.startswith("training stack: megatron-core (") and "tp_overlap" not in tp1, tp1
    assert "tp_overlap=te" in tp2, tp2


def test_the_ddp_stack_line_says_channels_last_on_a_convnet(tmp_path, cli):
    """pytorch-ddp / dle-convnets hold the memory-format switch, which moves a CNN's step: the line says it."""
    for stack, value in (("pytorch-ddp", True), ("dle-convnets", False)):
        job = dict(RESNET, training=dict(RESNET["training"], framework={"name": stack, "channels_last": value}))
        line = _stack_line(_estimate(cli, tmp_path, job))
        assert f"channels_last={'on' if value else 'off'}" in line, line


def test_a_transformer_ddp_line_has_no_channels_last(tmp_path, cli):
    """Guard (passes on the old code too): on a transformer the switch acts on nothing and is not listed."""
    job = dict(TRAIN, training=dict(TRAIN["training"], framework={"name": "pytorch-ddp"}))
    assert "channels_last" not in _stack_line(_estimate(cli, tmp_path, job))


def _torchrun(cli, tmp_path, job, fmt: str = "torchrun") -> tuple[str, list[str]]:
    """``recommend --emit`` of ``job``: the text and the launch line's arguments (torchrun's parser)."""
    import shlex

    code, out, err = cli("recommend", write_job(tmp_path, job), "--emit", fmt)
    assert code == 0, err
    line = " ".join(ln.rstrip("\\ ") for ln in out.splitlines() if not ln.startswith("#"))
    return out, shlex.split(line[line.index("torchrun"):])


def test_a_pytorch_ddp_transformer_launches_the_users_script(tmp_path, cli):
    """Plain torch DDP runs the user's own script: the launch is torchrun of ``$TRAIN_SCRIPT`` with the plan's batch,
    accumulation and ZeroRedundancyOptimizer, not Megatron-LM's pretrain_gpt.py (read by torchrun's own parser)."""
    from torch.distributed.run import get_args_parser

    job = dict(TRAIN, training=dict(TRAIN["training"], framework={"name": "pytorch-ddp"}, micro_batch=2),
               parallel={"zero": 1})
    out, argv = _torchrun(cli, tmp_path, job)
    assert "# launcher style: script" in out and "pretrain_gpt" not in out and "priced for" not in out, out
    args = get_args_parser().parse_args(argv[1:])
    flags = dict(zip(args.training_script_args[::2], args.training_script_args[1::2]))
    assert args.training_script == "$TRAIN_SCRIPT" and int(args.nproc_per_node) == 8
    assert (flags["--micro-batch-size"], flags["--global-batch-size"], flags["--gradient-accumulation-steps"],
            flags["--seq-len"]) == ("2", "64", "4", "1024"), flags  # 64 = 2 x 4 x DP 8
    assert "--zero-redundancy-optimizer" in args.training_script_args


def test_a_forced_script_style_is_checked_against_ddps_rules(tmp_path, cli):
    """``--emit torchrun:script`` runs plain DDP's rules: a ZeRO-3 plan (DDP: ZeRO-0/1) is refused in one line."""
    from conftest import refused

    job = dict(TRAIN, parallel={"zero": 3})
    msg = refused(cli("recommend", write_job(tmp_path, job), "--emit", "torchrun:script"))
    assert msg.startswith("error: --emit: ") and "ZeRO" in msg, msg


def test_a_megatron_core_plan_still_launches_megatron(tmp_path, cli):
    """Guard (passes on the old code too): the Megatron-Core stack keeps its pretrain_gpt.py line."""
    out, _ = _torchrun(cli, tmp_path, dict(TRAIN, parallel={"zero": 1}))
    assert "# launcher style: megatron" in out and "pretrain_gpt.py" in out


PADDED = {"model": {"name": "tiny", "layers": 4, "hidden": 512, "heads": 8, "vocab": 32000},
          "training": {"seq_len": 2048, "global_batch": 64, "tokens": 1e8, "precision": "bf16", "packing": "padded",
                       "mean_example_tokens": 512},
          "cluster": {"gpu": "H100-SXM-80GB", "nodes": 1}}


def test_a_padded_runs_throughput_says_positions_and_real_tokens(tmp_path, cli):
    """Padded rows (512 of 2,048 positions real): the rate counts positions; the line and the JSON say so and give
    the real rate, a quarter of it, which times the run's steps makes the run's real tokens."""
    from planner.present.terminal import summary_table

    d = _estimate(cli, tmp_path, PADDED)
    assert d["padding_share"] == 0.75 and abs(d["real_tokens_per_s"] - d["tokens_per_s"] / 4) < 1e-6 * d["tokens_per_s"]
    assert abs(d["real_tokens_per_s"] * d["step_time_s"] * d["cost"]["steps"] - d["cost"]["tokens"]) < 1e-6 * 1e8
    cells = {str(r): None for r in summary_table(d).columns[1]._cells}
    line = next(c for c in cells if "/s (" in c)
    assert "of row positions, 75% padding" in line and f"{d['real_tokens_per_s']:,.0f} real tokens/s" in line, line


def test_a_packed_runs_throughput_is_unchanged(tmp_path, cli):
    """Guard (passes on the old code too): packed rows have no padding, no second rate and no new JSON field."""
    d = _estimate(cli, tmp_path, dict(PADDED, training=dict(PADDED["training"], packing="packed")))
    assert "padding_share" not in d and "real_tokens_per_s" not in d


def test_the_app_sets_cuda_module_loading_where_the_stack_has_it():
    """The sidebar draws ``cuda_module_loading`` (lazy / eager) for a CUDA stack, starting at lazy; eager is the plan's
    stack line (the CUDA context's 1.04 GiB more). TPU stacks hold no such switch: no control (the unit half)."""
    from app_page import open_page, page_text
    from planner import interactive as wi

    assert "cuda_module_loading" not in {c.option for c in wi.stack_controls(wi.preset_base("llama3-8b"), "maxtext")}
    at = open_page()
    sel = at.selectbox(key="w_stackopt_cuda_module_loading")
    assert (list(sel.options), sel.value) == (["lazy", "eager"], "lazy")
    sel.set_value("eager").run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    assert "cuda_module_loading=eager (every kernel module loaded at start" in page_text(
        " ".join(m.value for m in at.markdown))
