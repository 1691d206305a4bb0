"""The generic loss's bytes per logit (``LOSS_TRANSIENT_BYTES`` "cast_ce" / "cast_ce_held"), measured: each stack's
cross-entropy as it ships, run on CPU with the same calls (tiny vocabulary x tokens; the allocator's running peak,
calibration.loop.cpu_alloc_peak, and the tensors autograd saves, torch.autograd.graph.saved_tensors_hooks). The peak
per logit of forward + backward is the table's entry + the saved fp32 log-softmax (4 B, ``logits_bytes``)."""
import pytest

from planner.model.activations import LOSS_TRANSIENT_BYTES
from planner.model.memory import memory_per_gpu
from planner.model.stacks import STACKS
from planner.spec import TrainingSpec

from conftest import one_rank_group
from test_memory_validation import _logits_case, _peak_bytes
from test_step_time import LLAMA, cands


def _entry(code, act=2.0):
    one = LOSS_TRANSIENT_BYTES[code][0]
    return one(act) if callable(one) else one


def _hf_for_causal_lm_loss(torch, logits, labels, vocab):
    """transformers loss/loss_utils.py ``ForCausalLMLoss`` (5.x) without ``num_items_in_batch``: the upcast, the
    labels padded with ignore_index and shifted (the logits are not copied), ``fixed_cross_entropy`` (mean)."""
    import torch.nn.functional as F

    logits = logits.float()
    labels = F.pad(labels, (0, 1), value=-100)
    shift_labels = labels[..., 1:].contiguous()
    return F.cross_entropy(logits.view(-1, vocab), shift_labels.view(-1), ignore_index=-100, reduction="mean")


def _saved_unique_bytes(torch, fn):
    """Bytes of the distinct storages autograd saves while ``fn`` builds its graph (what it returns is kept)."""
    seen = {}

    def pack(t):
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return sum(seen.values()), out


def test_hf_trainer_loss_drops_the_logits_before_backward():
    """HF Trainer: ``compute_loss`` returns ``loss`` alone (the model output goes out of scope), then
    ``accelerator.backward(loss)``; transformers' ``ForCausalLMLoss`` on the 16-bit logits. 12 B a logit at the
    backward's peak (the saved fp32 log-softmax, the fp32 NLL gradient, the fp32 log-softmax gradient): the
    "cast_ce" entry 8 + 4 (the old entry, act + 4 = 6, priced 10). What the loss saves is the log-softmax alone
    (4 B a logit; the head GEMM's inputs aside)."""
    torch = pytest.importorskip("torch")
    n, v, x, w, labels = _logits_case(torch)
    head = x.numel() * 2 + w.numel() * 2

    def compute_loss():
        out = {"logits": (x @ w.t()).view(1, n, v)}
        return _hf_for_causal_lm_loss(torch, out["logits"], labels.view(1, n), v)

    saved, _ = _saved_unique_bytes(torch, compute_loss)
    assert (saved - head) / (n * v) == pytest.approx(4.0, rel=0.01)

    def training_step():
        compute_loss().backward()

    assert _peak_bytes(training_step) / (n * v) == pytest.approx(_entry("cast_ce") + 4, rel=0.02)
    assert _entry("cast_ce", 4.0) == _entry("cast_ce", 2.0)  # the gradients are fp32 whatever the logits' dtype


def test_a_loop_that_holds_the_output_pays_the_logits_too():
    """The same loss where the caller keeps the model output through ``backward`` (``out = model(...)``;
    ``out.loss.backward()``): 14 B a logit, "cast_ce_held" (act + 8) + 4."""
    torch = pytest.importorskip("torch")
    n, v, x, w, labels = _logits_case(torch)

    def step():
        out = {"logits": (x @ w.t()).view(1, n, v)}
        _hf_for_causal_lm_loss(torch, out["logits"], labels.view(1, n), v).backward()

    assert _peak_bytes(step) / (n * v) == pytest.approx(_entry("cast_ce_held") + 4, rel=0.02)


