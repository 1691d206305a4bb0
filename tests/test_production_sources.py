"""The production sources' mapping (benchmarks/validate.py, published_runs_2.csv README §3)."""
from planner.model.pipeline import pipeline_timing, stage_orders


def _deepspeed_step(step: int, s: int, pp: int) -> tuple[str, int]:
    """What stage ``s`` computes at step ``step`` of DeepSpeed's ``TrainSchedule`` (deepspeed/runtime/pipe/schedule.py
    ``_step_to_micro_batch``): on even steps even stages run a forward and odd stages a backward, on odd steps the
    reverse, with the micro-batch ids of ``_even_step_forward_id`` / ``_odd_step_forward_id`` /
    ``_even_step_backward_id`` / ``_odd_step_backward_id`` (an id outside [0, m) computes nothing)."""
    even_step, even_stage = step % 2 == 0, s % 2 == 0
    if even_step and even_stage:
        return "F", step // 2 - s // 2
    if not even_step and not even_stage:
        return "F", (step - 1) // 2 - s // 2
    if even_step and not even_stage:
        return "B", step // 2 - pp + (s + 1) // 2
    return "B", (step - 1) // 2 - pp + 1 + s // 2


def _deepspeed_train_schedule(pp: int, m: int) -> list[list[tuple[str, int, int]]]:
    """Each stage's compute instructions in DeepSpeed's ``TrainSchedule.steps`` order: ``2 (m + pp - 1)`` steps of
    ``_deepspeed_step``."""
    orders = []
    for s in range(pp):
        steps = (_deepspeed_step(step, s, pp) for step in range(2 * (m + pp - 1)))
        orders.append([(kind, mb, 0) for kind, mb in steps if 0 <= mb < m])
    return orders


def _deepspeed_train_commands(pp: int, m: int) -> list[list[tuple[str, int, int | None]]]:
    """Each stage's whole instruction stream as ``TrainSchedule.steps`` yields it, exchanges included: a forward
    step first sends the previous step's input gradient back (``SendGrad``) and then receives its activation
    (``RecvActivation``); a backward step first receives its output gradient (``RecvGrad``) and only then sends the
    activation the previous (forward) step produced (``SendActivation``, deferred by one step); then the compute.
    Entries are (instruction, micro-batch, peer stage)."""
    out = []
    for s in range(pp):
        ops, prev = [], -1
        for step in range(2 * (m + pp - 1)):
            kind, mb = _deepspeed_step(step, s, pp)
            if kind == "F" and s > 0:
                ops += [("SendGrad", prev, s - 1)] if 0 <= prev < m else []
                ops += [("RecvActivation", mb, s - 1)] if 0 <= mb < m else []
            if kind == "B" and s < pp - 1:
                ops += [("RecvGrad", mb, s + 1)] if 0 <= mb < m else []
                ops += [("SendActivation", prev, s + 1)] if 0 <= prev < m else []
            ops += [(kind, mb, None)] if 0 <= mb < m else []
            prev = mb
        out.append(ops)
    return out


def _rendezvous_makespan(cmds, t_f, t_b) -> float:
    """Replay of per-stage instruction streams where every send blocks until its peer posts the matching receive
    (the 2021 engine's p2p: a NCCL broadcast in a two-rank group, stream-ordered on both sides) and costs nothing
    else; ``t_f`` / ``t_b`` per stage."""
    peer_of = {"SendGrad": "RecvGrad", "RecvGrad": "SendGrad",
               "SendActivation": "RecvActivation", "RecvActivation": "SendActivation"}
    pc, clock = [0] * len(cmds), [0.0] * len(cmds)
    while any(pc[s] < len(cmds[s]) for s in range(len(cmds))):
        moved = False
        for s, ops in enumerate(cmds):
            while pc[s] < len(ops):
                op, mb, peer = ops[pc[s]]
                if op in ("F", "B"):
                    clock[s] += t_f[s] if op == "F" else t_b[s]
                elif pc[peer] < len(cmds[peer]) and cmds[peer][pc[peer]] == (peer_of[op], mb, s):
                    clock[s] = clock[peer] = max(clock[s], clock[peer])
                    pc[peer] += 1
                else:
                    break
                pc[s] += 1
                moved = True
        assert moved, "deadlock"
    return max(clock)


def test_deepspeed_train_schedule_is_1f1b():
    """The megatron-deepspeed stack is timed with the 1F1B schedule: DeepSpeed's pipeline engine
    runs each stage's forwards and backwards in exactly that order (p - s forwards, then one
    backward and one forward alternately, then the remaining backwards), so its makespan is
    (m + p - 1)(t_f + t_b) (Narayanan et al. 2021, PipeDream-Flush)."""
    for pp, m in ((2, 4), (4, 8), (5, 3), (8, 32), (35, 240)):
        assert _deepspeed_train_schedule(pp, m) == stage_orders("1f1b", pp, m)
    t = pipeline_timing(pp=35, m=240, t_f=1.0, t_b=3.0, schedule="1f1b").makespan
    assert abs(t - (240 + 34) * 4.0) < 1e-9


def test_deepspeed_exchanges_add_no_bubble_with_a_heavier_last_stage():
    """The megatron-deepspeed rows (MT-NLG at PP 35, BLOOM at PP 12) are timed as 1F1B with the last stage (the LM
    head) pacing (``pipeline_timing``'s ``t_lighter``). DeepSpeed's engine exchanges differently from Megatron's
    batched 1F1B: one blocking partner a command, the activation send deferred behind the next step's gradient
    receive. Replayed as the engine issues them, the exchanges change nothing: the makespan is the 1F1B one."""
    for pp, m in ((35, 160), (12, 128), (4, 8)):
        t_f, t_b = [1.0] * pp, [3.0] * pp
        t_f[-1], t_b[-1] = 1.15, 3.3  # the head's forward and backward on the last stage
        got = _rendezvous_makespan(_deepspeed_train_commands(pp, m), t_f, t_b)
        want = pipeline_timing(pp=pp, m=m, t_f=1.15, t_b=3.3, schedule="1f1b", t_lighter=0.45).makespan
        assert abs(got - want) < 1e-6 * want


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
