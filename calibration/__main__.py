"""``python -m calibration [--quick] [--device auto|cuda|cpu] [--storage PATH] -o profile.json``"""
from __future__ import annotations

import sys


def main(argv=None) -> int:
    from calibration import DEVICES
    from planner.present.script_args import ScriptArgs  # usage errors as one line, exit 2

    ap = ScriptArgs(prog="python -m calibration", description="measure this machine into a calibration profile")
    ap.add_argument("--quick", action="store_true", help="small grid, <= 60 s")
    ap.add_argument("--device", default="auto", type=DEVICES.canonical, choices=DEVICES.names)
    ap.add_argument("--storage", default=None, help="file or folder whose read throughput to measure")
    ap.add_argument("-o", "--out", default="profile.json")
    ap.add_argument("--force", action="store_true", help="replace --out if it exists (planner.outputs)")
    a = ap.parse_args(argv)
    from calibration.bench import run_calibration  # torch: after the options parse
    from calibration.summary import summary
    from planner.errors import InputError

    try:
        if a.storage is not None:  # before the minute of measuring, as `planner calibrate` checks it (until qa57 a
            # device, an empty file or a read-only folder failed here after it)
            from planner.cli import storage_target

            storage_target(a.storage)
        prof = run_calibration(device=a.device, quick=a.quick, out_path=a.out, storage_path=a.storage, force=a.force)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(summary(prof))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
