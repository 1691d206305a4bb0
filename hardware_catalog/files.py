"""Reading the files a user hands us — job YAML, Hugging Face ``config.json``, calibration profiles,
catalog overrides — without trusting them.

Limits (stated here once, quoted in the README):

- only regular files are read (a FIFO would block forever, ``/dev/zero`` never ends); the check is
  made on the opened descriptor, so a file swapped in between cannot slip past it;
- at most ``MAX_INPUT_BYTES`` (8 MiB) per file: the largest real input, a 3,000-row catalog CSV, is
  well under 1 MiB;
- UTF-8 text (a leading byte-order mark, as spreadsheets write it, is dropped); binary data is refused;
- YAML/JSON documents at most ``MAX_DEPTH`` (64) levels deep and at most ``MAX_NODES`` (100,000)
  values *after* alias expansion — a 1 KB "billion laughs" file expands to 10^9 values and is
  refused before anything is built from it; recursive aliases are refused;
- duplicate mapping keys are refused (YAML and JSON would silently keep the last one), and so are
  JSON's non-standard ``NaN`` / ``Infinity``.

Errors are ``InputError(field, message)``; a message quotes at most ``ECHO_CHARS`` characters of input.
"""
from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
import sys
from pathlib import Path
from typing import Any

import yaml

from hardware_catalog.errors import ECHO_CHARS, InputError, clip, shown_path

MAX_INPUT_BYTES = 8 * 2**20
MAX_DEPTH = 64
MAX_NODES = 100_000

_OS_REASON = {errno.ENOENT: "file not found (no such file or directory)", errno.EACCES: "permission denied", errno.EPERM: "permission denied",
              errno.EISDIR: "is a directory", errno.ENOTDIR: "a parent is not a directory",
              errno.ELOOP: "too many levels of symbolic links", errno.ENAMETOOLONG: "name too long",
              errno.ENOSPC: "no space left on device", errno.EROFS: "read-only file system",
              errno.EDQUOT: "disk quota exceeded", errno.EXDEV: "on another file system"}


#: the reason a path holding a NUL is refused: no file system names a file so (POSIX: a path name is a C string)
NUL_IN_NAME = "a NUL character in the name (no file can be named so)"


def os_reason(e: OSError) -> str:
    """A short, stable reason for an ``OSError`` (what a person fixes), without the path twice."""
    return _OS_REASON.get(e.errno, (e.strerror or e.__class__.__name__).lower())


def entry_mode(path) -> int | None:
    """``st_mode`` of what ``path`` names (links followed), or None where it cannot be looked at: absent, or a name the
    system refuses (too long, a loop of links, a parent that is a file). ``Path.is_dir`` / ``is_file`` / ``exists``
    return False only for four errnos (pathlib ``_IGNORED_ERRNOS``) and raise on the rest, so a 256-character job,
    ``--trace`` or ``--storage`` name was an "internal error (OSError): [Errno 36] File name too long" until fuzz44;
    with None the read that follows (``read_bytes``) refuses it with its reason."""
    try:
        return os.stat(path).st_mode
    except (OSError, ValueError):  # (ValueError: a NUL in the name)
        return None


def is_folder(path) -> bool:
    """Whether ``path`` names a folder (``entry_mode``: False where it cannot be looked at)."""
    mode = entry_mode(path)
    return mode is not None and stat.S_ISDIR(mode)


def is_regular_file(path) -> bool:
    """Whether ``path`` names a regular file (``entry_mode``: False where it cannot be looked at)."""
    mode = entry_mode(path)
    return mode is not None and stat.S_ISREG(mode)


