"""Reading the files a user hands us — job YAML, Hugging Face ``config.json``, calibration profiles,
catalog overrides — without trusting them.

Limits (stated here once, quoted in the README):

- only regular files are read (a FIFO would block forever, ``/dev/zero`` never ends); the check is
  made on the opened descriptor, so a file swapped in between cannot slip past it;
- at most ``MAX_INPUT_BYTES`` (8 MiB) per file: the largest real input, a 3,000-row catalog CSV, is
  well under 1 MiB;
- UTF-8 text (a leading byte-order mark, as spreadsheets write it, is dropped); binary data is refused, and so are
  UTF-16 and UTF-32, named by their byte-order marks;
- YAML/JSON documents at most ``MAX_DEPTH`` (64) levels deep and at most ``MAX_NODES`` (100,000)
  values *after* alias expansion — a 1 KB "billion laughs" file expands to 10^9 values and is
  refused before anything is built from it; recursive aliases are refused;
- YAML values of YAML 1.2's core types and dates only (``TAKEN_TAGS``): ``!!binary``, ``!!set``, ``!!omap``,
  ``!!pairs``, Python's and local tags are refused at their line and field;
- duplicate mapping keys are refused (YAML and JSON would silently keep the last one), and so are
  JSON's non-standard ``NaN`` / ``Infinity``.

Errors are ``InputError(field, message)``; a message quotes at most ``ECHO_CHARS`` characters of input.
"""
from __future__ import annotations

import codecs
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
#: the refusal of a YAML document past ``MAX_NODES`` (``_check_events``, ``_check_yaml``; a catalog override adds where
#: more rows fit: ``hardware_catalog.catalog``)
TOO_MANY_VALUES = f"too large: expands to more than {MAX_NODES:,} values (aliases are counted each time they are used)"

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


#: the byte-order marks of Unicode text that is not UTF-8 (the Unicode Standard, section 23.8 "Byte Order Mark", table
#: 23-4), UTF-32's first: its little-endian mark begins with UTF-16's. Excel's "Unicode Text" and Windows Notepad's
#: "Unicode" save UTF-16 little-endian with its mark; Python's ``encode("utf-16")`` / ``("utf-32")`` write one too.
OTHER_UNICODE_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
                      (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))


def _other_unicode(data: bytes) -> str | None:
    """The refusal of UTF-16 / UTF-32 text by its byte-order mark (``OTHER_UNICODE_BOMS``), else None: until fuzz47b
    such a file read "not UTF-8 text (byte 0xff at offset 0)", which named no encoding to save it from."""
    for bom, name in OTHER_UNICODE_BOMS:
        if data.startswith(bom):
            return f"not UTF-8 text but {name} (its byte-order mark {bom.hex(' ')} starts the file); save it as UTF-8"
    return None


def decode_text(data: bytes, field: str, where: str) -> str:
    """UTF-8 text, a leading byte-order mark dropped; UTF-16 and UTF-32 (by their marks), binary or other encodings
    are refused."""
    other = _other_unicode(data)
    if other is not None:
        raise InputError(field, f"{where}: {other}")
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
            raise InputError(field, f"{where}: {TOO_MANY_VALUES}")
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
#: ``Strict``, qa68). The numbers' rule is ``yaml12_number``'s, per field: the booleans' is the loader's, because the
#: spelling is gone once PyYAML has made a bool of it.
YAML12_BOOLS = ("true", "True", "TRUE", "false", "False", "FALSE")
_SAFE_LOADER.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in _BASE_LOADER.yaml_implicit_resolvers.items()}
_SAFE_LOADER.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(f"^(?:{'|'.join(YAML12_BOOLS)})$"), list("tTfF"))

