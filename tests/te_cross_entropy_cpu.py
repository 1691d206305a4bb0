"""Transformer Engine's Triton cross-entropy kernel (transformer_engine/pytorch/triton/cross_entropy.py, copied by NeMo
AutoModel as loss/triton/te_cross_entropy.py) re-implemented on CPU with the same in-place writes and saved tensors,
for the allocator-peak checks of tests/test_chunkce37.py (AutoModel's ``TEParallelCrossEntropy``) and
tests/test_tece37.py (Megatron-Core's ``--cross-entropy-fusion-impl te``). One copy, so that the two checks of the
"te_parallel_ce" memory row measure the same kernel.

The forward runs the online-softmax pass a block of ``rows`` rows at a time (the max and the sum, 3 fp32 numbers a
row in ``m_d_X_y``), writes the per-token fp32 loss and the gradient over the 16-bit input in place, and saves the
input; the backward scales that gradient in place (``element_mul_kernel``) and returns the input's storage as it.
"""


def te_cross_entropy(torch, n: int, rows: int = 4, per_token_grad: bool = False, save_stats: bool = False):
    """The kernel as an autograd Function over ``n`` rows of logits. ``per_token_grad``: the backward scales each row
    by its own ``grad_output`` (no reduction, as Megatron-Core calls it); otherwise by ``grad_output``'s first
    element (the reduced loss, as AutoModel's class calls it). ``save_stats``: ``m_d_X_y`` is saved beside the input
    (Megatron-Core's check keeps it to the backward)."""

    class TECrossEntropy(torch.autograd.Function):
        @staticmethod
        def forward(ctx, inp, target):
            loss_1d = torch.zeros(n, dtype=torch.float32)
            m_d = torch.zeros(n * 3, dtype=torch.float32)
            with torch.no_grad():
                for s in range(0, n, rows):
                    blk = inp[s:s + rows].float()
                    mx = blk.amax(-1)
                    d = torch.exp(blk - mx[:, None]).sum(-1)
                    m_d[s:s + rows], m_d[n + s:n + s + rows] = mx, d
                    xy = blk.gather(1, target[s:s + rows, None]).squeeze(1)
                    loss_1d[s:s + rows] = -(xy - mx - d.log())
                    g = torch.exp(blk - mx[:, None]) / d[:, None]
                    g.scatter_add_(1, target[s:s + rows, None], torch.full((blk.shape[0], 1), -1.0))
                    inp[s:s + rows] = g.to(inp.dtype)  # the gradient over the logits (in place)
            ctx.save_for_backward(inp.detach(), *((m_d,) if save_stats else ()))
            return loss_1d

        @staticmethod
        def backward(ctx, grad_output):
            inp = ctx.saved_tensors[0]
            with torch.no_grad():
                for s in range(0, n, rows):  # element_mul_kernel, in place
                    inp[s:s + rows] *= (grad_output[s:s + rows, None].to(inp.dtype) if per_token_grad
                                        else grad_output.reshape(-1)[0])
            return inp, None

    return TECrossEntropy
