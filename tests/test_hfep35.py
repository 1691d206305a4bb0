"""hfep35: the HF code's split weights, saves and DeepSeek-V2/V3 plans (docs/qa_log.md "QA 43", hfep34's left list).
hfep35 read an older transformers revision that applied ``base_model_ep_plan`` alone under EP (attention, embedding,
head, routers and shared experts whole, every rank all T x top_k expert rows); its tests of that plan were retired at
hfep52 (transformers 5.23 keeps the TP plan on all but the experts: tests/test_hfep52.py). What stays: a split plan's
saves share, DeepSpeed's AutoTP leaving the 3-D experts whole (it swaps nn.Linear only), TRL's default packing
truncating long examples as ``packing: packed`` does, the eager bias gradients and walked gradients per plan."""
from __future__ import annotations

import json

from conftest import write_job

JOB = """
model: {preset: %s}
training: {mode: lora, seq_len: %d, global_batch: 32, precision: bf16, dataset_samples: 40000,
           mean_example_tokens: 3000, packing: packed, epochs: 2, framework: hf-trainer%s}
parallel: {tp: %d, ep: %d, etp: %d, dp: %d, zero: %d}
cluster: {instance: aws:p5.48xlarge, nodes: 2}
"""


def _run(cli, tmp_path, preset, tp, ep, dp, zero=3, seq=8192, extra=""):
    job = JOB % (preset, seq, extra, tp, ep, tp if ep == 1 else 1, dp, zero)  # ETP per rule hf-etp
    code, text, err = cli("estimate", write_job(tmp_path, job, name=f"{preset}-{tp}-{ep}-{zero}.yaml"), "--json")
    assert code == 0, err
    return json.loads(text)


def test_llama4_split_attention_whole_moe_half():
    """A plan that splits attention and the dense MLP (the Llama 4 plan hfep34 read from another revision; transformers
    5.23 has none, rule ``hf-no-ep-plan``, hfmoe52): its share sits between the TP plan's and 1, and is the attention
    half at the TP share plus the MoE half whole."""
    from planner.model import moe as moe_mech
    from planner.model.memory_activations import hf_attention_saves_share, hf_ep_rank_share, hf_tp_share
    from planner.spec import ModelSpec
    from planner.spec.presets import PRESETS

    m = ModelSpec(**PRESETS["llama4-scout"])
    plan = moe_mech.HfTpPlan(True, True, "a plan splitting attention and the dense MLP", moe=False)
    a = hf_attention_saves_share(m, 4096, 1, "bf16", "sdpa")
    ep = hf_ep_rank_share(m, 4096, 1, 4.0, 0, plan, a)
    tp = float(hf_tp_share(m, 4096, 1, 4.0, False, 0))
    assert tp < ep < 1.0, (tp, ep)
    assert hf_ep_rank_share(m, 4096, 1, 4.0, 2, plan, a) == 1.0  # checkpointing: the layer input, whole


def test_deepseek_runs_its_experts_only_plan(cli, tmp_path):
    """DeepSeek-V2-Lite LoRA at TP2: its base_model_ep_plan (configuration_deepseek_v2.py) takes the routed experts
    only and its TP plan splits MLA, which transformers 5.23 keeps under EP: the attention time at EP2 is the TP2
    one, and the stack line names the EP dispatch. hfep34 read no DeepSeek plan; hfep35-hfep52 ran MLA whole at EP2
    (an older revision applying the EP plan alone)."""
    from planner.model import moe as moe_mech

    for fam in ("deepseek_v2", "deepseek_v3"):
        assert f"configuration_{fam}.py" in moe_mech.HF_EP_PLANS[fam]
    tp2, ep2 = (_run(cli, tmp_path, "deepseek-v2-lite", 2, ep, 8, seq=4096) for ep in (1, 2))
    a1, a2 = tp2["breakdown_s"]["compute_attention"], ep2["breakdown_s"]["compute_attention"]
    assert abs(a2 / a1 - 1.0) < 1e-9, (a1, a2)
    assert any("ep_dispatch_experts" in a for a in ep2["assumptions"])

def test_eager_bias_gradients_follow_the_attention_split():
    """gpt-oss's q/k/v biases: their gradient reductions run on the attention's split (whole under its EP plan)."""
    from planner.model.layer_ops import eager_hf_layer_bytes
    from planner.spec import ModelSpec
    from planner.spec.presets import PRESETS

    m = ModelSpec(**PRESETS["gpt-oss-20b"])
    whole = eager_hf_layer_bytes(m, 2.0, False, 4.0, 1.0, atp=1.0)[1]
    split = eager_hf_layer_bytes(m, 2.0, False, 4.0, 1.0)[1]
    assert abs((whole - split) - 2.0 * (m.q_dim + 2 * m.kv_dim) * 0.75) < 1e-6, (whole, split)


