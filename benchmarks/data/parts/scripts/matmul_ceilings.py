"""Builder of the ``maf_*`` rows of ``gemm_efficiency.csv`` (BF16) and ``fp8_gemm.csv`` (FP8): the measured matmul
ceilings the MI300X / MI325X GEMM priors are set from (planner/hardware/efficiency.py ``CDNA3_MAF_TFLOPS``,
``MAMF_FP8_TFLOPS``, ``mamf_prior``), parsed from verbatim copies of the tables in ``raw/``:

* ``raw/amd_maf_part2_table1.md``: AMD's max-achievable-FLOPs table (ROCm blog "Measuring Max-Achievable FLOPs -
  Part 2", 2025-02-28, Table 1): MI300X / MI325X BF16 and FP8 (hipblaslt-bench, the shapes of its Appendix B
  command lines: BF16 4096 x 4864 x 32896, FP8 4096 x 3648 x 32896; trig_float data, rotating 512 MB buffers).
* ``raw/mlengineering_mamf_table.md``: ml-engineering's "Maximum Achievable Matmul FLOPS comparison table" (torch
  matmul, best of a shape search, mean of 100 iterations), the BF16 and FP8 rows of every accelerator with an FP8
  measurement: H100 SXM's pair is the reference both CDNA 3 ceilings are scaled against; the others (GH200, H200,
  B200, B300, GB200, Gaudi 2 / 3; f8gemm47) are the same harness's FP8 / BF16 ratio on each part
  (tests/test_fp8_gemm_band47.py).

Run: ``python benchmarks/data/parts/scripts/matmul_ceilings.py`` (replaces its own rows in the two CSVs, keeps the
rest). tests/test_mamf_priors.py checks the priors against these rows.
"""
import re
from pathlib import Path

from primus_turbo import replace

H = Path(__file__).resolve().parent
D = "2026-12-03"
PREFIX = "maf_"
AMD_SRC = ("ROCm/rocm-blogs blogs/software-tools-optimization/measuring-max-achievable-flops-part2/README.md "
           "(commit 8e011952aebcdc6ad86b42f5ee236136aa8765dd), 'Measuring Max-Achievable FLOPs - Part 2' (2025-02-28), "
           "Table 1")
AMD_URL = ("https://github.com/ROCm/rocm-blogs/blob/8e011952aebcdc6ad86b42f5ee236136aa8765dd/blogs/"
           "software-tools-optimization/measuring-max-achievable-flops-part2/README.md")
AMD_NOTES = ("Max-Achievable FLOPs: hipblaslt-bench on a hipBLASLt branch (db8e93b4, 'a target for the ROCm 6.5 GA "
             "software release'), trig_float initialisation, cold caches (--rotating 512), gpu timer; shape from the "
             "blog's Appendix B command line; median GEMM clock {mhz} MHz (lowest XCD). TFLOP/s as printed (rounded).")
MLE_SRC = ("stas00/ml-engineering compute/accelerator/README.md, 'Maximum Achievable Matmul FLOPS comparison table' "
           "(search-index file id 58395098631)")
MLE_URL = "https://github.com/stas00/ml-engineering/blob/master/compute/accelerator/README.md"
#: hipblaslt-bench shape (m, n, k) per dtype, from the blog's Appendix B commands
AMD_SHAPE = {"bf16": (4096, 4864, 32896), "fp8": (4096, 3648, 32896)}


def amd_rows():
    text = (H / "raw" / "amd_maf_part2_table1.md").read_text()
    out = []
    for gpu, cells in re.findall(r"\| AMD Instinct (MI3\d\dX) \|(.*)\|", text):
        _fp16, bf16, fp8 = (re.match(r"\s*(\d+) TFLOPs \((\d+) MHz\)", c).groups() for c in cells.split("|"))
        for dtype, (tf, mhz) in (("bf16", bf16), ("fp8", fp8)):
            m, n, k = AMD_SHAPE[dtype]
            out.append(dict(id=f"{PREFIX}amd_{gpu.lower()}_{dtype}_{m}x{n}x{k}", gpu=gpu, dtype=dtype, m=m, n=n, k=k,
                            tflops=float(tf), library="hipBLASLt (hipblaslt-bench)",
                            fp8_format="e4m3 fnuz (hipblaslt-bench f8_fnuz_r)", source=AMD_SRC, provenance=AMD_URL,
                            notes=AMD_NOTES.format(mhz=mhz)))
    return out


#: ml-engineering's accelerator name -> (id slug, ``gpu`` column) of its rows
MLE_GPU = {"NVIDIA H100 SXM": ("h100", "H100-SXM"), "NVIDIA H200 SXM": ("h200", "H200-SXM"),
           "NVIDIA GH200 SXM": ("gh200", "GH200-SXM (900 W, 141 GiB HBM3e)"), "NVIDIA B200 SXM": ("b200", "B200-SXM"),
           "NVIDIA B300 SXM": ("b300", "B300-SXM"), "NVIDIA GB200 SXM": ("gb200", "GB200"),
           "Intel Gaudi 2": ("gaudi2", "Gaudi2"), "Intel Gaudi 3": ("gaudi3", "Gaudi3")}
#: the H100 SXM rows were read first (2026-12-03); the others on 2026-12-06 (f8gemm47), from the same file
MLE_READ = {"h100": D}


def mle_rows():
    text = (H / "raw" / "mlengineering_mamf_table.md").read_text()
    out = []
    for dtype, section in zip(("bf16", "fp8"), text.split("**FP8")):
        for line in re.findall(r"^\| (?:NVIDIA|Intel) .*", section, flags=re.M):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            slug, gpu = MLE_GPU[cells[0]]
            m, n, k = map(int, cells[4].split("x"))
            out.append(dict(id=f"{PREFIX}mlengineering_{slug}_{dtype}_{m}x{n}x{k}", gpu=gpu, dtype=dtype, m=m, n=n,
                            k=k, tflops=float(cells[1]), library=f"torch.matmul (torch {cells[5]})", fp8_format="e4m3fn",
                            source=MLE_SRC, provenance=MLE_URL, read_date=MLE_READ.get(slug, "2026-12-06"),
                            notes=(f"MAMF: best shape of a brute-force search, mean of 100 iterations after 50 warm-up; "
                                   f"{cells[3]} of the table's theory {cells[2]}; {dtype.upper()} inputs"
                                   + (" (float8_e4m3fn)" if dtype == "fp8" else "")
                                   + (f"; table note: {cells[6]}" if cells[6] and slug != "h100" else ""))))
    return out


def as_gemm_efficiency(r):
    return dict(id=r["id"], gpu=r["gpu"], library=r["library"], precision="bf16", batch=1, m=r["m"], n=r["n"], k=r["k"],
                tflops=r["tflops"], source=r["source"], provenance=r["provenance"], read_date=r.get("read_date", D),
                notes=r["notes"])


def as_fp8_gemm(r):
    return dict(id=r["id"], kind="gemm", gpu=r["gpu"], precision=f"fp8 {r['fp8_format']}", software=r["library"], batch=1, m=r["m"], n=r["n"],
                k=r["k"], tflops=r["tflops"], num_gpus=1, source=r["source"], provenance=r["provenance"],
                read_date=r.get("read_date", D),
                notes=r["notes"])


if __name__ == "__main__":
    rows = amd_rows() + mle_rows()
    print(replace("gemm_efficiency.csv", PREFIX, [as_gemm_efficiency(r) for r in rows if r["dtype"] == "bf16"]),
          replace("fp8_gemm.csv", PREFIX, [as_fp8_gemm(r) for r in rows if r["dtype"] == "fp8"]))
