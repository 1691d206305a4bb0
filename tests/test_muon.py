"""Muon (planner.model.optimizers): state bytes against torch's own Muon + AdamW state dicts on tiny
torch models, Newton-Schulz FLOPs against FlopCounterMode on torch's implementation, a CLI
estimate, and the one-line refusal of stacks without Muon (layout rules: tests/test_stack_rules.py)."""
import numpy as np
import pytest

from planner.errors import InputError
from planner.layout import Candidates
from planner.model import optimizers
from planner.model.memory import memory_per_gpu
from planner.spec import ModelSpec, TrainingSpec
from conftest import answered, invoke_app, write_job

torch = pytest.importorskip("torch")
if not hasattr(torch.optim, "Muon"):
    pytest.skip("torch.optim.Muon needs torch >= 2.9", allow_module_level=True)

DENSE = dict(family="decoder", layers=2, hidden=64, heads=4, kv_heads=2, ffn_hidden=96, vocab=100, mlp="swiglu",
             norm="rmsnorm", tied_embeddings=False, position="rope")
MOE = dict(DENSE, family="moe", ffn_hidden=32, dense_ffn_hidden=96,
           moe=dict(experts=4, top_k=2, shared_experts=1, shared_ffn_hidden=48, first_dense=1))
MTP = dict(MOE, mtp_layers=1)  # DeepSeek-V3's multi-token prediction, one module


class _MLP(torch.nn.Module):
    def __init__(self, h, f):
        super().__init__()
        self.gate, self.up, self.down = torch.nn.Linear(h, f, bias=False), torch.nn.Linear(h, f, bias=False), \
            torch.nn.Linear(f, h, bias=False)

    def forward(self, x):
        return self.down(torch.nn.functional.silu(self.gate(x)) * self.up(x))


class _Block(torch.nn.Module):
    """A Llama block as its modelling code lays out the parameters (GQA q/k/v/o, SwiGLU, two RMSNorm
    weights) with, for MoE, a router, routed experts and a shared expert."""

    def __init__(self, s, moe: bool):
        super().__init__()
        h, d = s["hidden"], s["hidden"] // s["heads"]
        self.n1, self.n2 = torch.nn.Parameter(torch.ones(h)), torch.nn.Parameter(torch.ones(h))
        self.q, self.k = torch.nn.Linear(h, h, bias=False), torch.nn.Linear(h, s["kv_heads"] * d, bias=False)
        self.v, self.o = torch.nn.Linear(h, s["kv_heads"] * d, bias=False), torch.nn.Linear(h, h, bias=False)
        self.rep = s["heads"] // s["kv_heads"]
        self.moe = moe
        if moe:
            e = s["moe"]
            self.router = torch.nn.Linear(h, e["experts"], bias=False)
            self.experts = torch.nn.ModuleList(_MLP(h, s["ffn_hidden"]) for _ in range(e["experts"]))
            self.shared = _MLP(h, e["shared_ffn_hidden"])
        else:
            self.mlp = _MLP(h, s.get("dense_ffn_hidden") or s["ffn_hidden"])

    def forward(self, x):
        a = x * self.n1
        v = self.v(a).repeat_interleave(self.rep, -1)
        x = x + self.o(torch.softmax(self.q(a) @ self.k(a).repeat_interleave(self.rep, -1).transpose(1, 2), -1) @ v)
        b = x * self.n2
        if not self.moe:
            return x + self.mlp(b)
        w = torch.softmax(self.router(b), -1)
        return x + self.shared(b) + sum(w[..., i:i + 1] * e(b) for i, e in enumerate(self.experts))


class _MTP(torch.nn.Module):
    """One DeepSeek-V3 MTP module as Megatron-Core's MultiTokenPredictionLayer holds it: enorm, hnorm, eh_proj
    (2h -> h), one (MoE) transformer block and its final norm; the embedding and head are the model's."""

    def __init__(self, s):
        super().__init__()
        h = s["hidden"]
        self.enorm, self.hnorm, self.norm = (torch.nn.Parameter(torch.ones(h)) for _ in range(3))
        self.eh_proj = torch.nn.Linear(2 * h, h, bias=False)
        self.block = _Block(s, "moe" in s)

    def forward(self, x, e):
        return self.block(self.eh_proj(torch.cat([x * self.hnorm, e * self.enorm], -1))) * self.norm