DS_JOB = """
model: {preset: qwen3-30b-a3b}
training: {mode: lora, seq_len: 4096, global_batch: 32, precision: bf16, dataset_samples: 40000,
           mean_example_tokens: 3000, packing: packed, epochs: 1, framework: %s}
parallel: {tp: 2, dp: 8%s}
cluster: {instance: aws:p5.48xlarge, nodes: 2}
"""


def test_deepspeed_autotp_leaves_the_experts_whole(cli, tmp_path):
    """DeepSpeed's AutoTP swaps nn.Linear modules only (module_inject/auto_tp.py), and transformers 5 keeps a layer's
    experts as 3-D parameters: at TP2 every rank holds and runs all 128 experts (expert-TP 1, rule ds-autotp-etp),
    with no all-reduce after them. hfep34 took the HF Trainer's expert-TP = TP: Qwen3-30B-A3B LoRA TP2 ZeRO-2 held
    30.29 GiB of weights a GPU where it holds 57.29 GiB, and priced the MoE layers' all-reduce (comm_tp 0.048 s,
    now 0.024)."""
    code, text, err = cli("estimate", write_job(tmp_path, DS_JOB % ("deepspeed", ", zero: 2"), name="ds.yaml"),
                          "--json")
    assert code == 0, err
    ds = json.loads(text)
    assert ds["config"]["etp"] == 1
    assert any("ds-autotp-etp" in a for a in ds["assumptions"])
    code, text, err = cli("estimate", write_job(tmp_path, DS_JOB % ("hf-trainer", ", zero: 3"), name="hf.yaml"),
                          "--json")
    assert code == 0, err
    hf = json.loads(text)
    assert hf["config"]["etp"] == 2  # transformers' TP plan splits them (packed_colwise)
    assert ds["breakdown_s"]["comm_tp"] < 0.6 * hf["breakdown_s"]["comm_tp"], (ds["breakdown_s"], hf["breakdown_s"])
    code, _, err = cli("estimate", write_job(tmp_path, DS_JOB % ("deepspeed", ", zero: 2, etp: 2"), name="ds2.yaml"),
                       "--json")
    assert code == 2 and "parallel.etp" in err and "nn.Linear" in err, err


def test_a_long_packed_example_is_truncated_as_trl_bfd_does(cli, tmp_path):
    """TRL's default SFT packing ("bfd", trl/data_utils.py _pack_bfd) keeps the first max_length tokens of an example
    and drops the rest; "bfd_split" and "wrapped" keep every token. The truncation note names both (it named neither)."""
    job = """
model: {preset: llama3.1-8b}
training: {mode: lora, seq_len: 4096, global_batch: 32, dataset_samples: 1000, mean_example_tokens: 9000,
           packing: packed, epochs: 1, framework: hf-trainer}
cluster: {instance: aws:p5.48xlarge, nodes: 1}
"""
    code, text, err = cli("estimate", write_job(tmp_path, job, name="trl.yaml"), "--json")
    assert code == 0, err
    note = next(a for a in json.loads(text)["assumptions"] if "is truncated to" in a)
    assert "'bfd' truncates" in note and "'bfd_split'" in note, note


def test_walked_gradients_follow_the_plan():
    """A full fine-tune's walked step holds each rank's weight gradients as it holds the weights: under Qwen3-MoE's
    EP plan the 1.54B whole parameters' gradients are whole (hfep34: all over TP). DeepSpeed TP4 EP4 ZeRO-1, 8,192
    tokens: 3/4 x 1.54B x 2 bytes more (102.24 -> 104.40 GiB of activations, the walk holding the .grad tensors)."""
    from planner.model import moe as moe_mech
    from planner.model.memory_activations import hf_grad_share
    from planner.model.stacks import STACKS
    from planner.spec import ModelSpec
    from planner.spec.params import count_params
    from planner.spec.presets import PRESETS

    m = ModelSpec(**PRESETS["qwen3-30b-a3b"])
    ds, pc = STACKS["deepspeed"], count_params(m)
    whole = float(moe_mech.hf_ep_whole_params(m, ds, 4, 4))
    # AutoTP's routers and norms whole (autoep53; until then 0 on the deepspeed stack and code 0's share 0.25)
    assert whole == 12_793_856
    assert abs(hf_grad_share(m, ds, 4.0, 0) - (whole + (pc.total - whole) / 4) / pc.total) < 1e-12
    assert abs(hf_grad_share(m, ds, 4.0, 1) - (whole + (pc.total - whole) / 4) / pc.total) < 1e-12
    experts = m.moe.experts * pc.expert * pc.n_moe_layers
    assert abs(hf_grad_share(m, ds, 2.0, 2) - (experts + whole + (pc.total - experts - whole) / 2) / pc.total) < 1e-12
