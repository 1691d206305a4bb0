"""The production sources' mapping (benchmarks/validate.py, published_runs_2.csv README §3)."""
from planner.model.pipeline import pipeline_timing, stage_orders


def _deepspeed_train_schedule(pp: int, m: int) -> list[list[tuple[str, int, int]]]:
    """Each stage's compute instructions in DeepSpeed's ``TrainSchedule.steps`` order
    (deepspeed/runtime/pipe/schedule.py): ``2 (m + pp - 1)`` steps; on even steps even stages run
    a forward and odd stages a backward, on odd steps the reverse, with the micro-batch ids of
    ``_even_step_forward_id`` / ``_odd_step_forward_id`` / ``_even_step_backward_id`` /
    ``_odd_step_backward_id``; steps whose id is outside [0, m) compute nothing."""
    orders = []
    for s in range(pp):
        ops = []
        for step in range(2 * (m + pp - 1)):
            even_step, even_stage = step % 2 == 0, s % 2 == 0
            if even_step and even_stage:
                kind, mb = "F", step // 2 - s // 2
            elif not even_step and not even_stage:
                kind, mb = "F", (step - 1) // 2 - s // 2
            elif even_step and not even_stage:
                kind, mb = "B", step // 2 - pp + (s + 1) // 2
            else:
                kind, mb = "B", (step - 1) // 2 - pp + 1 + s // 2
            if 0 <= mb < m:
                ops.append((kind, mb, 0))
        orders.append(ops)
    return orders


def test_deepspeed_train_schedule_is_1f1b():
    """The megatron-deepspeed stack is timed with the 1F1B schedule: DeepSpeed's pipeline engine
    runs each stage's forwards and backwards in exactly that order (p - s forwards, then one
    backward and one forward alternately, then the remaining backwards), so its makespan is
    (m + p - 1)(t_f + t_b) (Narayanan et al. 2021, PipeDream-Flush)."""
    for pp, m in ((2, 4), (4, 8), (5, 3), (8, 32), (35, 240)):
        assert _deepspeed_train_schedule(pp, m) == stage_orders("1f1b", pp, m)
    t = pipeline_timing(pp=35, m=240, t_f=1.0, t_b=3.0, schedule="1f1b").makespan
    assert abs(t - (240 + 34) * 4.0) < 1e-9


def test_bloom_partition_as_its_launch_states():
    """BLOOM-176B's tr11 launch passes ``--pp-partition-method 'type:transformer|embedding'`` (validate
    ``PR2_PP_PARTITION``): its row is priced on that split -- stage 0 the embedding and 5 layers, the last stage 5
    layers and the head -- not GPT2ModelPipe's default, which leaves 6 layers beside the embedding; MT-NLG states
    none and keeps the default."""
    import sys
    from pathlib import Path

    import pandas as pd

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import validate as V
    from planner.model.pipeline import deepspeed_stage_layers, split_runtime

    rows = {r.id: r for r in pd.read_csv(V.PR2_CSV).itertuples()}
    bloom = rows["bloom_176b_384"]
    fw = V.row_stack("megatron-deepspeed", V.pr2_options(bloom, "megatron-deepspeed"))
    assert fw.pp_partition_method == "type:transformer+embedding"
    assert deepspeed_stage_layers(split_runtime(fw), 70, 12) == (5,) + (6,) * 10 + (5,)
    mtnlg = V.row_stack("megatron-deepspeed", V.pr2_options(rows["mtnlg_530b_2240"], "megatron-deepspeed"))
    assert mtnlg.pp_partition_method is None


def _pr2_row(rid: str):
    import sys

    import pandas as pd

    from conftest import ROOT
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import validate

    return validate, next(r for r in pd.read_csv(validate.PR2_CSV).itertuples() if r.id == rid)


def test_opt_175b_layout_is_metaseqs_launch():
    """OPT-175B's row leaves the batch, micro-batch and recompute empty and says "FSDP": metaseq's launcher
    (metaseq/launcher/opt_baselines.py, opt_job_constants.py) states them: model parallel 8, ``--ddp-backend
    fully_sharded --no-reshard-after-forward`` (ZeRO-2), ``--checkpoint-activations``, ``--update-freq 1`` with
    the 2M-token batch over DP 124: 8 sequences a GPU, 992 a step. (Before: Korthikanti's 280-per-replica fallback,
    34,720 sequences, micro-batch 1, no recompute, ZeRO-3.)"""
    from hardware_catalog import load_catalog

    validate, r = _pr2_row("opt_175b_992")
    case = validate.pr2_case(load_catalog(), r)
    c = case.candidates
    got = dict(tp=int(c.tp[0]), dp=int(c.dp[0]), mb=int(c.mb[0]), zero=int(c.zero[0]))
    assert got == dict(tp=8, dp=124, mb=8, zero=2)
    assert (case.training.global_batch, case.training.recompute, case.training.precision) == (992, "full", "fp16")


def test_zero_stage_words():
    """FSDP kept gathered between forward and backward is ZeRO-2; other FSDP ZeRO-3; ZeRO / distributed
    optimizer / BLOOM's sharded bf16 optimizer ZeRO-1; Megatron-Bridge's ``FSDP=0`` none."""
    validate, _ = _pr2_row("opt_175b_992")
    words = {"fsdp (fairscale) --no-reshard-after-forward": 2, "fsdp (fairscale) + megatron tp": 3, "fsdp=0": 0,
             "deepspeed zero (stage not confirmed here)": 1, "bf16 optimizer that shards optimizer state": 1, "ddp": 0}
    assert {w: validate.pr2_zero(w) for w in words} == words