class _Tiny(torch.nn.Module):
    def __init__(self, s):
        super().__init__()
        first = s.get("moe", {}).get("first_dense", s["layers"])
        self.emb = torch.nn.Embedding(s["vocab"], s["hidden"])
        self.blocks = torch.nn.ModuleList(_Block(s, i >= first) for i in range(s["layers"]))
        self.norm = torch.nn.Parameter(torch.ones(s["hidden"]))
        self.head = torch.nn.Linear(s["hidden"], s["vocab"], bias=False)
        self.mtp = torch.nn.ModuleList(_MTP(s) for _ in range(s.get("mtp_layers", 0)))

    def forward(self, ids):
        x = self.emb(ids)
        for b in self.blocks:
            x = b(x)
        out = self.head(x * self.norm)
        for k, mod in enumerate(self.mtp, 1):  # depth k: the hidden state with the embedding of token t + k
            x = mod(x, self.emb(ids.roll(-k, 1)))
            out = out + self.head(x)
        return out


def _torch_state_bytes(spec) -> int:
    """Bytes of the state torch's Muon (2-D hidden weights) and AdamW (embedding, head, norms) keep
    after one step, read off their state dicts (the step counters are not per-parameter state)."""
    torch.manual_seed(0)
    model = _Tiny(spec)
    hidden = [p for n, p in model.named_parameters() if p.ndim == 2 and not n.startswith(("emb", "head"))]
    ids = {id(p) for p in hidden}
    rest = [p for p in model.parameters() if id(p) not in ids]
    opts = [torch.optim.Muon(hidden, lr=0.02), torch.optim.AdamW(rest, lr=3e-4)]
    model(torch.randint(0, spec["vocab"], (2, 8))).float().mean().backward()
    for o in opts:
        o.step()
    return sum(v.numel() * v.element_size() for o in opts for st in o.state_dict()["state"].values()
               for k, v in st.items() if k != "step" and torch.is_tensor(v))


@pytest.mark.parametrize("spec", [DENSE, MOE, MTP], ids=["dense", "moe", "mtp"])
def test_state_bytes_match_torch_muon_with_adamw(spec):
    """The optimizer term of memory_per_gpu (fp32: no master copy; one rank) is the bytes torch's Muon
    and AdamW hold: one momentum per hidden matrix, two moments per other parameter. With an MTP module its
    eh_proj and block are hidden matrices (Muon's), its three norms AdamW's: until 2026-12-04 the module's dense
    weights were AdamW's, 8 B a parameter instead of 4: 753,664 B here against torch's 633,856."""
    m = ModelSpec(**spec)
    t = TrainingSpec(seq_len=8, global_batch=2, precision="fp32", optimizer="muon")
    c = Candidates(tp=np.array([1]), pp=1, dp=1, cp=1, ep=1, vpp=1, zero=0, mb=1, rc=0, sp=False, schedule=0,
                   gpus_per_node=1, nodes=1)
    planner = float(memory_per_gpu(m, t, c)["optimizer"][0])
    assert planner == pytest.approx(_torch_state_bytes(spec), rel=1e-9)
    adam = float(memory_per_gpu(m, t.model_copy(update={"optimizer": "adamw"}), c)["optimizer"][0])
    assert planner < adam


@pytest.mark.parametrize("shape", [(64, 64), (48, 160), (160, 48), (7, 200)])
def test_newton_schulz_flops_match_flopcounter(shape):
    """ns_flops = 5 (4 s^2 l + 2 s^3) against FlopCounterMode on torch's Newton-Schulz and on a whole
    torch.optim.Muon step (whose only matmuls are the Newton-Schulz ones)."""
    from torch.optim._muon import DEFAULT_A, DEFAULT_B, DEFAULT_C, DEFAULT_NS_STEPS, EPS, _zeropower_via_newtonschulz
    from torch.utils.flop_counter import FlopCounterMode

    g = torch.randn(*shape)
    with FlopCounterMode(display=False) as fc:
        _zeropower_via_newtonschulz(g, (DEFAULT_A, DEFAULT_B, DEFAULT_C), DEFAULT_NS_STEPS, EPS)
    assert fc.get_total_flops() == optimizers.ns_flops(*shape)
    p = torch.nn.Parameter(torch.randn(*shape))
    p.grad = torch.randn(*shape)
    opt = torch.optim.Muon([p])
    with FlopCounterMode(display=False) as fc:
        opt.step()
    assert fc.get_total_flops() == optimizers.ns_flops(*shape)
    assert DEFAULT_NS_STEPS == optimizers.NS_STEPS


def test_cli_estimate_with_muon(tmp_path):
    """`planner estimate` accepts training.optimizer: muon: less optimizer memory than AdamW, a longer
    optimizer step (Newton-Schulz) and, on Megatron, the all-reduce and synchronous all-gather."""
    def run(opt):
        job = write_job(tmp_path, "model: {preset: llama3-8b}\n"
                        f"training: {{seq_len: 8192, global_batch: 256, precision: bf16, optimizer: {opt}, "
                        "recompute: selective, tokens: 1.0e12}\n"
                        "parallel: {tp: 2, pp: 1, cp: 1, zero: 1, sequence_parallel: true}\n"
                        "cluster: {instance: aws:p5.48xlarge, nodes: 2}\n", f"{opt}.yaml")
        return answered(invoke_app("estimate", job, "--json"))

    mu, ad = run("muon"), run("adamw")
    assert mu["memory_per_gpu_bytes"]["optimizer"] < ad["memory_per_gpu_bytes"]["optimizer"]
    assert mu["breakdown_s"]["optimizer"] > 5 * ad["breakdown_s"]["optimizer"]
    assert mu["breakdown_s"]["comm_dp"] > ad["breakdown_s"]["comm_dp"]
    assert mu["step_time_s"] > ad["step_time_s"]


