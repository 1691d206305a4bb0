"""NeMo AutoModel as its benchmark configs run it (validate.automodel, 2026-12-03 accauto): torch.optim's foreach
Adam (``Stack.optimizer_foreach``, step_time.OPTIMIZER_BYTES_FOREACH) and the pipeline stages AutoPipeline builds from
a config's ``layers_per_stage`` (validate.automodel_virtual_stages)."""
import sys
from dataclasses import replace

import pandas as pd
import pytest

from planner.model import stacks
from planner.model.step_time import OPTIMIZER_BYTES_FOREACH, OPTIMIZER_BYTES_PER_PARAM, step_time
from planner.spec import ModelSpec, TrainingSpec
from conftest import ROOT
from test_step_time import cands, hw_for

sys.path.insert(0, str(ROOT / "benchmarks"))


def _foreach_step_bytes(opt_name: str, n: int = 4096, dtype=None, **kw) -> float:
    """HBM bytes per parameter one step of torch.optim's foreach Adam / AdamW moves, counted op by op with a
    TorchDispatchMode on real torch ops (the second step: the first creates the state): every op touching a
    parameter-sized tensor reads each distinct such input once and writes its output, or its first argument when
    it works in place (the ``_foreach_*_`` ops return nothing). ``dtype``: the parameters' (default fp32)."""
    torch = pytest.importorskip("torch")
    from torch.utils._python_dispatch import TorchDispatchMode

    p = torch.nn.Parameter(torch.randn(n, dtype=dtype))
    p.grad = torch.randn(n, dtype=dtype)
    opt = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[opt_name]([p], lr=1e-3, foreach=True, **kw)
    opt.step()
    total = [0.0]

    def sized(xs):
        xs = xs if isinstance(xs, (list, tuple)) else [xs]
        return [x for x in xs if isinstance(x, torch.Tensor) and x.numel() == n]

    class Count(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            reads = {id(x): x for a in list(args) + list(kwargs.values()) for x in sized(a)}
            written = sized(args[0]) if func.overloadpacket.__name__.endswith("_") else sized(out)
            total[0] += sum(x.numel() * x.element_size() for x in list(reads.values()) + written) / n
            return out

    with Count():
        opt.step()
    return total[0]


def test_foreach_adam_bytes_are_what_torch_runs():
    """OPTIMIZER_BYTES_FOREACH is what torch's multi-tensor Adam moves (weight_decay 0, as AutoModel's configs set)
    and AdamW (its decoupled decay one more pass); the fused kernel's 32 is less than either."""
    assert OPTIMIZER_BYTES_FOREACH["adam"] == _foreach_step_bytes("adam", weight_decay=0.0)
    assert OPTIMIZER_BYTES_FOREACH["adamw"] == _foreach_step_bytes("adamw", weight_decay=0.01)
    assert all(OPTIMIZER_BYTES_FOREACH[k] > OPTIMIZER_BYTES_PER_PARAM[k] for k in OPTIMIZER_BYTES_FOREACH)


def test_automodel_prices_the_foreach_step(catalog):
    """nemo-automodel (``torch.optim.Adam`` from the config, no ``fused``) runs the foreach path; the registry's
    other entries keep the fused one. On the same job the optimizer term grows by the byte ratio (less the fixed
    launches both pay) and nothing else changes."""
    assert {n for n, s in stacks.STACKS.items() if s is not None and s.optimizer_foreach} == {"nemo-automodel"}
    m = ModelSpec(name="tiny", layers=2, hidden=1024, heads=8, ffn_hidden=4096, vocab=32000)
    hw = hw_for(catalog)
    t = TrainingSpec(seq_len=2048, global_batch=8, micro_batch=1, precision="bf16", optimizer="adam")
    on = stacks.resolve("nemo-automodel")
    a, b = (step_time(m, t, cands(dp=8, zero=3), hw, framework=s) for s in (replace(on, optimizer_foreach=False), on))
    launches = 8 * hw.eff.launch_s
    assert (b["optimizer"][0] - launches) / (a["optimizer"][0] - launches) == pytest.approx(72.0 / 32.0, rel=1e-9)
    assert b["step_time_s"][0] - a["step_time_s"][0] == pytest.approx(b["optimizer"][0] - a["optimizer"][0], rel=1e-9)


def test_automodel_pp_rows_run_the_configs_stages(catalog):
    """The PP rows run the stages AutoPipeline builds from their configs' ``layers_per_stage``: ceil(layers /
    layers_per_stage) stages rounded down to a multiple of PP (``round_virtual_stages_to_pp_multiple: down``), so
    pp x vpp stages hold every layer with at most layers_per_stage + 1 each; the rows without PP stay at one."""
    import validate

    rows = pd.read_csv(ROOT / "benchmarks" / "data" / "automodel_runs.csv")
    seen = {}
    for r in rows.itertuples():
        c = validate.pr2_case(catalog, r).candidates
        pp, vpp = int(c.pp[0]), int(c.vpp[0])
        if pp == 1:
            assert vpp == 1 and r.pp_layers_per_stage != r.pp_layers_per_stage, r.id
            continue
        lps = int(r.pp_layers_per_stage)
        stages = -(-int(r.layers) // lps)
        assert pp * vpp <= stages < pp * (vpp + 1), r.id
        assert int(r.layers) <= pp * vpp * (lps + 1), r.id
        seen[r.id.rsplit("_", 2)[0].split("h100_")[1] + "_" + r.id.rsplit("_", 1)[1]] = vpp
    # DeepSeek-V3 1024 (4 a stage, PP 4), DeepSeek-V3 256 (2, PP 4), Kimi K2 (2, PP 8): the table prints 8 / 8 / 4
    assert seen == {"deepseek-v3_1024": 4, "deepseek-v3_256": 7, "kimi-k2_256": 3}


def test_automodel_rows_train_with_the_configs_adam(catalog):
    """Every row whose config is linked trains with ``torch.optim.Adam`` (the ``optimizer`` column); Llama 3 70B,
    whose config the page does not link, keeps the AdamW default."""
    import validate

    rows = pd.read_csv(ROOT / "benchmarks" / "data" / "automodel_runs.csv")
    for r in rows.itertuples():
        t = validate.pr2_case(catalog, r).training
        assert t.optimizer == ("adamw" if "llama" in r.id else "adam"), r.id