def read_bytes(path, field: str, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; anything else is one InputError."""
    p, shown = Path(path), shown_path(path)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)  # non-blocking: opening a FIFO must not hang
    except OSError as e:
        raise InputError(field, f"{shown}: {os_reason(e)}") from None
    except ValueError:  # a NUL in the name (a job's "t\0.csv"): Python's "embedded null byte", an internal error until fuzz44
        raise InputError(field, f"{shown}: {NUL_IN_NAME}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise InputError(field, f"{shown}: is a directory, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise InputError(field, f"{shown}: not a regular file (a device, FIFO or socket); give a file")
        if st.st_size > limit:
            raise InputError(field, f"{shown}: too large: {st.st_size:,} bytes (limit {limit:,})")
        chunks, size = [], 0
        while size <= limit:
            b = os.read(fd, min(1 << 20, limit + 1 - size))
            if not b:
                break
            chunks.append(b)
            size += len(b)
        if size > limit:  # grew while we read
            raise InputError(field, f"{shown}: too large: more than {limit:,} bytes")
        return b"".join(chunks)
    except OSError as e:
        raise InputError(field, f"{shown}: {os_reason(e)}") from None
    finally:
        os.close(fd)


def decode_text(data: bytes, field: str, where: str) -> str:
    """UTF-8 text, a leading byte-order mark dropped; binary or other encodings are refused."""
    try:
        text = data.decode("utf-8-sig")
        if "\x00" in text:
            raise InputError(field, f"{where}: binary data, not UTF-8 text")
        return text
    except UnicodeDecodeError as e:
        raise InputError(field, f"{where}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
                                "save it as UTF-8") from None


def read_text(path, field: str, limit: int = MAX_INPUT_BYTES) -> str:
    """``read_bytes`` + ``decode_text``."""
    return decode_text(read_bytes(path, field, limit), field, shown_path(path))


# --------------------------------------------------------------------------------------- YAML
def _check_yaml(node: yaml.Node, field: str, where: str) -> None:
    """Depth, expanded size (aliases counted as often as they are used, computed without
    expanding: each distinct node's size is memoised) and duplicate keys of a composed document."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(n: yaml.Node, depth: int) -> int:
        key = id(n)
        if key in sizes:
            return sizes[key]
        if depth > MAX_DEPTH:
            raise InputError(field, f"{where}: nested more than {MAX_DEPTH} levels deep")
        if key in active:
            raise InputError(field, f"{where}: a recursive alias (line {n.start_mark.line + 1})")
        active.add(key)
        total = 1
        if isinstance(n, yaml.SequenceNode):
            for child in n.value:
                total += size(child, depth + 1)
                if total > MAX_NODES:
                    break
        elif isinstance(n, yaml.MappingNode):
            seen = set()
            for k, v in n.value:
                if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                    if k.value in seen:
                        raise InputError(field, f"{where}: duplicate key {clip(k.value)} at line {k.start_mark.line + 1}")
                    seen.add(k.value)
                total += size(k, depth + 1) + size(v, depth + 1)
                if total > MAX_NODES:
                    break
        active.discard(key)
        if total > MAX_NODES:
            raise InputError(field, f"{where}: too large: expands to more than {MAX_NODES:,} values "
                                    "(aliases are counted each time they are used)")
        sizes[key] = total
        return total

    size(node, 0)


#: libyaml's C parser when PyYAML was built with it (composes ~2x faster: a 3,000-row catalog
#: override parses in ~0.9 s instead of ~1.7 s), else the pure-Python one; both are safe loaders.
_BASE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _SAFE_LOADER(_BASE_LOADER):  # noqa: N801 — the loader the module has always named so
    """The safe loader, with a date-shaped scalar that names no day (``2026-13-01``, ``2026-02-30``) read as the text
    it is, for the field's own check: PyYAML's timestamp constructor raised ValueError on it, and a job's or a catalog
    override's ``price_date: 2026-13-01`` was an "internal error (ValueError): month must be in 1..12", exit 1
    (QA 55)."""



#: YAML 1.2's booleans (the core schema, yaml.org/spec/1.2.2 section 10.3.2: ``true | True | TRUE | false | False |
#: FALSE``). PyYAML resolves YAML 1.1's (yaml.org/type/bool.html) and so read ``yes`` / ``no`` / ``on`` / ``off`` as
#: true or false, in a bool field and anywhere else (a name ``on`` was refused as "must be text, got True"); here they
#: are the text YAML 1.2 reads, and a bool field refuses text, naming these spellings (planner.spec.schema
#: ``_Strict``, qa68). The numbers' rule is ``yaml12_number``'s, per field: the booleans' is the loader's, because the
#: spelling is gone once PyYAML has made a bool of it.
YAML12_BOOLS = ("true", "True", "TRUE", "false", "False", "FALSE")
_SAFE_LOADER.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in _BASE_LOADER.yaml_implicit_resolvers.items()}
_SAFE_LOADER.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(f"^(?:{'|'.join(YAML12_BOOLS)})$"), list("tTfF"))


