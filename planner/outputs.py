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
- a symbolic link is the path the user named, and only it is replaced: like an existing file it
  is refused without ``--force``, and with ``--force`` the new file is renamed onto the *link*
  (``rename(2)`` replaces the directory entry, never what it points to), so its target — a file,
  a folder, or nothing (a dangling link) — is left exactly as it was. Until 2026-12-04 the link was
  written *through*: ``--csv plans.csv --force`` with ``plans.csv -> ~/.bashrc`` replaced
  ``~/.bashrc``, and a dangling link created a file wherever it pointed. Refusing links outright was
  the other choice; replacing the link is what ``--force`` means for every other name (the named
  path becomes the output) and what ``mv``/``os.replace`` do, so nothing outside the named path moves;
- every file is written to a temporary name beside its target (``tempfile.mkstemp``: a name no
  file has, so a leftover of a crashed run never blocks the next) and renamed into place only when
  all files of the output are complete, so nothing is left half-written; on any failure (disk full,
  permission, interrupted) every temporary file and every folder this call created is removed -- a ``kill``
  (SIGTERM, what ``timeout``, ``scancel`` and a container's stop send) or a closed terminal (SIGHUP) too, which
  end Python without running any cleanup unless handled: while the files are written they raise ``Terminated``
  (``_signals_clean_up``; until qa59 a ``recommend --csv`` killed mid-write left its partial ``.plans.csv.*.tmp``);
- nothing the program did not create is deleted: a report's ``<name>_files/`` folder that already
  exists is written into (same-named charts replaced only with ``--force``), never emptied or removed;
  a new one is filled under a temporary name and renamed into place with the report;
- a folder of output files holds a list of what the write put there, each file with its SHA-256
  (``FOLDER_MANIFEST``); a later write with ``--force`` removes the files the earlier one listed and this one does
  not write, each only while it is still a regular file with exactly the bytes listed -- so a chart the user edited,
  replaced by a link, or any file the list does not name stays. ``report --force`` over an earlier report kept that
  run's extra charts in ``<name>_files/`` until QA 39b (a folder written before the list existed keeps them still);
- a ``<name>_files/`` that is a symbolic link (to a folder or anywhere) is the link rule above: refused
  without ``--force``; with it the charts go into a new folder that replaces the link once it is complete,
  never into the link's target (until 2026-12-04 they were written there);
- a file of a known kind (``FileKind``: the report, a simulated timeline, a calibration profile, the GBDT profile, the
  calibration loop's rows, the measured collectives) must carry one of the
  suffixes its readers go by, checked before any work: ``calibrate -o profile`` wrote a profile that ``--profile``
  found by no name a user would give it (QA 39b); an existing folder given for such a file is named as a folder with a
  file name offered in it (``report -o /tmp`` read "tmp: the report is .html or .md (got 'no suffix')", QA 39b);
- ``-`` is refused as an output name: the Unix convention reads it as standard output, and ``calibrate -o -``
  (or ``recommend --csv -``) wrote a file named ``-`` (QA 39); ``./-`` still names that file;
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

import json
import os
import shutil
import signal
import stat
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Optional, Union

from hardware_catalog.errors import shown_path
from hardware_catalog.files import NUL_IN_NAME, os_reason
from planner.errors import InputError

#: a file's contents: its text or bytes, or an iterator of text parts written as they come (``write_stream``:
#: ``recommend --csv`` block by block, never the whole file in memory)
Data = Union[str, bytes, Iterator[str]]


#: what the one-line refusal of an existing file tells the user to do
FORCE_HINT = "refusing to replace it (give --force to replace it, or another name)"
#: the path the Unix convention reads as standard output: refused as an output file name (``output_target``)
STDOUT_DASH = "-"


@dataclass(frozen=True)
class FileKind:
    """An output file its readers know by its suffix: ``what`` it is (for the message), the ``formats`` its suffixes
    stand for (any case), the suffixes a message names (``said``) and an ``example`` name offered when a folder is
    given."""
    what: str
    formats: Mapping[str, str]
    said: str
    example: str

    def suffix_error(self, p: Path) -> Optional[str]:
        """Why ``p``'s name does not fit this kind, or None."""
        if p.suffix.lower() in self.formats:
            return None
        return f"{shown_path(p.name)}: {self.what} is {self.said} (got {p.suffix.lower() or 'no suffix'!r})"

    def format_of(self, p: Path, field: str) -> str:
        """The format ``p``'s suffix stands for; a name that fits none is refused naming ``field``."""
        if why := self.suffix_error(p):
            raise InputError(field, why)
        return self.formats[p.suffix.lower()]


#: the report (``report -o``: HTML self-contained, Markdown with its ``<name>_files/``), a simulated timeline
#: (``simulate --timeline``), a calibration profile (``calibrate -o``: JSON, read back by ``--profile``)
REPORT = FileKind("the report", {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md"}, ".html or .md",
                  "report.md")
TIMELINE = FileKind("the timeline", {".csv": "csv", ".json": "json"}, ".csv or .json", "timeline.csv")
PROFILE = FileKind("the calibration profile", {".json": "json"}, ".json", "profile.json")
#: the GBDT speed profile (``python -m calibration.gbdt -o``; read back as JSON by ``workloads.tabular.load_gbdt_profile``),
#: the training loop's rows (``python -m calibration.loop --json``) and the measured collectives
#: (``python -m calibration.collectives -o``): all JSON, and each took any name until QA 39c (``-o gbdt`` wrote a file
#: named "gbdt" after a minute of measuring)
GBDT_PROFILE = FileKind("the GBDT profile", {".json": "json"}, ".json", "gbdt-cpu.json")
LOOP_ROWS = FileKind("the loop's rows file", {".json": "json"}, ".json", "rows.json")
COLLECTIVES = FileKind("the collectives file", {".json": "json"}, ".json", "collectives.json")


def _refuse_inputs(p: Path, field: str, inputs: Iterable) -> None:
    """An output that is one of the command's inputs, or another name for one (a link to it, a hard link), is
    refused even with ``--force``: replacing a link to the job would not harm the job, but naming the job as the
    output is a mistake either way."""
    for src in inputs:
        try:
            same = src is not None and os.path.samefile(p, src)
        except OSError:  # an input that is not there is its own command's error; so is a dangling link
            same = False
        if same:
            raise InputError(field, f"{shown_path(p)} is an input of this command ({shown_path(src)}); refusing to replace it")


def output_target(path, field: str, inputs: Iterable = (), force: bool = False, folder: bool = False,
                  kind: Optional[FileKind] = None) -> Path:
    """The path that writing ``path`` will replace — ``path`` itself, a symbolic link included (module
    docstring) — checked before any long work starts: a new path in an existing folder or, with ``force``, a
    regular file or a symbolic link that is none of ``inputs`` (the files the command reads; a link or another
    name for one counts). ``folder``: ``path`` is a folder of output files (a report's ``<name>_files/``): an
    existing folder is accepted (written into, never emptied), a symbolic link follows the file rule above
    (refused without ``force``, else replaced by a new folder; until 2026-12-04 the charts were written into
    the link's target), anything else is refused. ``kind``: the file must carry one of its suffixes, and a folder
    given for it is answered with a file name in that folder."""
    if str(path) == "":
        raise InputError(field, "an empty path")
    if str(path) == STDOUT_DASH:
        # the Unix convention reads "-" as standard output; every option here writes a file, and "-" was written as
        # a file named "-" in the working directory (QA 39: `calibrate -o -` "wrote -"); ./- still names that file
        raise InputError(field, "- (standard output) is not taken: this option writes a file; give a file name "
                                "(./- for a file named -)")
    p = Path(path)
    try:
        st = os.lstat(path)  # the named entry itself, not what a link points to (a trailing "/" kept: "file.csv/" is no file)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise InputError(field, f"{shown_path(p)}: {os_reason(e)}") from None
    except ValueError:  # a NUL in the name: Python's "embedded null byte", an internal error until fuzz44
        raise InputError(field, f"{shown_path(p)}: {NUL_IN_NAME}") from None
    if st is None:
        if str(path).endswith(("/", os.sep)):  # a folder's name, which ``Path`` would read as a file's
            raise InputError(field, f"{shown_path(path)} names a folder (it ends in /) and there is none; give a file name")
        if not p.parent.is_dir():
            raise InputError(field, f"directory {shown_path(p.parent)} does not exist")
        if kind is not None and (why := kind.suffix_error(p)):
            raise InputError(field, why)
        return _can_create_in(p.parent, p, field)
    if kind is not None and not stat.S_ISDIR(st.st_mode) and (why := kind.suffix_error(p)):
        raise InputError(field, why)  # a wrong name is the first thing to say, before link or --force rules
    if stat.S_ISLNK(st.st_mode):
        _refuse_inputs(p, field, inputs)
        if not force:
            raise InputError(field, f"{shown_path(p)} exists (a symbolic link to {shown_path(os.readlink(p))}); refusing to replace it "
                                    f"(give --force to replace the link itself, its target untouched, or another name)")
        return _can_create_in(p.parent, p, field)
    if folder:
        if not stat.S_ISDIR(st.st_mode):
            raise InputError(field, f"{shown_path(p)}: exists and is not a folder")
        return _can_create_in(p, p, field)
    if stat.S_ISDIR(st.st_mode):
        raise InputError(field, _folder_given(p, kind))
    if not stat.S_ISREG(st.st_mode):
        raise InputError(field, f"{shown_path(p)}: not a regular file (a device, FIFO or socket); refusing to replace it")
    _refuse_inputs(p, field, inputs)
    if not force:
        raise InputError(field, f"{shown_path(p)} exists; {FORCE_HINT}")
    return _can_create_in(p.parent, p, field)


def creation_error(folder) -> OSError | None:
    """Why no file can be created in ``folder`` (None: one can), probed with one (``tempfile.mkstemp``, removed at
    once): names alone do not tell a read-only file system, a folder without write permission or a pseudo-file system
    (``/proc``) from a folder that takes files."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".", suffix=".probe")
    except OSError as e:
        return e
    os.close(fd)
    os.unlink(probe)
    return None


def _can_create_in(folder: Path, p: Path, field: str) -> Path:
    """``p``, once a file can be created in ``folder`` (``creation_error``), where every write here stages its
    temporary file before the rename (``_stage_file``). The checks before read names only, so a folder that takes no
    file was found at the write, after the work: ``calibrate -o`` on a read-only mount measured for 27 s, ``report -o``
    searched for 6 s and ``simulate --timeline`` simulated for 10 s before "read-only file system" (qa57)."""
    if (e := creation_error(folder)) is not None:
        raise InputError(field, f"{shown_path(p)}: {os_reason(e)}")
    return p


def _folder_given(p: Path, kind: Optional[FileKind]) -> str:
    """The refusal of a folder given where a file is written, with a file name in it where the kind has one."""
    return f"{shown_path(p)} is a folder; give a file name" + (f" such as {shown_path(p / kind.example)}" if kind is not None else "")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _stage_file(target: Path, raw: bytes | Iterator[str], mode: int) -> Path:
    """Write ``raw`` (bytes, or text parts as they come) to a new temporary file beside ``target`` and return its name. ``mkstemp`` picks a name no
    other file has (``O_EXCL`` with a random part), so a temporary file a crashed run left behind never blocks
    this one: the names were ``.<name>.<pid>.tmp`` until 2026-12-04, and a leftover from a run with the same pid
    made every later write fail with "file exists". The file is removed here if it cannot be completed."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        if isinstance(raw, bytes):
            _write_all(fd, raw)
        else:  # text parts as they are made (``write_stream``): an error while making one removes the file below
            for part in raw:
                _write_all(fd, part.encode("utf-8"))
        os.fchmod(fd, mode)
        os.fsync(fd)
    except BaseException:  # an interrupt too: the caller never learns the name, so this is the only cleanup
        os.close(fd)
        _remove(Path(tmp))
        raise
    os.close(fd)
    return Path(tmp)


def _remove(p: Path) -> None:
    """Remove a file or a folder tree this module made; best effort (the cleanup after a failure)."""
    try:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            os.unlink(p)
    except OSError:
        pass


#: the list a folder of output files holds of what its last write put there (module docstring): JSON
#: ``{"written_by": "planner", "files": {name: sha256 hex}}``, hidden so a listing of the charts shows the charts
FOLDER_MANIFEST = ".planner-files.json"
#: the largest manifest read back, and the largest file hashed to tell whether it is still the one listed
MANIFEST_MAX_BYTES = 1 << 20
LISTED_FILE_MAX_BYTES = 64 << 20


def _sha256(data: bytes) -> str:
    import hashlib  # here: only a folder's manifest hashes; every command imports this module (OpenSSL's load, imp53)

    return hashlib.sha256(data).hexdigest()


def _listed(folder: Path) -> dict[str, str]:
    """The files an earlier write listed in ``folder`` (name -> SHA-256); {} where there is no readable list (none, a
    folder from before lists, a link or anything but a small regular file, text that is not such a list)."""
    m = folder / FOLDER_MANIFEST
    try:
        st = os.lstat(m)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MANIFEST_MAX_BYTES:
            return {}
        raw = json.loads(m.read_bytes())
    except (OSError, ValueError, RecursionError):  # a list nested past the parser's depth too: "internal error" until QA 64
        return {}
    listed = raw.get("files") if isinstance(raw, dict) else None
    if not isinstance(listed, dict):
        return {}
    # a plain name in this folder only: no path, no "..", not the list itself
    return {n: h for n, h in listed.items() if isinstance(n, str) and isinstance(h, str)
            and n not in ("", ".", "..", FOLDER_MANIFEST) and Path(n).name == n and "/" not in n and "\\" not in n}


def _remove_unwritten(folder: Path, listed: Mapping[str, str], written: set[str]) -> None:
    """Remove the files an earlier write listed in ``folder`` that this write did not write, each only while it is a
    regular file whose bytes still hash to the listed SHA-256 (the file that write put there, untouched since); best
    effort: a file that cannot be checked or removed stays."""
    try:
        if not stat.S_ISDIR(os.lstat(folder).st_mode):
            return
    except OSError:
        return
    for name, digest in listed.items():
        if name in written:
            continue
        p = folder / name
        try:
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode) and st.st_size <= LISTED_FILE_MAX_BYTES and _sha256(p.read_bytes()) == digest:
                os.unlink(p)
        except OSError:
            pass


#: the signals whose default action ends the process at once, skipping every ``finally`` (Python turns only SIGINT into
#: an exception, KeyboardInterrupt): a ``kill`` (SIGTERM: also what ``timeout``, SLURM's ``scancel`` and ``docker
#: stop`` send first) and a closed terminal (SIGHUP)
CLEANUP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))