#: YAML 1.2's numbers (the core schema, yaml.org/spec/1.2.2 section 10.3.2): ``[-+]? [0-9]+``, ``0o [0-7]+``,
#: ``0x [0-9a-fA-F]+``; ``[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`` and the specials.
YAML_SPACE = " \t\r\n"  # YAML's white space and line breaks (spec 1.2.2 section 5.4, 5.5): the strip of a number's text
YAML12_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
YAML12_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")
#: the numbers the loader reads in a plain scalar: YAML 1.2's that YAML 1.1 (yaml.org/type/int.html, float.html;
#: PyYAML's dumper) reads as numbers too, so whatever ``yaml.safe_dump`` writes unquoted reads back as it was dumped
#: (its dumper quotes a text only where YAML 1.1 would read a number). PyYAML's own YAML 1.1 resolvers read ``0100`` as
#: the octal 64, ``1:04`` as the sexagesimal 64, ``6_4`` as 64 and ``0b1`` as 1 without a word; YAML 1.2 reads 100 and
#: text (fuzz45). YAML 1.2 numbers YAML 1.1 reads as text (``1e5``, ``-.5``, ``0o17``, ``089``) stay text here and are
#: read per numeric field (``yaml12_number``): a name written ``1e5`` keeps its text, and round-trips.
_PLAIN_INT = re.compile(r"^(?:[-+]?(?:0|[1-9][0-9]*)|[-+]?0[0-7]+|0x[0-9a-fA-F]+)$")
_PLAIN_FLOAT = re.compile(r"^(?:[-+]?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?|\.[0-9]+(?:[eE][-+][0-9]+)?"
                          r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
#: a plain scalar YAML 1.2 reads as a number and YAML 1.1 as text: built as the text it is (``_plain_text``), only its
#: tag telling it from the same text quoted or under ``!!str`` (``QuotedText``)
_YAML12_ONLY_NUMBER = "tag:yaml.org,2002:yaml12-number"
_SAFE_LOADER.yaml_implicit_resolvers = {  # (and YAML 1.1's ``=``, yaml.org/type/value.html: YAML 1.2 reads it as text)
    first: [(tag, rx) for tag, rx in resolvers
            if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:value")]
    for first, resolvers in _SAFE_LOADER.yaml_implicit_resolvers.items()}
for _tag, _rx, _first in (("tag:yaml.org,2002:int", _PLAIN_INT, "-+0123456789"),
                          ("tag:yaml.org,2002:float", _PLAIN_FLOAT, "-+0123456789."),
                          (_YAML12_ONLY_NUMBER, re.compile(f"^(?:{YAML12_INT.pattern}|{YAML12_FLOAT.pattern})$"),
                           "-+0123456789.")):
    _SAFE_LOADER.add_implicit_resolver(_tag, _rx, list(_first))


class QuotedText(str):
    """Text a job wrote quoted (or under ``!!str``, or as a JSON string) that YAML 1.2 reads as a number unquoted
    (``"1e5"``): the same text to every reader but a numeric field of a job, which refuses a quoted number
    (planner.spec.schema ``_number_text``). Until fuzz45 a quoted ``"1e5"`` read as the number, since PyYAML hands the
    plain ``1e5`` (YAML 1.1's text) as the same string. ``yaml.safe_dump`` writes it quoted, as it was read."""

    __slots__ = ()


def quoted_text(value: str) -> str:
    """``value`` as ``QuotedText`` where ``yaml12_number`` would read it as a number, else unchanged."""
    return QuotedText(value) if yaml12_number(value) is not value else value


for _dumper in {yaml.SafeDumper, yaml.Dumper, getattr(yaml, "CSafeDumper", yaml.SafeDumper), getattr(yaml, "CDumper", yaml.Dumper)}:
    _dumper.add_representer(QuotedText, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", str(s), style="'"))


class _ScalarRefused(ValueError):
    """A scalar the loader will not build (an integer ``int()`` will not read, an explicit tag whose text is no value
    of its type, a tag outside ``TAKEN_TAGS`` on any node): its message is the refusal's; ``node``, where known, is the
    node, which ``parse_yaml`` locates."""

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
    an "internal error (ValueError): Exceeds the limit (4300 digits)", exit 1 (QA 64). The text is read as YAML 1.2
    reads it (``yaml12_int``; the implicit resolver takes YAML 1.2's integers only, ``_PLAIN_INT``). Any such number is far past
    every field's bound, so it is refused here, at its line, as too large. An explicit ``!!int`` on text that is no
    integer (``!!int x``, ``!!int ''``) is refused as no whole number (``_tag_refusal``): until fuzz44 the first read
    "too large: a whole number of 0 digits" and the second was an "internal error (IndexError)"."""
    text = loader.construct_scalar(node)
    if not YAML12_INT.fullmatch(text):  # (only an explicit ``!!int`` reaches here with other text: ``!!int 6_4``)
        raise _tag_refusal("int", node)
    try:
        return yaml12_int(text)
    except ValueError:
        raise _ScalarRefused(f"line {node.start_mark.line + 1}: {_too_long(node.value)}") from None


def yaml12_int(text: str) -> int:
    """A YAML 1.2 integer's value (``YAML12_INT``): decimal with or without leading zeros (PyYAML read ``0100`` as the
    octal 64, YAML 1.1's rule), ``0o`` octal, ``0x`` hexadecimal. ValueError past ``int()``'s digit limit."""
    base = {"0o": 8, "0x": 16}.get(text[:2], 10)
    return int(text[2:] if base != 10 else text, base)


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
    """A YAML float as YAML 1.2 reads it (``yaml12_float``); ``!!float`` on text that is none (``!!float x``,
    ``!!float ''``, YAML 1.1's ``1_0.5``) refused (``_tag_refusal``)."""
    text = loader.construct_scalar(node)
    if not (YAML12_FLOAT.fullmatch(text) or YAML12_INT.fullmatch(text)):  # ``!!float 1_0.5``, ``!!float 1:30``: no
        raise _tag_refusal("float", node)  # YAML 1.2 float (PyYAML's constructor read YAML 1.1's 10.5 and 90.0)
    return yaml12_float(text)


def yaml12_float(text: str) -> float:
    """A YAML 1.2 number's value as a float (``YAML12_FLOAT``, or an integer's under ``!!float``)."""
    special = {"inf": math.inf, "nan": math.nan}.get(text.lstrip("+-.").lower())
    if special is not None:
        return -special if text.startswith("-") else special
    if text[:2] in ("0o", "0x"):
        n = yaml12_int(text)
        return math.copysign(math.inf, n) if n.bit_length() > 1024 else float(n)  # (past float's range: inf)
    return float(text)


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


def _text(loader, node):
    """A text scalar: ``QuotedText`` where YAML 1.2 reads it as a number unquoted (``quoted_text``); a plain one that
    YAML 1.2 reads so and YAML 1.1 does not resolves to ``_YAML12_ONLY_NUMBER`` instead, and is plain text."""
    return quoted_text(loader.construct_scalar(node))


for _tag, _construct in {"int": _int_within_python, "bool": _yaml12_bool, "float": _float_or_refused,
                         "timestamp": _timestamp_or_text, "str": _text}.items():
    _SAFE_LOADER.add_constructor(f"tag:yaml.org,2002:{_tag}", _construct)
_SAFE_LOADER.add_constructor(_YAML12_ONLY_NUMBER, lambda loader, node: loader.construct_scalar(node))

#: the prefix of YAML's own tags (``!!binary`` is ``tag:yaml.org,2002:binary``: yaml.org/spec/1.2.2 section 6.8.2.2)
YAML_TAG_PREFIX = "tag:yaml.org,2002:"
#: the tags a job or catalog file's value may carry, written or resolved: YAML 1.2's core schema (yaml.org/spec/1.2.2
#: sections 10.1-10.3: ``str``, ``int``, ``float``, ``bool``, ``null``, ``seq``, ``map``) and YAML 1.1's ``timestamp``
#: (yaml.org/type/timestamp.html), which a catalog override's ``price_date: 2026-11-15`` is read as (QA 55). Every
#: field is one of these; any other tag is refused by ``_tag_not_taken``.
TAKEN_TAGS = ("str", "int", "float", "bool", "null", "seq", "map", "timestamp")
#: what a refused tag's line says a file holds
TAKEN_WORDS = "a job or catalog file holds text, numbers, true/false, null, dates, lists and mappings"


def shown_tag(tag: str) -> str:
    """A tag as a file writes it: ``!!binary`` for YAML's own, a local ``!x`` as is, any other ``!<...>``; control
    characters escaped (``shown_path``), cut at ``ECHO_CHARS``."""
    text = ("!!" + tag[len(YAML_TAG_PREFIX):] if tag.startswith(YAML_TAG_PREFIX)
            else tag if tag.startswith("!") else f"!<{tag}>")
    return shown_path(text if len(text) <= ECHO_CHARS else text[:ECHO_CHARS] + "…")


def _tag_not_taken(loader, node):
    """The refusal of a value (or key) under a tag outside ``TAKEN_TAGS``, at its line and field. PyYAML's safe loader
    builds YAML 1.1's other types (yaml.org/type/): ``!!binary aGk=`` bytes, which pydantic's lax mode read as the text
    ``hi`` in a text field; ``!!set {A100}`` a Python set, read as a list; a key ``!!binary`` or an ``!!omap`` entry
    was quoted back in Python's forms (``b'hi'``, ``('A100', 1)``); and a tag it has no constructor for (``!!python/...``,
    a local ``!x``) read "malformed YAML ... could not determine a constructor for the tag" without naming the field
    (fuzz47b)."""
    raise _ScalarRefused(f"the tag {shown_tag(node.tag)} is not read here ({TAKEN_WORDS})", node)


for _tag in [t for t in _SAFE_LOADER.yaml_constructors
             if t != _YAML12_ONLY_NUMBER and t not in {YAML_TAG_PREFIX + x for x in TAKEN_TAGS}]:
    _SAFE_LOADER.add_constructor(_tag, _tag_not_taken)  # (the tag None: any tag with no constructor of its own)


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
    """``value`` as a number where it is text YAML 1.2 reads as a number and the loader leaves as text (YAML 1.1's
    text: ``_YAML12_EXPONENT_FLOAT``, ``-.5``, ``0o17``, ``089``; ``_PLAIN_INT`` / ``_PLAIN_FLOAT`` are read by the
    loader itself), else unchanged.
    The one rule of a numeric field in a job file and a catalog override (``planner.spec.schema.Strict``,
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
    >>> yaml12_number("-.5"), yaml12_number("0o17"), yaml12_number("089"), yaml12_number("6_4")
    (-0.5, 15, 89, '6_4')
    """
    if not isinstance(value, str):
        return value
    t = value.strip(YAML_SPACE)
    if not (_YAML12_EXPONENT_FLOAT.fullmatch(t) or (is_yaml12_number(t) and not (_PLAIN_INT.match(t) or _PLAIN_FLOAT.match(t)))):
        return value
    if YAML12_INT.fullmatch(t):
        return yaml12_int(t)
    x = yaml12_float(t)
    return int(x) if whole and math.isfinite(x) and x.is_integer() else x


def is_yaml12_number(text: str) -> bool:
    """Whether YAML 1.2 reads ``text``, unquoted, as a number (``YAML12_INT`` / ``YAML12_FLOAT``)."""
    return bool(YAML12_INT.fullmatch(text) or YAML12_FLOAT.fullmatch(text))


def is_python_only_number(text: str) -> bool:
    """Whether ``text`` is a finite number to Python's ``float`` and no number to YAML 1.2 (its white space stripped):
    ``6_4``, ``٦٤`` (Arabic-Indic), ``６４`` (full-width), a no-break space around digits. Python (and pydantic's lax
    mode, and ``int``) reads these as the number; the one rule of what a number looks like (a job's field, a catalog
    override's cell, a trace's cell: ``number_cell``) refuses them, since fuzz45 for a job and fuzz46b for a CSV.

    >>> [is_python_only_number(t) for t in ("6_4", "٦٤", "7\\u00a0", " 7 ", "1e3", "inf", "abc")]
    [True, True, True, False, False, False, False]
    """
    if is_yaml12_number(text.strip(YAML_SPACE)):
        return False
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


#: ``number_cell``'s refusal of text only Python reads as a number
NUMBER_CELL_WORDS = "must be a number in the digits 0-9, as YAML 1.2 writes one (no _, no-break space or other digits)"


def number_cell(value: Any, whole: bool = False) -> Any:
    """A CSV cell (text by nature) of a numeric column, read by the rule a job file's numeric field follows: the text,
    less YAML's white space around it (``YAML_SPACE``: a CSV's `` 7 `` is 7, as ``steps:  7 `` is), as a number where
    YAML 1.2 reads it as one (``1e3``, ``0x10``, ``.5``): a float, or with ``whole`` (a column of integers) a whole
    number the ``int``, as ``yaml12_number`` gives an integer field ``1e4``), ValueError where only Python reads it (``is_python_only_number``: until fuzz46b a
    trace's ``1_0`` was 10 and ``١٢`` 12, and an override's ``4_0`` $/h 40), else unchanged (a blank, ``abc``, ``inf``:
    the column's own check and its words). Non-text is unchanged.

    >>> number_cell(" 7 ", whole=True), number_cell("1e3", whole=True), number_cell("0x10"), number_cell("abc")
    (7, 1000, 16.0, 'abc')
    >>> number_cell("1_0")
    Traceback (most recent call last):
    ...
    ValueError: must be a number in the digits 0-9, as YAML 1.2 writes one (no _, no-break space or other digits)
    """
    if not isinstance(value, str):
        return value
    t = value.strip(YAML_SPACE)
    if is_yaml12_number(t):
        if whole and YAML12_INT.fullmatch(t):
            try:
                return yaml12_int(t)  # (exact: 2^63 is 2^63)
            except ValueError:  # past ``int()``'s digit limit (a decimal of 4,300+ digits): the float, inf
                pass
        x = yaml12_float(t)
        return int(x) if whole and isinstance(x, float) and math.isfinite(x) and x.is_integer() else x
    if is_python_only_number(value):
        raise ValueError(NUMBER_CELL_WORDS)  # (the cell is quoted by the caller, as its other refusals are)
    return value


def _check_events(text: str, field: str, where: str) -> None:
    """The limits of ``_check_yaml`` that can be seen before a node is composed, checked on the parser's events (a flat
    stream: libyaml's parser keeps its own stack): collections open more than ``MAX_DEPTH`` + 1 at once (a node deeper
    than ``MAX_DEPTH``), and more than ``MAX_NODES`` nodes written out (aliases counted once here, so a lower bound of
    the expanded size ``_check_yaml`` counts). Why before: PyYAML 6.0.3's C composer (``_yaml.pyx``
    ``CParser._compose_node``) recurses once per level on the C stack without a depth check, so ``model:`` followed by
    50,000 ``[`` (100 KB) killed the process with a segmentation fault, no message, exit -11 (fuzz47; PyYAML 6.0.4's
    scanner stops deep flow nesting, not block nesting); and an 8 MiB override of ~1.4 million values took ~10 s to
    compose before ``_check_yaml`` refused it (the events: ~0.35 s). Only the first document is read: a second one is the
    composer's refusal, as before."""
    depth = nodes = 0
    for event in yaml.parse(text, Loader=_SAFE_LOADER):
        if isinstance(event, yaml.DocumentEndEvent):
            return
        if isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
            continue
        if isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent, yaml.CollectionStartEvent)):
            nodes += 1
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH + 1:
                raise InputError(field, f"{where}: nested more than {MAX_DEPTH} levels deep")
        if nodes > MAX_NODES:
            raise InputError(field, f"{where}: {TOO_MANY_VALUES}")


def parse_yaml(text: str, field: str, where: str) -> Any:
    """A YAML document, safely: SafeLoader, with the limits of this module checked on the parser's events before a
    node is composed (``_check_events``) and on the composed node graph before any Python object is built from it."""
    loader, node = _SAFE_LOADER(text), None
    try:
        _check_events(text, field, where)
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
        ctx, first = getattr(e, "context", None), getattr(e, "context_mark", None)
        mark = getattr(e, "problem_mark", None)
        if ctx and ctx.startswith("found duplicate anchor") and first is not None and mark is not None:
            # PyYAML's composer puts what is wrong in the context and only "second occurrence" in the problem (libyaml's
            # context without the anchor's name): until QA 106 an anchor named twice read "malformed YAML at line 2,
            # column 44: second occurrence"
            name = re.match(r"&([^\s,\[\]{}]*)", text.splitlines()[mark.line][mark.column:] if mark.line < len(
                text.splitlines()) else "")
            problem = (f"the anchor {'&' + name.group(1) + ' ' if name else ''}is named twice, first at line "
                       f"{first.line + 1}, column {first.column + 1} (give each anchor its own name)")
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
            out[k] = _json_text(v)
        return out
    return hook


def _json_text(v: Any) -> Any:
    """A JSON value with its strings (in lists too; an object's are marked when it is built) as a YAML loader reads
    quoted ones (``quoted_text``): JSON's ``"1e5"`` is quoted text, which a job's numeric field refuses, as it refuses
    ``"512"`` (fuzz45; until then it read 100000)."""
    if isinstance(v, str):
        return quoted_text(v)
    if isinstance(v, list):
        return [_json_text(x) for x in v]
    return v


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


#: json's reasons (CPython Lib/json/decoder.py and Modules/_json.c, whose messages end in "at" where the position is
#: appended to the message, as ``JSONDecodeError``'s str does) in a user's words; the reason itself where it is not here
JSON_REASONS = {
    "Invalid control character at": "a control character inside a string (JSON writes a tab or line end there as "
                                    "\\t or \\n)",
    "Unterminated string starting at": "a string opened here is never closed (no \" before the end)",
    "Invalid \\escape": "a backslash that starts no escape (write \\\\ for a backslash)",
    "Invalid \\uXXXX escape": "\\u is not followed by four hexadecimal digits",
    "Extra data": "more text after the JSON value ends",
    "Expecting value": "a value expected here (a number, a \"string\", true, false, null, [ or {)",
    "Expecting ',' delimiter": "a , expected here (or the ] or } that closes the list or object)",
    "Expecting ':' delimiter": "a : expected here, after the key",
    "Expecting property name enclosed in double quotes": "a key in double quotes expected (or a } with no comma "
                                                         "before it)",
}


def json_reason(e: json.JSONDecodeError) -> str:
    """``e``'s reason in words (``JSON_REASONS``): json's "Invalid control character at" ended the one-line refusal
    at "at", the position it points to only in ``e.pos`` (fuzz46b); the caller gives the line and column.

    >>> try:
    ...     json.loads('{"a": "x\\x01y"}')
    ... except json.JSONDecodeError as e:
    ...     print(e.lineno, e.colno, json_reason(e))
    1 9 a control character inside a string (JSON writes a tab or line end there as \\t or \\n)
    """
    return JSON_REASONS.get(e.msg, e.msg)


def parse_json(text: str, field: str, where: str) -> Any:
    """Strict JSON: no duplicate keys, no NaN/Infinity, no integer past ``int()``'s limit, at most ``MAX_DEPTH``
    levels."""
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates(field, where), parse_constant=_refuse_constant,
                         parse_int=_json_int)
    except _ScalarRefused as e:
        raise InputError(field, f"{where}: {e}") from None
    except json.JSONDecodeError as e:
        raise InputError(field, f"{where} is not valid JSON (line {e.lineno}, column {e.colno}: {json_reason(e)})") from None
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