class _ScalarRefused(ValueError):
    """A scalar the loader will not build (an integer ``int()`` will not read, an explicit tag whose text is no value
    of its type): its message is the refusal's; ``node``, where known, is the scalar, which ``parse_yaml`` locates."""

    def __init__(self, message: str, node: yaml.Node | None = None):
        super().__init__(message)
        self.node = node


def _too_long(text: str) -> str:
    """The refusal of an integer ``int()`` will not read: its digits and Python's limit."""
    digits = sum(c.isdigit() for c in text)
    return (f"too large: a whole number of {digits:,} digits (Python reads at most {sys.get_int_max_str_digits():,}; "
            "no field takes one this large)")


def _int_within_python(loader, node):
    """A YAML integer, or a located refusal where Python will not read it: since CPython 3.11 ``int()`` of a decimal
    string longer than ``sys.get_int_max_str_digits()`` (4,300) raises ValueError (CVE-2020-10735's limit), and a job's,
    a catalog override's (YAML or JSON, both read here) or any YAML file's ``global_batch: 999...9`` of 5,000 digits was
    an "internal error (ValueError): Exceeds the limit (4300 digits)", exit 1 (QA 64). Any such number is far past
    every field's bound, so it is refused here, at its line, as too large. An explicit ``!!int`` on text that is no
    integer (``!!int x``, ``!!int ''``) is refused as no whole number (``_tag_refusal``): until fuzz44 the first read
    "too large: a whole number of 0 digits" and the second was an "internal error (IndexError)"."""
    try:
        return loader.construct_yaml_int(node)
    except (ValueError, IndexError):
        if sum(c.isdigit() for c in node.value) > sys.get_int_max_str_digits():
            raise _ScalarRefused(f"line {node.start_mark.line + 1}: {_too_long(node.value)}") from None
        raise _tag_refusal("int", node) from None


#: what the text of an explicitly tagged scalar must be, per tag: the words of its refusal (``_tag_refusal``)
TAG_WORDS = {"bool": "true or false (YAML 1.2's spellings: " + ", ".join(YAML12_BOOLS) + ")",
             "int": "a whole number", "float": "a number", "timestamp": "a date (2026-12-01) or a time"}


def _tag_refusal(tag: str, node: yaml.ScalarNode) -> _ScalarRefused:
    """The refusal of ``!!<tag> <text>`` whose text is no value of the tag (``TAG_WORDS``), located by ``parse_yaml``.
    PyYAML's constructors raise what they meet on such text -- ``!!bool maybe`` a KeyError, ``!!float x`` a
    ValueError, ``!!int ''`` an IndexError, ``!!timestamp x`` an AttributeError -- each an "internal error", exit 1,
    until fuzz44."""
    return _ScalarRefused(f"!!{tag} {clip(node.value)} is not {TAG_WORDS[tag]}", node)


def _yaml12_bool(loader, node):
    """``!!bool``'s text as YAML 1.2 reads it (``YAML12_BOOLS``; the core schema's ``!!bool`` is true or false only),
    else refused: PyYAML's constructor reads YAML 1.1's table, so ``!!bool yes`` and ``!!bool on`` were true where the
    plain ``yes`` is text since qa68, and ``!!bool maybe`` was an "internal error (KeyError)" (fuzz44)."""
    value = loader.construct_scalar(node)
    if value not in YAML12_BOOLS:
        raise _tag_refusal("bool", node)
    return value.lower() == "true"


def _float_or_refused(loader, node):
    """A YAML float; ``!!float`` on text that is none (``!!float x``, ``!!float ''``) refused (``_tag_refusal``)."""
    try:
        return loader.construct_yaml_float(node)
    except (ValueError, IndexError):
        raise _tag_refusal("float", node) from None