@pytest.mark.parametrize("autocast", [True, False])
def test_composer_holds_state_outputs(autocast):
    """llm-foundry under Composer: ``_train_microbatch`` sets ``state.outputs = state.model(batch)``, the model's
    ``loss(state.outputs, batch)`` (MPT: ``CrossEntropyLoss(ignore_index=-100, reduction="none")`` on
    ``outputs.logits.view(-1, V)``, summed and divided), and the backward with ``state.outputs`` still set. The
    cross-entropy is an fp32 op under its bf16 autocast (or an explicit ``.float()``): 14 B a logit."""
    torch = pytest.importorskip("torch")
    n, v, x, w, labels = _logits_case(torch)
    state = {}

    def microbatch():
        state["outputs"] = x @ w.t()
        logits = state["outputs"].view(-1, v)
        loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-100, reduction="none")
        if autocast:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                losses = loss_fn(logits, labels)
        else:
            losses = loss_fn(logits.float(), labels)
        (losses.sum() / n).backward()

    assert _peak_bytes(microbatch) / (n * v) == pytest.approx(_entry("cast_ce_held") + 4, rel=0.02)
    # MPT's ``loss_fn: torch_crossentropy``; as MPT ships (``fused_crossentropy``) the llm-foundry stack runs
    # "xentropy_held" since bigmem37 (tests/test_bigmem37.py)
    assert STACKS["llm-foundry"].loss_code == "xentropy_held"


def test_metaseq_runs_megatrons_loss_on_its_fp32_copy(tmp_path):
    """metaseq's ``vocab_parallel_cross_entropy`` criterion: ``vocab_parallel_cross_entropy(net_output[0].float(),
    target)`` (Megatron's, in place on that copy), the output dropped when the criterion returns: the bf16 logits
    beside the fp32 copy that becomes the saved softmax, 6 B a logit, "megatron_ce" (act) + 4, not the generic
    loss (installed megatron.core on a 1-rank gloo group)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("megatron.core")

    assert STACKS["metaseq"].loss_code == "megatron_ce"
    with one_rank_group(tmp_path, megatron=True):
        from megatron.core.tensor_parallel import vocab_parallel_cross_entropy

        n, v, x, w, labels = _logits_case(torch)

        def criterion():
            net_output = ((x @ w.t()).view(n, 1, v),)
            return vocab_parallel_cross_entropy(net_output[0].float(), labels.view(n, 1)).sum()

        def train_step():
            criterion().backward()

        assert _peak_bytes(train_step) / (n * v) == pytest.approx(_entry("megatron_ce") + 4, rel=0.02)


def test_the_table_says_each_figure_once():
    """The backward's two fp32 gradients are one figure: the generic loss and torchtitan's eager one without TP
    (both drop the logits) share it; the loops that hold the logits (Composer, AutoModel) add act to it."""
    assert _entry("cast_ce") == _entry("torch_ce") == 8.0
    assert _entry("cast_ce_held") == _entry("masked_ce") == 10.0
    assert _entry("cast_ce_held", 4.0) == _entry("masked_ce", 4.0) == 12.0


def test_llm_foundry_memory_prices_the_held_loss():
    """Llama-3-8B, 8 x 8192 tokens, FSDP 8: the logits term beyond what the head saves (``logits_bytes``) is the
    loss's transient, 8 on the generic fsdp stack (was 6); on llm-foundry 10 B a logit with the torch loss held
    (castce36), 0 since bigmem37 with MPT's default fused loss (the held bf16 logits and their bf16 gradient are the
    saved 4: "xentropy_held")."""
    from planner.model.activations import logits_bytes

    c = cands(tp=1, pp=1, dp=8, zero=3, nodes=1)
    t = TrainingSpec(seq_len=8192, global_batch=64, micro_batch=1, precision="bf16", recompute="full")
    saved = float(logits_bytes(LLAMA, 8192, 1))
    for name, per_logit in (("llm-foundry", 0.0), ("fsdp", 8.0)):
        mem = memory_per_gpu(LLAMA, t, c, stack=STACKS[name])
        assert (float(mem["logits"][0]) - saved) / (8192 * LLAMA.vocab) == pytest.approx(per_logit, rel=1e-6), name
