"""The CUDA runtime's own reserve by era (ctx51): a runtime that loads every kernel module at start (CUDA < 11.7, or
torch < 1.13 without ``CUDA_MODULE_LOADING=LAZY``) holds a larger context than today's lazy one
(planner.hardware.cuda_runtime ``CUDA_RUNTIME_FIGURES``, ``EAGER_CONTEXT_BYTES``; ``Stack.cuda_module_loading``).
bert53: the eager context is charged in place of today's, no longer on top of it (tests/test_bert53.py)."""
import json
from dataclasses import replace

import pandas as pd
import pytest

from benchmarks.validate_memory import DATA, HF_EAGER_MODULES, hf_case
from conftest import write_job
from hardware_catalog import load_catalog
from planner.model import stacks
from planner.hardware.cuda_runtime import CUDA_RUNTIME_FIGURES, EAGER_CONTEXT_BYTES
from planner.model.memory import CUDA_CONTEXT_BYTES, GiB, memory_per_gpu, runtime_reserve

HF_EAGER_JOB = """
model: {preset: bert-large}
training: {seq_len: 512, global_batch: 4, micro_batch: 4, tokens: 2048000, precision: fp32,
           framework: {name: hf-trainer%s}}
cluster: {gpu: V100-SXM2-16GB, gpus_per_node: 1, nodes: 1}
parallel: {tp: 1, pp: 1, cp: 1, zero: 0}
"""


def test_eager_figures_are_the_published_ones():
    # 1343 MiB on the HF page (torch 1.10, V100, nvidia-smi); 287,047,680 B under CUDA_MODULE_LOADING=LAZY
    # (pytorch/pytorch#86509)
    assert CUDA_RUNTIME_FIGURES["eager_context_hf"].nbytes == 1343 * 2**20
    assert CUDA_RUNTIME_FIGURES["lazy_context_pr"].nbytes == 287_047_680
    # every figure names its era and where it is printed; the lazy ones are below the eager ones
    assert all(f.era and f.source for f in CUDA_RUNTIME_FIGURES.values())
    lazy = [f.nbytes for f in CUDA_RUNTIME_FIGURES.values() if f.era == "lazy"]
    eager = [f.nbytes for f in CUDA_RUNTIME_FIGURES.values() if f.era == "eager"]
    assert max(lazy) < min(eager)


@pytest.mark.parametrize("gpu, extra", [("V100-SXM2-16GB", EAGER_CONTEXT_BYTES - CUDA_CONTEXT_BYTES),
                                        ("H100-SXM-80GB", EAGER_CONTEXT_BYTES - CUDA_CONTEXT_BYTES),
                                        ("MI300X-192GB", 0.0)])
def test_reserve_by_module_loading(gpu, extra):
    lazy = stacks.resolve("hf-trainer")
    eager = replace(lazy, cuda_module_loading="eager")
    assert lazy.cuda_module_loading == "lazy"  # today's runtime, the default
    assert runtime_reserve(gpu, lazy)[1] == CUDA_CONTEXT_BYTES
    # CUDA's figure on a CUDA part; ROCm's HIP context has none measured
    assert runtime_reserve(gpu, eager)[1] == CUDA_CONTEXT_BYTES + extra


def test_hf_rows_are_priced_on_the_eager_runtime():
    cat = load_catalog()
    r = next(pd.read_csv(DATA).query("id.str.startswith(@HF_EAGER_MODULES[0])").itertuples())
    model, tr, c, st = hf_case(cat, r)
    assert st.cuda_module_loading == "eager"
    old = memory_per_gpu(model, tr, c, stack=replace(st, cuda_module_loading="lazy"))
    new = memory_per_gpu(model, tr, c, stack=st)
    for k in ("outside_allocator", "other", "total"):  # outside the caching allocator: nvidia-smi sees it
        assert float(new[k][0] - old[k][0]) == pytest.approx(EAGER_CONTEXT_BYTES - CUDA_CONTEXT_BYTES), k
    assert float(new["activations"][0]) == float(old["activations"][0])


def test_job_on_the_eager_runtime_prints_its_reserve(cli, tmp_path):
    def run(opt):
        code, out, err = cli("estimate", write_job(tmp_path, HF_EAGER_JOB % opt), "--json")
        assert code == 0, err
        return json.loads(out)

    eager, lazy = run(", cuda_module_loading: eager"), run("")
    line = next(a for a in eager["assumptions"] if a.startswith("training stack: hf-trainer"))
    assert "cuda_module_loading=eager" in line and f"context {EAGER_CONTEXT_BYTES / GiB:.2f} GiB" in line, line
    assert not any("cuda_module_loading" in a for a in lazy["assumptions"])
    moved = eager["memory_per_gpu_bytes"]["other"] - lazy["memory_per_gpu_bytes"]["other"]
    assert moved == pytest.approx(EAGER_CONTEXT_BYTES - CUDA_CONTEXT_BYTES)
    assert eager["stack"]["cuda_module_loading"] == "eager"  # the record reads back as the job's framework


def test_option_refused_off_cuda_and_outside_its_words(cli, tmp_path):
    from test_fuzz_cli import ERROR_LINE

    code, out, err = cli("estimate", write_job(tmp_path, HF_EAGER_JOB % ", cuda_module_loading: sometimes"))
    assert code == 2 and ERROR_LINE.match(err.strip()) and "training.framework.cuda_module_loading" in err, err
    tpu = """
model: {preset: llama3-8b}
training: {seq_len: 4096, global_batch: 64, micro_batch: 1, tokens: 1.0e9, precision: bf16,
           framework: {name: maxtext, cuda_module_loading: eager}}
cluster: {gpu: TPU-v5p, gpus_per_node: 4, nodes: 4}
parallel: {tp: 1, pp: 1, cp: 1, zero: 3}
"""
    code, out, err = cli("estimate", write_job(tmp_path, tpu))
    assert code == 2 and "maxtext has no CUDA runtime" in err and "Traceback" not in err, err
