"""One-screen text summary of a calibration profile (what ``python -m calibration`` prints)."""
from __future__ import annotations

from planner.hardware.profile import Profile


def summary(prof: Profile) -> str:
    f, fp = prof.fitted, prof.fingerprint
    lines = [f"calibration profile: {fp.device_name} ({fp.device}), torch {fp.torch_version}"
             + (f", catalog GPU {fp.catalog_gpu}" if fp.catalog_gpu else ", applies to no catalog GPU")]

    def row(name, v, unit="", scale=1.0, fmt="{:.3g}"):
        if v is not None:
            lines.append(f"  {name:<22} {fmt.format(v * scale)} {unit}".rstrip())

    for dt, pk in (f.peak_flops or {}).items():
        fit = (f.by_dtype or {}).get(dt)
        d = fit.model_dump(exclude_none=True) if fit is not None else {}
        lines.append(f"  peak {dt:<17} {pk / 1e12:.3g} TFLOP/s   gemm_max {d.get('gemm_max', float('nan')):.3f}"
                     f"  k_half {d.get('gemm_k_half', float('nan')):.0f}"
                     + (f"  attn fwd/bwd {d['attn_fwd']:.3f}/{d['attn_bwd']:.3f}" if 'attn_fwd' in d else ""))
    row("memory copy", f.hbm_bw, "GB/s", 1e-9)
    row("hbm (kernels/peak)", f.hbm)
    row("per-op overhead", f.launch_s, "us", 1e6)
    row("H2D pinned", f.h2d_pinned_bw, "GB/s", 1e-9)
    row("H2D pageable", f.h2d_pageable_bw, "GB/s", 1e-9)
    row("intra alpha", f.intra_alpha_s, "us", 1e6)
    row("intra busbw", f.intra_busbw, "GB/s", 1e-9)
    row("inter alpha", f.inter_alpha_s, "us", 1e6)
    row("inter busbw", f.inter_busbw, "GB/s", 1e-9)
    row("JPEG decode+augment", f.decode_s_per_sample, "ms/sample/core", 1e3)
    row("storage read", f.storage_read_bw, "MB/s", 1e-6)
    if "wall_s" in prof.raw:
        lines.append(f"  measured in {prof.raw['wall_s']:.1f} s")
    lines += [f"  note: {n}" for n in prof.notes]
    return "\n".join(lines)