@pytest.mark.parametrize("stack", ["deepspeed", "hf-trainer", "llm-foundry", "metaseq", "megatron-lm"])
def test_stacks_without_muon_refuse_in_one_line(stack):
    from planner.model.stacks import from_training

    t = TrainingSpec(seq_len=8, global_batch=2, optimizer="muon", framework={"name": stack})
    with pytest.raises(InputError) as e:
        from_training(t)
    assert e.value.field == "training.optimizer" and "Muon" in str(e.value) and "\n" not in str(e.value)
    from_training(t.model_copy(update={"optimizer": "adamw"}))  # the stack itself is fine


def test_megatron_muon_runs_without_overlapped_param_gather():
    """Megatron-Core's layer-wise Muon all-gathers inside step(): the resolved stack says
    overlap_param_gather off (what every output prints), an explicit on is refused in one line, and
    torchtitan's DistMuon keeps its own setting."""
    from planner.model.stacks import from_training

    t = TrainingSpec(seq_len=8, global_batch=2, optimizer="muon", framework={"name": "megatron-core"})
    assert from_training(t).overlap_param_gather is False
    assert "overlap_param_gather=off" in from_training(t).describe()
    assert from_training(t.model_copy(update={"optimizer": "adamw"})).overlap_param_gather is True
    on = TrainingSpec(seq_len=8, global_batch=2, optimizer="muon",
                      framework={"name": "megatron-core", "overlap_param_gather": True})
    with pytest.raises(InputError) as e:
        from_training(on)
    assert e.value.field == "training.framework.overlap_param_gather" and "\n" not in str(e.value)
    titan = TrainingSpec(seq_len=8, global_batch=2, optimizer="muon", framework={"name": "torchtitan"})
    assert from_training(titan) == from_training(titan.model_copy(update={"optimizer": "adamw"}))


def test_layer_wise_newton_schulz_splits_over_data_parallel_ranks():
    """Megatron's layer-wise Muon (ZeRO-1) runs each whole matrix on one data-parallel rank: the busiest
    rank's Newton-Schulz is about 1/dp of every rank doing all of it (ZeRO-0), never less than one
    matrix; MoE experts split over the expert grid (vectorised over layouts, replicated router included)."""
    from planner.hardware.efficiency import PRIORS
    from planner.spec.presets import PRESETS

    for name in ("llama3-8b", "qwen3-30b-a3b"):
        m = ModelSpec(**PRESETS[name])
        impl = optimizers.IMPLEMENTATIONS["megatron"]
        blocks = {k: np.array([n, n]) for k, n in optimizers.whole_model_blocks(m).items()}
        args = (m, impl, PRIORS["H100"], 989e12, 3.35e12, blocks, np.array([1.0, 1.0]),
                np.array([1.0, 1.0]), np.array([1.0, 1.0]), np.array([8.0, 8.0]), np.array([8.0, 8.0]))
        z0, z1 = optimizers.stage_ns_time(*args, np.array([0, 1]), 15e-6)
        assert 6.0 < z0 / z1 <= 8.0


@pytest.mark.parametrize("stack,tp,zero,expect", [
    ("megatron-core", 2, 1, "--optimizer dist_muon"),   # Megatron-LM arguments.py --optimizer choices
    ("megatron-core", 2, 0, "--optimizer muon"),
    ("torchtitan", 1, 3, "DistMuon"),  # a config_registry optimizer (no CLI flag; DistMuon needs TP 1): in the header
])
def test_emit_launches_muon(tmp_path, cli, stack, tp, zero, expect):
    job = tmp_path / "job.yaml"
    job.write_text("model: {preset: llama3-8b}\n"
                   f"training: {{seq_len: 8192, global_batch: 256, optimizer: muon, tokens: 1.0e10, framework: {stack}}}\n"
                   f"parallel: {{tp: {tp}, pp: 1, cp: 1, zero: {zero}}}\n"
                   "cluster: {instance: aws:p5.48xlarge, nodes: 2}\n")
    code, out, err = cli("recommend", job, "--emit", "torchrun")
    assert code == 0, err
    assert expect in out
    if stack == "torchtitan":
        assert "--use-distributed-optimizer" not in out and "# set $TITAN_CONFIG" in out