def _timestamp_or_text(loader, node):
    """A date or time; a date-shaped scalar that names no day (``2026-13-01``, ``2026-02-30``) as the text it is, for
    the field's own check: PyYAML's timestamp constructor raised ValueError on it, and a job's or a catalog override's
    ``price_date: 2026-13-01`` was an "internal error (ValueError): month must be in 1..12", exit 1 (QA 55). Text that
    is no timestamp at all reaches here only under an explicit ``!!timestamp`` tag (the implicit resolver matched
    nothing): refused (PyYAML's regex match is None there, an AttributeError, fuzz44)."""
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError:
        return loader.construct_scalar(node)
    except (AttributeError, TypeError):
        raise _tag_refusal("timestamp", node) from None


for _tag, _construct in {"int": _int_within_python, "bool": _yaml12_bool, "float": _float_or_refused,
                         "timestamp": _timestamp_or_text}.items():
    _SAFE_LOADER.add_constructor(f"tag:yaml.org,2002:{_tag}", _construct)


def _key_path(root: yaml.Node, target: yaml.Node) -> str:
    """The keys from the document's root to ``target`` as a field is named (``training.framework.compile``,
    ``instances[0].cluster``; a key quoted as ``shown_path`` quotes text), '' where it is not reached. An alias is the
    node it names: the path is its anchor's, the first use."""
    todo, seen = [(root, "")], set()
    while todo:
        node, path = todo.pop()
        if node is target:
            return path
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):  # (children pushed last first: the first use of an alias is found)
            for k, v in reversed(node.value):
                merge = k.tag == "tag:yaml.org,2002:merge"  # ``<<: {dropout: on}``: the keys are the mapping's own
                name = path if merge else path + ("." if path else "") + shown_path(
                    k.value if isinstance(k, yaml.ScalarNode) else "?")
                if k is target:
                    return name
                todo.append((v, name))
        elif isinstance(node, yaml.SequenceNode):
            todo.extend((v, f"{path}[{i}]") for i, v in reversed(list(enumerate(node.value))))
    return ""


def _located(e: _ScalarRefused, root: yaml.Node) -> str:
    """``e``'s message with the line and the field of its scalar, where it names one."""
    if e.node is None:
        return str(e)
    path = _key_path(root, e.node)
    return f"line {e.node.start_mark.line + 1}: " + (f"{path if len(path) <= ECHO_CHARS else path[:ECHO_CHARS] + '…'}: " if path else "") + str(e)


#: YAML 1.2's float with an exponent (the core schema's tag resolution, yaml.org/spec/1.2.2 section 10.3.2:
#: ``[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?``), the forms YAML 1.1 reads as text: PyYAML
#: follows YAML 1.1 (yaml.org/type/float.html: a dot and a signed exponent, ``1.0e+9``), so ``1e-9``, ``2e12`` and
#: ``1.5e3`` arrive as strings, where every user (and every YAML 1.2 reader) means a number.
_YAML12_EXPONENT_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)[eE][-+]?[0-9]+")


def yaml12_number(value: Any, whole: bool = False) -> Any:
    """``value`` as a number where it is text YAML 1.2 reads as a float (``_YAML12_EXPONENT_FLOAT``), else unchanged.
    The one rule of a numeric field in a job file and a catalog override (``planner.spec.schema._Strict``,
    ``hardware_catalog.catalog._Row``): only a field that takes a number applies it, so a name written ``1e5`` stays the
    text it is (a loader-wide YAML 1.2 resolver would make it 100000.0). ``whole``: a field that takes integers only,
    where a whole number is the ``int`` (``steps: 1e4`` is 10,000; ``1e30`` meets the field's bound as a number, not
    pydantic's "unable to parse input string"); a fraction or ``inf`` stays a float, for the field's own refusal
    ("must be a whole number, got 1e-09", "must be a finite number, got inf"). YAML 1.2 reads ``nan`` and ``inf`` as text
    (its specials are ``.nan`` / ``.inf``), and so does this.

    >>> yaml12_number("1e-9"), yaml12_number(" 2E12 "), yaml12_number("1e4", whole=True), yaml12_number("1e999")
    (1e-09, 2000000000000.0, 10000, inf)
    >>> yaml12_number("nan"), yaml12_number("1e5x"), yaml12_number("12"), yaml12_number(3)
    ('nan', '1e5x', '12', 3)
    """
    if not (isinstance(value, str) and _YAML12_EXPONENT_FLOAT.fullmatch(value.strip())):
        return value
    x = float(value)
    return int(x) if whole and math.isfinite(x) and x.is_integer() else x


