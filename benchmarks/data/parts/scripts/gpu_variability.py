"""Builder of ``benchmarks/data/parts/gpu_variability.csv``: published spread of sustained performance between
identical GPUs (one SKU) of one cluster or cloud, with how each source defines its "variation", for the
straggler mechanism (a synchronous step waits for its slowest chip; README "Weak scaling across sources").

Sources (read 2026-12-01 via the search index; values copied as printed):

* Sinha, Guliani, Jain, Tran, Sinclair, Venkataraman, "Not All GPUs Are Created Equal: Characterizing
  Variability in Large-Scale, Accelerator-Rich Systems", SC'22 / arXiv:2208.11035. The arXiv abstract (read from
  the tomesphere.com and arxivlens.com copies of it): Summit, Vortex, Frontera, Longhorn (V100; Frontera's GPU
  subsystem is Quadro RTX 5000) and Corona (MI60), "over 18,800 hours of data across more than 90% of the GPUs",
  applications that stress different components (SGEMM, ResNet-50, BERT, LAMMPS, PageRank), "8% (max 22%)
  average performance variation", "outliers up to 1.5 times slower than median". The SC'22 proceedings page's
  abstract of the same paper (4 clusters, 100,000 hours) prints "32% (max 72%)": a different definition or data
  set that the page does not state; not used.
  How "variation" is computed: the group's artifact (hal-uw/gpu_variability_sc22_artifact @bc84e72e,
  plot_script/plot_aggregated.py, the normalised per-GPU performance of ResNet-50 / BERT / PageRank on Frontera
  and Longhorn) computes ``range = q3 + 1.5 * iqr - (q1 - 1.5 * iqr); percent_variability = range/q2 * 100``:
  the span of the Tukey fences, 4 x IQR, over the median, so the outliers beyond the fences are not in it
  (the lines are commented out in that file; taken as the paper's definition, which the abstract does not print).
  Converted: for a normal spread IQR = 1.349 sigma, so 4 IQR = 5.396 sigma; 8% -> sigma 1.48%, 22% -> 4.08%.
* Silicon Data / College of William & Mary / Jefferson Lab cloud survey (reported by IEEE Spectrum, read from a
  secondary copy): SiliconMark on 3,500 GPUs of 11 NVIDIA models at 11 cloud providers, "for 259 H100 PCIe GPUs,
  computing performance varied by up to 34.5%", "for 253 H200 SXM GPUs, memory bandwidth varied by up to 38%".
  Ranges over providers (cooling, configuration, power caps differ), not one cluster's chips; not used.

Not found (searched 2026-12-01): a per-chip spread of A100 / H100 / H200 / B200 / GB200 training throughput
within one cluster; the ICPP'22 study of 856 P100 / V100 / A100 devices ("Analyzing Performance and
Power-Efficiency Variations among NVIDIA GPUs") prints no figure in its abstract and its body was not found; the
Perlmutter / Frontier longitudinal study (Wei, Pradeep, Bhatele, IPDPS'26) is about run-to-run variability of
whole jobs; PAL (Jain et al., SC'24, arXiv:2408.11919) reuses the V100 / RTX 5000 measurements.

Run: ``python benchmarks/data/parts/scripts/gpu_variability.py`` (rewrites the CSV).
"""
from pathlib import Path

from parts_csv import write_csv

OUT = Path(__file__).resolve().parents[1] / "gpu_variability.csv"
READ = "2026-12-01"
SINHA = ("Sinha et al., 'Not All GPUs Are Created Equal: Characterizing Variability in Large-Scale, "
         "Accelerator-Rich Systems', SC'22 / arXiv:2208.11035, abstract")
SINHA_URL = "https://arxiv.org/abs/2208.11035 (abstract copies: https://tomesphere.com/paper/2208.11035)"
ARTIFACT = ("definition: hal-uw/gpu_variability_sc22_artifact @bc84e72e77297d2e6750d1ec18951fe536744eac "
            "plot_script/plot_aggregated.py (percent_variability = (Q3 + 1.5 IQR - (Q1 - 1.5 IQR)) / median)")
TUKEY = 4 * 1.349  # the Tukey-fence span in standard deviations of a normal spread
CLUSTERS = "Summit, Vortex, Longhorn (V100); Frontera (Quadro RTX 5000); Corona (MI60)"
SPECTRUM = ("Silicon Data / William & Mary / Jefferson Lab cloud GPU survey (SiliconMark), as reported by IEEE "
            "Spectrum")
