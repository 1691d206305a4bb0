"""HFU counts the FLOPs the kernels execute (planner/model/flops.py): a causal flash kernel skips the
masked half of the attention scores, so at long sequences the full-count hardware FLOPs passed what
a GPU can do (Llama-3-8B at 1M tokens, CP 8: HFU 105%). MFU keeps PaLM's full count. Hand counts use
the preset's dimensions, written out here."""
import pytest

from planner.model.flops import step_flops
from planner.spec import ModelSpec, load_job_dict
from planner.spec.presets import PRESETS
from planner.workloads.training import estimate_job

S_1M = 1_048_576


def _plan(catalog, model="llama3-8b", seq=S_1M, gb=8, recompute="none", tp=4, cp=8, nodes=32, **fw):
    t = {"seq_len": seq, "global_batch": gb, "micro_batch": 1, "precision": "bf16", "recompute": recompute,
         "tokens": 1e10, "framework": {"name": "megatron-core", "activation_offload": seq > 65536 and recompute == "none", **fw}}
    job = load_job_dict({"model": {"preset": model}, "training": t, "parallel": {"tp": tp, "pp": 1, "cp": cp, "zero": 1},
                         "cluster": {"instance": "aws:p5.48xlarge", "nodes": nodes}})
    return estimate_job(job, catalog)


def test_long_context_hfu_counts_the_executed_causal_half(catalog):
    """Llama-3-8B, 1M tokens, CP 8, no recompute, flash: per token the forward runs the weights,
    2 x 7.50e9 (8.03e9 params less the 0.525e9 input embedding), and the causal half of the attention
    core, 4 L h s / 2 = 2.75e11; backward twice that, plus flash's score recompute, half the executed
    core forward. Full count (MFU): 3 x (1.50e10 + 5.50e11)."""
    p = _plan(catalog)
    tokens = 8 * S_1M
    lin, attn = 2 * (8_030_261_248 - 128256 * 4096), 4 * 32 * 4096 * S_1M
    assert p.flops_per_step == pytest.approx(3 * (lin + attn) * tokens, rel=1e-5)
    assert p.hw_flops_per_step == pytest.approx((3 * (lin + attn / 2) + 0.5 * attn / 2) * tokens, rel=1e-5)
    assert 0 < p.hfu <= 1, p.hfu
    assert p.hfu / p.mfu == pytest.approx(p.hw_flops_per_step / p.flops_per_step, rel=1e-12)


def test_step_time_does_not_move_with_the_flop_count(catalog):
    """Only the reported HFU changed: the full-matrix count (``causal_kernel=False``) gives back the
    old hardware FLOPs, 3 x full forward + flash's half core, and the step keeps its seconds."""
    p = _plan(catalog)
    m = ModelSpec(**PRESETS["llama3-8b"])
    full = float(step_flops(m, S_1M, 8, "none", True, causal_kernel=False)["hardware"])
    assert full > p.hw_flops_per_step
    assert full / p.hw_flops_per_step == pytest.approx(1.649e19 / 8.448e18, rel=2e-3)


def test_unfused_attention_runs_the_full_matrix():
    """Without flash (Megatron's CoreAttention multiplies every score and masks in the softmax) the
    hardware count keeps the full attention; non-causal models (BERT) have no masked half."""
    m = ModelSpec(**PRESETS["llama3-8b"])
    a = step_flops(m, 8192, 4, "full", flash=False)
    b = step_flops(m, 8192, 4, "full", flash=False, causal_kernel=False)
    assert float(a["hardware"]) == float(b["hardware"])
    bert = ModelSpec(**PRESETS["bert-large"])
    assert float(step_flops(bert, 512, 4)["hardware"]) == float(step_flops(bert, 512, 4, causal_kernel=False)["hardware"])


@pytest.mark.parametrize("model,seq,cp,tp,nodes", [("llama3-8b", 8192, 1, 1, 1), ("llama3-8b", 131072, 4, 2, 2),
                                                  ("llama3-8b", S_1M, 8, 4, 32), ("llama3-8b", S_1M, 16, 8, 64),
                                                  ("llama3-70b", 262144, 8, 8, 16)])
@pytest.mark.parametrize("recompute", ["none", "selective", "full"])
def test_hfu_never_passes_peak(catalog, model, seq, cp, tp, nodes, recompute):
    """Property over short to 1M-token contexts, CP 1-16 and every recompute: the executed FLOPs
    over the step's GPU-seconds at peak stay within 100%, and the hardware count holds at least the
    executed model work (the causal half of the attention, everything else in full)."""
    p = _plan(catalog, model, seq, gb=2 * nodes * 8 // (tp * cp), recompute=recompute, tp=tp, cp=cp, nodes=nodes)
    assert 0 < p.hfu <= 1, (model, seq, recompute, p.hfu)
    m = ModelSpec(**PRESETS[model])
    ex = step_flops(m, seq, 1, "none", True, causal_half=True)
    per_seq_exec_model = float(ex["model"])
    n_seq = p.flops_per_step / float(step_flops(m, seq, 1, "none", True)["model"])
    assert p.hw_flops_per_step >= per_seq_exec_model * n_seq * (1 - 1e-9)
