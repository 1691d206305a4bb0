"""Every CDNA 3 (MI300X / MI325X) training step time the repository holds, measured against modelled, by stack and
precision, with the same torchtitan harness on H100 beside it (mi54).

Two sources time whole training steps on CDNA 3:

* ``mi300x`` (benchmarks/data/mi300x_runs.csv, ``validate.mi300x``): Primus / ROCm Megatron-LM with ROCm Transformer
  Engine (FP8 per-tensor delayed scaling on hipBLASLt), four runs on MI325X and one on MI300X.
* torchao's own torchtitan Llama3-8B runs (pytorch/ao torchao/float8/README.md "Training benchmarks" @9519bebb: 8
  GPUs, FSDP2, batch 1, seq 8192, torch.compile, per-op SAC; median tokens/s a GPU): on MI300X bf16 5376.5,
  float8 tensorwise 6166, rowwise_with_gw_hp 6100, rowwise 5891; on H100 (torchtitan's 96 GB / 500 W cluster) bf16
  6150, tensorwise 7689.5, rowwise 6768 (parts/fp8_gemm.csv ``torchao_readme_*``, whose notes hold the tokens/s).
  They are mapped as ``benchmarks/fp8_pairs.py`` maps them (their memory rows ``titan25_ao_*``,
  ``validate_memory.titan_case``; rowwise_with_gw_hp priced as rowwise); before this table only their fp8 / bf16
  ratios were compared, not their absolute steps.

``signed`` is predicted step / measured step - 1 (positive: the planner is slow). ``--gemm-scale G`` prices every
CDNA 3 GEMM at G x its shipped ``gemm_max`` (both precisions: the single AMD GEMM efficiency the mi54 brief asks
about) to show what one such parameter would do to each row; it changes nothing shipped.

Run: ``python benchmarks/cdna3_table.py [--gemm-scale 1.1]``."""
from __future__ import annotations

import re
import sys
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import fp8_pairs as FP  # noqa: E402
from benchmarks import validate as V  # noqa: E402
from benchmarks import validate_memory as VM  # noqa: E402
from hardware_catalog import load_catalog  # noqa: E402
from planner.hardware import efficiency  # noqa: E402

#: the CDNA 3 families whose GEMM fraction ``--gemm-scale`` scales
CDNA3 = ("MI300X", "MI325X")
#: the tokens/s a torchao README row's note states (parts/fp8_gemm.csv ``torchao_readme_*``): its own, the bf16 row's
AO_TPS = re.compile(r"Median tokens/second ([0-9.]+) against the bf16 row's ([0-9.]+)")
#: the stack each mi300x_runs.csv row ran, by its id's prefix
MI300X_STACK = {"mi325x_aac11_primus": "Primus (Megatron-LM, ROCm TE)",
                "mi325x_aac11_megatronlm": "ROCm Megatron-LM (ROCm TE)",
                "mi300x_tprimat_primus": "Primus (Megatron-LM, ROCm TE)"}
COLUMNS = ["source", "gpu", "stack", "precision", "model", "measured_s", "predicted_s", "signed"]


@contextmanager
def cdna3_gemm_scale(scale: float):
    """Every CDNA 3 prior's ``gemm_max`` times ``scale`` inside the block (efficiency.PRIORS, read by
    ``prior_for`` whenever a hardware option is built), restored after."""
    saved = {f: efficiency.PRIORS[f] for f in CDNA3}
    try:
        for f in CDNA3:
            efficiency.PRIORS[f] = saved[f].with_(gemm_max=saved[f].gemm_max * scale)
        yield
    finally:
        efficiency.PRIORS.update(saved)


def mi300x_rows(cat) -> list[dict]:
    """The ``mi300x`` source's rows as ``validate.pr2_rows`` prices them."""
    runs = pd.read_csv(V.MI300X_CSV).set_index("id")
    out = []
    for r in V.pr2_rows(cat, V.MI300X_CSV).itertuples():
        src = runs.loc[r.id]
        out.append(dict(source="mi300x", gpu=r.gpu.split("-")[0], stack=next(v for k, v in MI300X_STACK.items()
                                                                              if r.id.startswith(k)),
                        precision="fp8 delayed" if "_fp8_" in r.id else "bf16", model=src.model,
                        measured_s=r.measured_s, predicted_s=r.predicted_s))
    return out


def torchao_tps() -> dict[str, float]:
    """Memory-row id (``titan25_ao_*``) -> the README's median tokens/s a GPU, from the parts rows' notes."""
    out = {}
    for r in pd.read_csv(FP.FP8_GEMM_CSV).itertuples():
        if not r.id.startswith("torchao_readme_"):
            continue
        own, bf16 = map(float, AO_TPS.search(r.notes).groups())
        gpu, _, recipe = r.id.removeprefix("torchao_readme_").partition("_llama3_8b_")
        out[f"titan25_ao_{gpu}_fp8_{recipe.replace('with_gw_hp', 'gw_hp')}"] = own
        out[f"titan25_ao_{gpu}_bf16"] = bf16
    return out


def torchao_rows(cat) -> list[dict]:
    """torchao's torchtitan Llama3-8B runs: measured step = tokens a GPU a step / the README's tokens/s."""
    tps = torchao_tps()
    out = []
    for r in pd.read_csv(VM.DATA).itertuples():
        if r.id not in tps:
            continue
        gpu = r.id.split("_")[2]
        _, tr, _, _ = VM.titan_case(cat, r._replace(gpu=FP.AO_GPU[gpu]))
        tokens = tr.seq_len * tr.global_batch / int(r.num_gpus)
        recipe = r.id.partition("_fp8_")[2]
        out.append(dict(source="torchao_readme", gpu=gpu.upper(), stack="torchtitan (torchao float8)",
                        precision=f"fp8 {recipe}" if recipe else "bf16", model="Llama3-8B",
                        measured_s=tokens / tps[r.id], predicted_s=FP.ao_step(cat, r)))
    return out


def table(cat=None, gemm_scale: float = 1.0) -> pd.DataFrame:
    """Every row of both sources, CDNA 3 GEMMs at ``gemm_scale`` x the shipped fraction."""
    cat = cat or load_catalog()
    with cdna3_gemm_scale(gemm_scale):
        df = pd.DataFrame(mi300x_rows(cat) + torchao_rows(cat), columns=COLUMNS[:-1])
    df["signed"] = df["predicted_s"] / df["measured_s"] - 1
    return df


def positive_scale(text: str) -> float:
    """``--gemm-scale``'s value: a positive finite number (argparse's type hook; ScriptArgs prints the one line)."""
    from argparse import ArgumentTypeError

    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def main(argv=None) -> None:
    from planner.present.script_args import ScriptArgs  # usage errors as one line, exit 2

    ap = ScriptArgs(description=__doc__.splitlines()[0])
    ap.add_argument("--gemm-scale", type=positive_scale, default=1.0,
                    help="price CDNA 3 GEMMs at this multiple of the shipped gemm_max (a what-if; default 1)")
    a = ap.parse_args(argv)
    df = table(gemm_scale=a.gemm_scale)
    print(df.to_string(index=False, float_format=lambda v: f"{v:.3f}",
                       formatters={"signed": lambda v: f"{v:+.1%}"}))


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        main()