def parse_yaml(text: str, field: str, where: str) -> Any:
    """A YAML document, safely: SafeLoader, with the limits of this module checked on the composed
    node graph before any Python object is built from it."""
    loader, node = _SAFE_LOADER(text), None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_yaml(node, field, where)
        return loader.construct_document(node)
    except _ScalarRefused as e:
        raise InputError(field, f"{where}: {_located(e, node)}") from None
    except yaml.reader.ReaderError as e:  # (no problem or mark: its "malformed YAML: malformed YAML" said nothing)
        line = text[:e.position].count("\n") + 1
        raise InputError(field, f"{where}: malformed YAML at line {line}: the control character #x{e.character:02x} "
                                f"(YAML takes none; in double quotes write it \\x{e.character:02x})") from None
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or "malformed YAML"
        if "nesting depth" in problem:  # PyYAML >= 6.0.4 stops deep flow nesting in its scanner
            raise InputError(field, f"{where}: nested more than {MAX_DEPTH} levels deep") from None
        mark = getattr(e, "problem_mark", None)
        pos = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InputError(field, f"{where}: malformed YAML{pos}: {problem}") from None
    except RecursionError:
        raise InputError(field, f"{where}: nested more than {MAX_DEPTH} levels deep") from None
    finally:
        loader.dispose()


def read_yaml(path, field: str, limit: int = MAX_INPUT_BYTES) -> Any:
    return parse_yaml(read_text(path, field, limit), field, shown_path(path))


# --------------------------------------------------------------------------------------- JSON
def _no_duplicates(field: str, where: str):
    def hook(pairs):
        out = {}
        for k, v in pairs:
            if k in out:
                raise InputError(field, f"{where}: duplicate key {clip(k)}")
            out[k] = v
        return out
    return hook


def _json_depth_ok(obj: Any) -> bool:
    stack = [(obj, 0)]
    while stack:
        o, d = stack.pop()
        if d > MAX_DEPTH:
            return False
        if isinstance(o, dict):
            stack.extend((v, d + 1) for v in o.values())
        elif isinstance(o, list):
            stack.extend((v, d + 1) for v in o)
    return True


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _json_int(text: str) -> int:
    """JSON's integer, refused as ``_int_within_python`` refuses YAML's where ``int()`` will not read it (a Hugging Face
    config.json's or a profile's ``hidden_size`` of 5,000 digits read "not valid JSON (Exceeds the limit (4300 digits)
    ...; use sys.set_int_max_str_digits() to increase the limit)" until QA 64)."""
    try:
        return int(text)
    except ValueError:
        raise _ScalarRefused(_too_long(text)) from None


def parse_json(text: str, field: str, where: str) -> Any:
    """Strict JSON: no duplicate keys, no NaN/Infinity, no integer past ``int()``'s limit, at most ``MAX_DEPTH``
    levels."""
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates(field, where), parse_constant=_refuse_constant,
                         parse_int=_json_int)
    except _ScalarRefused as e:
        raise InputError(field, f"{where}: {e}") from None
    except json.JSONDecodeError as e:
        raise InputError(field, f"{where} is not valid JSON (line {e.lineno}: {e.msg})") from None
    except RecursionError:
        raise InputError(field, f"{where}: nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as e:
        if isinstance(e, InputError):
            raise
        raise InputError(field, f"{where} is not valid JSON ({e})") from None
    if not _json_depth_ok(obj):
        raise InputError(field, f"{where}: nested more than {MAX_DEPTH} levels deep")
    return obj


def read_json_object(path, field: str, what: str = "", limit: int = MAX_INPUT_BYTES) -> dict:
    """A JSON file that must hold an object. ``what`` is appended to the invalid-JSON message."""
    try:
        obj = parse_json(read_text(path, field, limit), field, shown_path(path))
    except InputError as e:
        if what and "not valid JSON" in e.message:
            raise InputError(field, e.message + what) from None
        raise
    if not isinstance(obj, dict):
        raise InputError(field, f"{shown_path(path)} must hold a JSON object")
    return obj
