"""nar21 (Narayanan et al. 2021 Table 1) as its 2021 code and launch ran it (nar43): fp16 gradients
(examples/sc21/CONFIG.sh: ``--fp16 --loss-scale 8192``, no ``--accumulate-allreduce-grads-in-fp32``) and the weight
gradients accumulated by autograd, one unfused pass over the stage's parameters per micro-batch (Megatron-LM's
mpu/layers.py returns ``grad_output.t().matmul(input)`` as a plain gradient even at @02bb1f5c, early 2022; the fused
``wgrad_gemm_accum_fp32`` came later): ``validate.nar21_training`` and ``validate.NAR21_STACK`` (the ``megatron-lm``
stack with ``gradient_accumulation_fusion: false`` since gaf43). Until nar43 the
rows ran fp32 gradients (no source) on the ``megatron-lm`` entry, whose fusion is the 2022 code's (kor22)."""
from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pandas as pd

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))


def test_the_2021_stack_is_megatron_lm_with_the_unfused_accumulation():
    """NAR21_STACK differs from the megatron-lm entry in the accumulation pass only, set through the stack option
    ``gradient_accumulation_fusion: false`` (gaf43; before it, a private copy with its own sources line); the entry
    itself keeps the later code's fused accumulation, so kor22's rows do not move."""
    import validate as V
    from planner.model.stacks import STACKS
    base = STACKS["megatron-lm"]
    assert V.NAR21_STACK.grad_accum_pass and not base.grad_accum_pass
    differ = {f.name for f in dataclasses.fields(base) if getattr(base, f.name) != getattr(V.NAR21_STACK, f.name)}
    assert differ == {"grad_accum_pass", "given_options"}
    assert V.NAR21_STACK.given_options == {"gradient_accumulation_fusion"}


def test_rows_train_with_the_launch_scripts_fp16_gradients():
    """CONFIG.sh's ``--fp16`` without fp32 gradient accumulation: the 16-bit module's gradients, as the error table
    runs every Table 1 row (fp32 before nar43)."""
    import validate as V
    seen = []
    orig = V.predict_group

    def spy(model, tr, df, hw, **kw):
        if kw.get("framework") is V.NAR21_STACK:
            seen.append((tr.precision, tr.grad_dtype, tr.recompute, tr.flash_attention))
        return orig(model, tr, df, hw, **kw)

    V.predict_group = spy
    try:
        V.published(V.load_catalog())
    finally:
        V.predict_group = orig
    assert seen == [("fp16", "same", "full", False)] * 10


def test_the_pass_is_one_fp16_read_modify_write_per_micro_batch():
    """On the 1T row (TP 8, PP 64, micro-batch 1, 512 micro-batches, two layers a stage) the 2021 stack's backward
    per micro-batch is longer by (m - 1) / m passes of 6 bytes a parameter (read the fp16 .grad and the new
    gradient, write .grad; the first micro-batch's gradient is stolen) over the pacing stage's parameters: two
    layers' 12 h^2 + 13 h over TP 8, plus at most an end stage's embeddings (the word table's V h / 8, the
    positions' s h)."""
    import validate as V
    from planner.hardware.options import efficiency_for
    d = pd.read_csv(ROOT / "benchmarks" / "data" / "dev_published_runs.csv").set_index("id")
    r = d.loc["nar21_t1_1008p0b"]
    model = V.gpt_model(r.layers, r.hidden, r.heads, r.vocab, r.seq_len)
    hw = V.hw_option(V.load_catalog(), "A100-SXM-80GB", 8, 8 * 200.0)
    tr = V.nar21_training(int(r.seq_len), int(r.global_batch_seqs))
    row = pd.DataFrame([dict(tp=8, pp=64, dp=6, vpp=1, zero=0, mb=1, rc=2, sp=False, schedule=0)])
    c = V.Candidates(tp=row.tp.to_numpy(), pp=row.pp.to_numpy(), dp=row.dp.to_numpy(), cp=1, ep=1,
                     vpp=row.vpp.to_numpy(), zero=row.zero.to_numpy(), mb=row.mb.to_numpy(), rc=row.rc.to_numpy(),
                     sp=row.sp.to_numpy(), schedule=np.array([V.SCHEDULE.code["1f1b"]]), gpus_per_node=8, nodes=1)
    got = {k: V.step_time(model, tr, c, hw, framework=f, overlap_grad_reduce=False)
           for k, f in (("2021", V.NAR21_STACK), ("2022", "megatron-lm"))}
    m = float(got["2021"]["num_microbatches"][0])
    assert m == 512
    h, vocab = int(r.hidden), 51200
    layers = 2 * (12 * h * h + 13 * h) / 8
    eff = efficiency_for(hw)
    lo, hi = (eff.memory_time(p * 6.0, hw.gpu.hbm_bw) * (m - 1) / m for p in (layers, layers + vocab * h / 8 + int(r.seq_len) * h))
    delta = float(got["2021"]["t_bwd_mb"][0] - got["2022"]["t_bwd_mb"][0])
    assert lo * 0.999 <= delta <= hi * 1.001, (lo, delta, hi)
    assert float(got["2021"]["t_fwd_mb"][0]) == float(got["2022"]["t_fwd_mb"][0])