SPECTRUM_URL = ("https://xeber.world/en/article/why-renting-gpus-for-ai-work-is-like-playing-the-silicon-lottery-"
                "21b0d7 (secondary copy of the IEEE Spectrum report)")

COLUMNS = ("id", "gpu", "clusters", "num_gpus", "benchmark", "metric", "definition", "value", "unit",
           "sigma_pct_derived", "used", "source", "provenance", "read_date", "notes")

ROWS = [
    dict(id="sinha_sc22_arxiv_mean_variation", gpu="V100; Quadro RTX 5000; MI60", clusters=CLUSTERS, num_gpus="",
         benchmark="SGEMM, ResNet-50, BERT, LAMMPS, PageRank (the artifact's experiments)", metric="average performance variation",
         definition="Tukey-fence span / median = 4 IQR / median", value=8, unit="%",
         sigma_pct_derived=round(8 / TUKEY, 3), used="yes: the per-chip spread sigma (README 'Weak scaling across sources')",
         source=SINHA, provenance=SINHA_URL + "; " + ARTIFACT, read_date=READ,
         notes="'more than 90% of the GPUs' of each cluster, 18,800 hours. sigma = value / 5.396 assumes a normal "
               "spread (IQR = 1.349 sigma); the outliers beyond the fences are outside it."),
    dict(id="sinha_sc22_arxiv_max_variation", gpu="V100; Quadro RTX 5000; MI60", clusters=CLUSTERS, num_gpus="",
         benchmark="the most variable application / cluster", metric="maximum performance variation",
         definition="Tukey-fence span / median = 4 IQR / median", value=22, unit="%",
         sigma_pct_derived=round(22 / TUKEY, 3), used="no (the largest of the averages)", source=SINHA,
         provenance=SINHA_URL + "; " + ARTIFACT, read_date=READ, notes="'8% (max 22%)' in the abstract."),
    dict(id="sinha_sc22_arxiv_outlier", gpu="V100; Quadro RTX 5000; MI60", clusters=CLUSTERS, num_gpus="",
         benchmark="all", metric="slowest outlier / median", definition="time ratio", value=1.5, unit="x",
         sigma_pct_derived="", used="no (a tail the normal spread leaves out)", source=SINHA, provenance=SINHA_URL,
         read_date=READ, notes="'outliers up to 1.5 times slower than median'."),
    dict(id="sinha_sc22_proceedings_mean_variation", gpu="V100; MI60", clusters="Summit, Vortex, Longhorn, Corona",
         num_gpus="", benchmark="SGEMM, ResNet-50, BERT, LAMMPS, PageRank (the artifact's experiments)", metric="average performance variation",
         definition="not stated", value=32, unit="%", sigma_pct_derived="",
         used="no (definition not stated; the arXiv version's 8% replaces it)",
         source="SC22 proceedings page of the same paper, abstract ('32% (max 72%) average performance variation')",
         provenance="https://sc22.supercomputing.org/proceedings/tech_paper/tech_paper_pages/pap186.html",
         read_date=READ, notes="4 clusters, 'over 100,000 hours of data'; max 72%."),
    dict(id="silicondata_cloud_h100_pcie_compute", gpu="H100 PCIe", clusters="11 cloud providers", num_gpus=259,
         benchmark="SiliconMark 16-bit TFLOP/s", metric="compute performance range", definition="'varied by up to'",
         value=34.5, unit="%", sigma_pct_derived="", used="no (across providers' configurations, not one cluster)",
         source=SPECTRUM, provenance=SPECTRUM_URL, read_date=READ,
         notes="6,800 runs on 3,500 GPUs of 11 NVIDIA models; attributed mainly to manufacturing variation, "
               "compounded by cooling, configuration and usage."),
    dict(id="silicondata_cloud_h200_sxm_hbm", gpu="H200 SXM", clusters="11 cloud providers", num_gpus=253,
         benchmark="SiliconMark memory bandwidth", metric="memory bandwidth range", definition="'varied by up to'",
         value=38, unit="%", sigma_pct_derived="", used="no (across providers; HBM, not the compute a power cap slows)",
         source=SPECTRUM, provenance=SPECTRUM_URL, read_date=READ, notes="as above."),
]


def main():
    write_csv(OUT, ROWS, COLUMNS, lineterminator="\n")
    print(f"{len(ROWS)} rows -> {OUT}")


if __name__ == "__main__":
    main()