class Terminated(KeyboardInterrupt):
    """One of ``CLEANUP_SIGNALS`` arrived while output files were written: raised in the main thread so the write's
    cleanup runs (a KeyboardInterrupt, so every handler of an interrupt -- the CLI's ``error: interrupted`` -- takes
    it); ``signum`` says which, for the exit status (128 + signum, as the shell reports a process the signal ended)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _terminate(signum, frame) -> None:
    raise Terminated(signum)


@contextmanager
def _signals_clean_up():
    """While the block runs, each of ``CLEANUP_SIGNALS`` left at its default action (a handler the program set stays)
    raises ``Terminated``; the default is put back after. Only the main thread may set a handler (the app's script
    thread writes nothing through here; there the block runs as it is)."""
    taken = {}
    if threading.current_thread() is threading.main_thread():
        for s in CLEANUP_SIGNALS:
            if signal.getsignal(s) is signal.SIG_DFL:
                taken[s] = signal.signal(s, _terminate)
    try:
        yield
    finally:
        for s, old in taken.items():
            signal.signal(s, old)


def write_outputs(files: Mapping[Path, Data], field: str, folders: Iterable[Path] = (),
                  force: bool = False) -> list[Path]:
    """``_write_outputs`` with a kill or a hang-up while it runs cleaned up as an interrupt (``_signals_clean_up``)."""
    with _signals_clean_up():
        return _write_outputs(files, field, folders, force)


def _write_outputs(files: Mapping[Path, Data], field: str, folders: Iterable[Path] = (),
                   force: bool = False) -> list[Path]:
    """Write every file of one output, all or nothing (module docstring). ``folders`` (a report's chart folder)
    go through ``output_target(..., folder=True)``: an existing folder is written into, never emptied; a new one,
    or one that replaces a symbolic link (``force``), is filled under a temporary name beside it and renamed into
    place with the rest, so a failure leaves the link and its target as they were. Each folder gets its list of the
    files written there (``FOLDER_MANIFEST``); with ``force`` the files an earlier write listed and this one does not
    write are removed once everything is in place (``_remove_unwritten``). An existing file among ``files`` is
    refused before anything is written unless ``force``. Returns the paths written, in the order given (the lists
    left out)."""
    given = [Path(p) for p in files]
    folders = [Path(d) for d in folders]
    # an earlier write's list, read before this write replaces it (a folder that is a link gets a new folder: none)
    earlier = {d: _listed(d) for d in folders if force and d.is_dir() and not d.is_symlink()}
    in_folder = {d: {Path(p).name: (data.encode("utf-8") if isinstance(data, str) else bytes(data))
                     for p, data in files.items() if Path(p).parent == d} for d in folders}
    lists = {d / FOLDER_MANIFEST: json.dumps({"written_by": "planner", "files": {n: _sha256(b) for n, b in named.items()}},
                                             indent=1, sort_keys=True) + "\n" for d, named in in_folder.items()}
    # the lists after their folders' files, before any other file (the report last: it appears once all is there)
    files = {**{p: v for p, v in files.items() if Path(p).parent in in_folder}, **lists,
             **{p: v for p, v in files.items() if Path(p).parent not in in_folder}}
    fresh: dict[Path, Path] = {}  # folder -> its temporary stand-in, filled and renamed into place at the end
    staged: list[tuple[Path, Path]] = []  # (temporary file, final target) in an existing folder
    placed: list[tuple[Path, Optional[str]]] = []  # folders renamed into place, with the link each replaced
    done = False
    current = None  # the path being worked on, for the message
    try:
        for d in folders:
            # a folder that cannot be made is the given file's failure, named by it: `report -o /proc/r.md` said
            # "/proc/r_files: file not found", a path the user never gave (QA 61); -o /proc/r.html names r.html. The
            # given file's own checks run first, so the folder probe's refusal (qa57) cannot name the folder either
            named = next((p for p in given if p.parent == d.parent and p.parent not in folders), d)
            if named != d:
                output_target(named, field, force=force)
            d = current = output_target(d, field, force=force, folder=True)
            if not d.is_dir() or d.is_symlink():  # new, or a link to replace: never written through
                current = named
                fresh[d] = Path(tempfile.mkdtemp(dir=d.parent, prefix=f".{d.name}.", suffix=".tmp"))
        writes = []
        for p, data in files.items():
            p = Path(p)
            stand_in = fresh.get(p.parent)
            # in a fresh folder nothing exists to check or replace; elsewhere the file rules apply
            writes.append((stand_in / p.name, data, True) if stand_in else
                          (output_target(p, field, force=force), data, False))
        for target, data, in_fresh in writes:
            current = target
            raw = data.encode("utf-8") if isinstance(data, str) else bytes(data) if isinstance(data, bytes) else data
            try:  # lstat: a replaced link's bits are not a file's, and its target's are not this file's business
                st = os.lstat(target)
                mode = stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else 0o666 & ~_umask()
            except FileNotFoundError:
                mode = 0o666 & ~_umask()
            tmp = _stage_file(target, raw, mode)
            if in_fresh:  # the stand-in folder is not visible yet: its file takes its name now
                os.replace(tmp, target)
            else:
                staged.append((tmp, target))
        for d, stand_in in fresh.items():  # the folders first: a report appears only once its charts are there
            current = d
            os.chmod(stand_in, 0o777 & ~_umask())  # mkdtemp's 0700 is for the staging only
            link = os.readlink(d) if d.is_symlink() else None
            if link is not None:  # rename(2) puts a folder only onto an empty folder or nothing: the link goes first
                os.unlink(d)
            try:
                os.rename(stand_in, d)
            except OSError:
                if link is not None:
                    os.symlink(link, d)
                raise
            placed.append((d, link))
        for tmp, target in staged:
            current = target
            os.replace(tmp, target)
        done = True
        for d, listed in earlier.items():  # only now: a failure above leaves the earlier write's files as they were
            _remove_unwritten(d, listed, set(in_folder[d]))
        return given
    except OSError as e:
        raise InputError(field, f"{shown_path(current or e.filename or 'writing')}: {os_reason(e)}") from None
    finally:  # on failure, remove only what this call made: its temporary files and folders; put links back
        if not done:
            for tmp, _ in staged:
                _remove(tmp)
            for stand_in in fresh.values():
                _remove(stand_in)
            for d, link in reversed(placed):
                _remove(d)
                if link is not None:
                    try:
                        os.symlink(link, d)
                    except OSError:
                        pass


def write_text(path, text: str, field: str, force: bool = False) -> None:
    """One text file, by the rules above."""
    write_outputs({Path(path): text}, field, force=force)


def write_stream(path, parts: Iterator[str], field: str, force: bool = False) -> None:
    """One text file from ``parts`` written as they are made (``recommend --csv``: the ranked table block by block),
    by the rules above: to a temporary file beside ``path``, renamed into place once the last part is written; an
    error while making a part (or writing it) removes the temporary file and leaves ``path`` as it was."""
    write_outputs({Path(path): parts}, field, force=force)
