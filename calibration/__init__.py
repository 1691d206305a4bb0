"""Calibration: measure a machine into a profile (``python -m calibration``, ``planner calibrate``)."""
from planner.vocab import Vocab

#: what ``--device`` takes (``planner calibrate``, ``python -m calibration``, ``calibration.loop``, ``.collectives``), in any case
#: (``Vocab.canonical``, as the job file's enumerated fields; ``--device CUDA`` was refused until QA 39c). Here, not in
#: ``calibration.bench``, so ``python -m calibration`` parses its options (a usage error, ``--help``) before importing
#: torch (1.4 CPU-s).
DEVICES = Vocab("auto", "cuda", "cpu")
