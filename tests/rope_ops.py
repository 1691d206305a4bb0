"""HBM bytes of the eager RoPE forms on real torch ops, counted per q element (compile47's method, shared by
tests/test_fmsrope47.py and tests/test_hf47.py).

A TorchDispatchMode sums, for every op but views, the bytes each tensor it reads or writes addresses (a broadcast,
stride-0 dimension once), over the tensors of at least half q's elements: the per-token rotation tables (read once a
head, ``numel / heads`` elements) are left out in every form alike, the halves ``rotate_half`` slices are kept.
Forms (q is ``(b, s, heads, d)`` bf16; each returns the rotated q, bf16):

* "rope": torchtitan ``apply_rotary_emb`` (2024), the complex multiply;
* "rope_rotation_matrix": foundation-model-stack ``RotaryEmbedding.adjusted_qk``, a 2 x 2 fp32 matrix per pair;
* "rope_rotate_half" / "rope_rotate_half_amp": transformers ``apply_rotary_pos_emb`` on the ``(b, heads, s, d)``
  view the attention hands it (``.view(hidden_shape).transpose(1, 2)``), cos / sin in the stream's dtype (bf16, or
  fp32 under autocast over fp32 weights, then the fp32 result cast to bf16 where the attention takes it)."""
import pytest


def _forms(torch, q, angles, b, s, d):
    def titan():
        cis = torch.polar(torch.ones_like(angles), angles)
        xq = torch.view_as_complex(q.float().reshape(*q.shape[:-1], -1, 2))
        return torch.view_as_real(xq * cis.view(1, s, 1, d // 2)).flatten(3).type_as(q)

    def fms():
        rot = torch.stack([angles.cos(), -angles.sin(), angles.sin(), angles.cos()], dim=2).view(s, d // 2, 2, 2)
        q_ = q.float().view(*q.size()[:-1], -1, 2)
        freqs = rot[torch.arange(s).repeat(b, 1)].float()
        return freqs[:, -q.size(1):, None, :, :, :].mul(q_.unsqueeze(-2)).sum(5).flatten(3).type_as(q)

    def hf(stream):
        def run():
            emb = torch.cat((angles, angles), dim=-1)[None].expand(b, s, d)  # LlamaRotaryEmbedding's emb
            cos, sin = emb.cos().to(stream).unsqueeze(1), emb.sin().to(stream).unsqueeze(1)
            qt = q.transpose(1, 2)
            rotated = torch.cat((-qt[..., d // 2:], qt[..., : d // 2]), dim=-1)  # rotate_half
            out = (qt * cos) + (rotated * sin)
            return out.to(torch.bfloat16).transpose(1, 2)  # a no-op on a bf16 stream
        return run

    return {"rope": titan, "rope_rotation_matrix": fms, "rope_rotate_half": hf(torch.bfloat16),
            "rope_rotate_half_amp": hf(torch.float32)}


def addressed(x) -> int:
    """The elements a tensor's storage really holds for it: an expanded (stride-0) dimension counts once."""
    k = 1
    for size, stride in zip(x.shape, x.stride()):
        k *= size if stride != 0 else 1
    return k


def rope_bytes(form: str, b=2, s=16, heads=8, d=32) -> tuple[float, float]:
    """(forward, backward) HBM bytes per q element of RoPE ``form`` (module docstring)."""
    torch = pytest.importorskip("torch")
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    aten = torch.ops.aten
    views = {aten.view.default, aten.unsqueeze.default, aten.squeeze.dim, aten.expand.default, aten.detach.default,
             aten.alias.default, aten._unsafe_view.default, aten.slice.Tensor, aten.view_as_complex.default,
             aten.view_as_real.default, aten._reshape_alias.default, aten.transpose.int}
    numel, phase, n = b * s * heads * d, ["off"], {"fwd": 0, "bwd": 0}

    class Ops(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if phase[0] != "off" and func not in views:
                ts = [x for x in tree_leaves((args, kwargs or {})) + tree_leaves(out) if isinstance(x, torch.Tensor)]
                n[phase[0]] += sum(addressed(x) * x.element_size() for x in ts if 2 * addressed(x) >= numel)
            return out

    angles = torch.randn(s, d // 2)
    q = torch.randn(b, s, heads, d, dtype=torch.bfloat16, requires_grad=True)
    grad = torch.randn(b, s, heads, d, dtype=torch.bfloat16)
    run = _forms(torch, q, angles, b, s, d)[form]
    with Ops():
        phase[0] = "fwd"
        out = run()
        phase[0] = "bwd"
        out.backward(grad)
        phase[0] = "off"
    return n["fwd"] / numel, n["bwd"] / numel
