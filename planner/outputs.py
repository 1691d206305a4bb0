"""Writing output files without harming what is already there (the output side of
``hardware_catalog.files``; every command, the report and the calibration write through it).

The rules (each one a defect once):

- nothing of the user's is overwritten: an output path must be new; an existing file — the user's, or
  one an earlier run wrote, which cannot be told apart — is refused with one line naming the option
  (``error: --csv: plans.csv exists; ...``, exit 2) unless the command was given ``--force``
  (``report -o`` replaced a file silently). The policy is the same for every output: ``recommend
  --csv``, ``simulate --timeline``, ``report -o`` and each chart file in its ``<name>_files/``
  folder, ``calibrate -o``; launch specs (``--emit``) and ``--json`` go to standard output only;
- with ``--force`` an existing *regular* file may be replaced; a directory, a device
  (``/dev/null``), a FIFO or a socket is refused either way — a rename onto ``/dev/null`` would
  replace the device with a plain file;
- a symbolic link is written *through*: its target is updated, the link stays a link;
- every file is written to a temporary name beside its target and renamed into place only when
  all files of the output are complete, so nothing is left half-written; on any failure (disk full,
  permission, interrupted) every temporary file and every folder this call created is removed;
- nothing the program did not create is deleted: a report's ``<name>_files/`` folder that already
  exists is written into (same-named charts replaced only with ``--force``), never emptied or removed;
- a command's own inputs (the job file, catalog overrides, the profile, a trace) are never outputs:
  ``recommend job.yaml --csv job.yaml`` replaced the job with the CSV;
- an existing file keeps its permission bits; a new one gets the usual ``0666 & ~umask``;
- an OS failure is one ``InputError`` naming the option: ``no space left on device``,
  ``permission denied``, ``is a directory``.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> write_text(d / "plans.csv", "a,b\\n", "--csv")
>>> (d / "plans.csv").read_text()
'a,b\\n'
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Iterable, Mapping, Union

from hardware_catalog.files import os_reason
from planner.errors import InputError

Data = Union[str, bytes]


#: what the one-line refusal of an existing file tells the user to do
FORCE_HINT = "refusing to replace it (give --force to replace it, or another name)"


def output_target(path, field: str, inputs: Iterable = (), force: bool = False) -> Path:
    """The file that writing ``path`` will really replace (a symlink resolved to its target),
    checked before any long work starts: a new path in an existing folder or, with ``force``, a
    regular file that is none of ``inputs`` (the files the command reads; a link or another name for
    one counts)."""
    if str(path) == "":
        raise InputError(field, "an empty path")
    p = Path(path)
    try:
        st = os.stat(p)  # follows symlinks
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise InputError(field, f"{p}: {os_reason(e)}") from None
    if st is None:
        if os.path.islink(p):  # a dangling link: write where it points
            target = Path(os.path.realpath(p))
        else:
            target = p
        parent = target.parent
        if not parent.is_dir():
            raise InputError(field, f"directory {parent} does not exist")
        return target
    if stat.S_ISDIR(st.st_mode):
        raise InputError(field, f"{p}: is a directory; give a file name")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(field, f"{p}: not a regular file (a device, FIFO or socket); refusing to replace it")
    for src in inputs:
        try:
            same = src is not None and os.path.samefile(p, src)
        except OSError:  # an input that is not there is its own command's error
            same = False
        if same:
            raise InputError(field, f"{p} is an input of this command ({src}); refusing to replace it")
    if not force:
        raise InputError(field, f"{p} exists; {FORCE_HINT}")
    return Path(os.path.realpath(p))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_outputs(files: Mapping[Path, Data], field: str, folders: Iterable[Path] = (),
                  force: bool = False) -> list[Path]:
    """Write every file of one output, all or nothing (module docstring). ``folders`` may be
    created (a report's chart folder); an existing one is written into, never emptied. An existing
    file among ``files`` is refused before anything is written unless ``force``.
    Returns the paths written, in the order given."""
    created: list[Path] = []
    staged: list[tuple[Path, Path]] = []  # (temporary, final target)
    done = False
    current = None  # the path being worked on, for the message
    try:
        for d in folders:
            d = current = Path(d)
            if d.is_symlink() or d.exists():
                if not d.is_dir():
                    raise InputError(field, f"{d}: exists and is not a folder")
                continue
            if not d.parent.is_dir():
                raise InputError(field, f"directory {d.parent} does not exist")
            d.mkdir()
            created.append(d)
        targets = [(output_target(p, field, force=force), data) for p, data in files.items()]
        for target, data in targets:
            current = target
            raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
            try:
                mode = stat.S_IMODE(os.stat(target).st_mode)
            except FileNotFoundError:
                mode = 0o666 & ~_umask()
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            staged.append((tmp, target))
            try:
                _write_all(fd, raw)
                os.fchmod(fd, mode)
                os.fsync(fd)
            finally:
                os.close(fd)
        for tmp, target in staged:
            current = target
            os.replace(tmp, target)
        done = True
        return [Path(p) for p in files]
    except OSError as e:
        raise InputError(field, f"{current or e.filename or 'writing'}: {os_reason(e)}") from None
    finally:  # on failure, remove only what this call made: its temporary files and its folders
        if not done:
            for tmp, _ in staged:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
            for d in reversed(created):
                try:
                    for f in d.iterdir():
                        f.unlink()
                    d.rmdir()
                except OSError:
                    pass


def write_text(path, text: str, field: str, force: bool = False) -> None:
    """One text file, by the rules above."""
    write_outputs({Path(path): text}, field, force=force)
