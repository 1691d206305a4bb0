"""Data-pipeline rates: JPEG decode + augmentation per CPU core, and storage read throughput.

Decode + augment is the ImageNet training transform (torchvision's RandomResizedCrop(224),
RandomHorizontalFlip, ToTensor, Normalize) written with PIL + numpy so it needs no torchvision,
on generated JPEGs of ImageNet's typical size (500 x 375, quality 90). It runs in this process on
one thread, so the rate is per core; a loader with w workers reaches about w times that.

Storage: a file is written (or an existing one given), its pages dropped from the page cache with
``posix_fadvise(DONTNEED)`` where the OS allows, and read back in 8 MiB chunks.
"""
from __future__ import annotations

import io
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def make_jpegs(n: int, size=(500, 375), seed: int = 0) -> list[bytes]:
    """Photo-like JPEGs: smooth gradients plus noise, so they compress like photographs."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for i in range(n):
        base = np.stack([(xx * (1 + i % 3) + yy) % 256, (yy * 2 + i * 17) % 256, (xx + yy * 0.5 + i * 31) % 256], -1)
        img = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def random_resized_crop_box(w: int, h: int, rnd: random.Random, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """torchvision's RandomResizedCrop.get_params (10 tries, then the centre crop)."""
    import math

    area = w * h
    for _ in range(10):
        target = area * rnd.uniform(*scale)
        ar = math.exp(rnd.uniform(math.log(ratio[0]), math.log(ratio[1])))
        cw, ch = int(round(math.sqrt(target * ar))), int(round(math.sqrt(target / ar)))
        if 0 < cw <= w and 0 < ch <= h:
            x, y = rnd.randint(0, w - cw), rnd.randint(0, h - ch)
            return x, y, x + cw, y + ch
    s = min(w, h)
    return (w - s) // 2, (h - s) // 2, (w + s) // 2, (h + s) // 2


def decode_augment(data: bytes, rnd: random.Random):
    """One sample through the ImageNet training transform; returns a (3, 224, 224) float tensor."""
    import torch
    from PIL import Image

    img = Image.open(io.BytesIO(data)).convert("RGB")
    img = img.resize((224, 224), Image.BILINEAR, box=random_resized_crop_box(*img.size, rnd))
    if rnd.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    x = np.asarray(img, dtype=np.float32) / 255.0
    x = (x - MEAN) / STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


def decode_rows(n_images: int, repeats: int = 3) -> list[dict]:
    """Seconds per sample of decode + augment on one core, ``repeats`` passes over the images."""
    import torch

    jpegs = make_jpegs(n_images)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rnd = random.Random(0)
    rows = []
    try:
        decode_augment(jpegs[0], rnd)  # warm PIL's decoder
        for _ in range(repeats):
            t0 = time.perf_counter()
            for j in jpegs:
                decode_augment(j, rnd)
            dt = time.perf_counter() - t0
            rows.append(dict(images=len(jpegs), jpeg_bytes=sum(map(len, jpegs)) / len(jpegs),
                             seconds=dt, seconds_per_sample=dt / len(jpegs)))
    finally:
        torch.set_num_threads(threads)
    return rows


def _drop_cache(path: Path) -> bool:
    if not hasattr(os, "posix_fadvise"):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def storage_rows(path=None, nbytes: int = 64 << 20, chunk: int = 8 << 20) -> dict:
    """Read throughput of ``path`` (a file's first ``nbytes`` are read; a folder gets a temporary file of
    ``nbytes``). ``cache_dropped`` says whether the page cache could be bypassed; when it could
    not, the number is an upper bound (page-cache speed). A file was read to its end (fuzz47): ``calibrate --quick
    --storage`` on a 100 GB dataset shard read 100 GB, where the quick run's budget is a minute and its folder case
    reads 256 MiB; a sequential read's rate needs no more than the folder case's size."""
    tmpdir = None
    target = Path(path) if path else None
    made = False
    if target is None or target.is_dir():
        tmpdir = tempfile.mkdtemp(prefix="calib-io-", dir=str(target) if target else None)
        target = Path(tmpdir) / "read-test.bin"
        block = np.random.default_rng(0).integers(0, 255, chunk, dtype=np.uint8).tobytes()
        with open(target, "wb") as fh:
            for _ in range(max(1, nbytes // chunk)):
                fh.write(block)
            fh.flush()
            os.fsync(fh.fileno())
        made = True
    elif not target.is_file():
        from planner.errors import InputError

        raise InputError("--storage", f"{target} is not a regular file or a folder")
    try:
        dropped = _drop_cache(target)
        total = 0
        t0 = time.perf_counter()
        with open(target, "rb", buffering=0) as fh:
            while total < nbytes:
                b = fh.read(min(chunk, nbytes - total))
                if not b:
                    break
                total += len(b)
        dt = time.perf_counter() - t0
        return dict(path=str(path) if path else "(temporary folder)", bytes=total, seconds=dt,
                    bw=total / dt if dt > 0 and total else None, cache_dropped=dropped)
    finally:
        if made:
            target.unlink(missing_ok=True)
            os.rmdir(tmpdir)
