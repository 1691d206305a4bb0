"""Which catalog GPU a device name names: the one rule that ``calibration.bench.catalog_gpu_for`` (labelling a
measured profile with the catalog GPU it ran on) and ``planner.hardware.profile`` (checking that label when the
profile is read) both apply. Until code42 each wrote its own copy (the planner may not import calibration); the
two could drift apart so that a profile the calibration labelled was refused on reading.

A device name is what the runtime reports: ``torch.cuda.get_device_name()`` ("NVIDIA H100 80GB HBM3", "NVIDIA
A100-SXM4-40GB", "AMD Instinct MI300X" under ROCm). A chip's **model number** is the head of a catalog name (the
part before its first '-') when it carries a digit: H100-SXM-80GB -> H100, MI300X-192GB -> MI300X, and for an alias
such as TPU-v5p's ``v5p`` -> V5P. A digit-less head (TPU, HL, Blackwell, Instinct) names a family, not one chip."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from hardware_catalog.catalog import GPU, Catalog

#: vendor and brand words torch prefixes to a device name that no catalog name carries ("NVIDIA Tesla T4")
_VENDOR_WORDS = ("NVIDIA", "Tesla")


def model_number(name: str) -> Optional[str]:
    """The model number a catalog name or alias leads with (upper case), None for a family word."""
    head = name.upper().split("-")[0]
    return head if any(ch.isdigit() for ch in head) else None


def model_numbers(gpu: "GPU") -> frozenset[str]:
    """Every model number ``gpu``'s catalog name and aliases lead with (GB200-B200 -> GB200 and B200)."""
    return frozenset(m for m in map(model_number, (gpu.name, *gpu.aliases)) if m)


def bare_device_name(device_name: str) -> str:
    """The device name without the vendor words no catalog name carries ("NVIDIA H100 PCIe" -> "H100 PCIe")."""
    for word in _VENDOR_WORDS:
        device_name = device_name.replace(word, "")
    return device_name.strip()


def device_words(device_name: str) -> tuple[str, ...]:
    """The words of a device name that carry a digit, upper case, in order: the candidates for its model number
    ("NVIDIA H100 80GB HBM3" -> H100, 80GB, HBM3; "NVIDIA A100-SXM4-40GB" -> A100, SXM4, 40GB)."""
    return tuple(w for w in re.split(r"[^0-9A-Z]+", device_name.upper()) if any(ch.isdigit() for ch in w))


def exact_gpu(catalog: "Catalog", device_name: str) -> Optional["GPU"]:
    """The catalog GPU a device name spells out as a catalog name or alias ("NVIDIA H100 NVL" -> H100-NVL-94GB), as
    it stands, without its vendor words, or with its blanks written as '-'; None when it spells none."""
    from hardware_catalog.errors import InputError

    bare = bare_device_name(device_name)
    for cand in (device_name, bare, bare.replace(" ", "-")):
        try:
            return catalog.gpu(cand)
        except InputError:  # not this spelling: the next one
            pass
    return None


def names_chip(catalog: "Catalog", device_name: str, gpu: "GPU") -> bool:
    """Whether a device name names ``gpu``'s chip: it spells one of ``gpu``'s catalog names, or one of its words is
    one of ``gpu``'s model numbers. Every label ``calibration.bench.catalog_gpu_for`` writes passes (it picks among
    the GPUs one of the device's words is the model number of), and so does a label of the same chip in another
    form (a device "NVIDIA B200" labelled GB200-B200)."""
    if set(device_words(device_name)) & model_numbers(gpu):
        return True
    exact = exact_gpu(catalog, device_name)
    return exact is not None and exact.name == gpu.name
