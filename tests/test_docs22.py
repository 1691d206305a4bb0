"""README claims a newcomer follows, checked against the code (the docs22 audit).

* README "Every field, its default and its choices": every field of the job schema
  (planner/spec/schema.py ``JobSpec`` and its sections) is listed under its section with the schema's
  default and, for a Literal field, every choice -- so a field added, renamed or re-defaulted in the
  schema without the README fails here.
* The loader's "unknown section" message names every section the schema takes (it named six of twelve).
"""
import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from planner.errors import InputError
from planner.spec import schema as S
from planner.spec.load import load_job_dict
from planner.workloads.tabular import TabularSpec

README = Path(__file__).resolve().parents[1] / "README.md"


def _reference_rows() -> dict[str, str]:
    """The field reference table's rows by section (``model.moe``, ``training``, ...)."""
    text = README.read_text(encoding="utf-8")
    start = text.index("### Every field, its default and its choices")
    end = text.index("\n## ", start)
    rows = {}
    for line in text[start:end].splitlines():
        m = re.match(r"\| (?:`([\w.]+)`|\(top level\)) \| (.*) \|$", line)
        if m:
            rows[m.group(1) or ""] = m.group(2)
    return rows


def _sub_model(ann):
    for a in getattr(ann, "__args__", ()) + (ann,):
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
    return None


def _choices(ann) -> list:
    if typing.get_origin(ann) is typing.Literal:
        return list(ann.__args__)
    out = []
    for a in getattr(ann, "__args__", ()):
        if not isinstance(a, str):
            out += [v for v in _choices(a) if v not in out]
    return out


def _default(f) -> str | None:
    """The default as the table writes it (None: a section, described in its own row)."""
    if f.default is PydanticUndefined and f.default_factory is None:
        return "required"
    d = f.default_factory() if f.default_factory is not None else f.default
    if d is None:
        return "unset"
    if isinstance(d, bool):
        return str(d).lower()
    if isinstance(d, list):
        return "[]" if not d else None
    if isinstance(d, float):
        return f"{d:g}"
    return str(d)


def _fields(model=S.JobSpec, section=""):
    """(section, name, default, choices) of every leaf field, and the sections themselves."""
    for name, f in model.model_fields.items():
        sub = _sub_model(f.annotation)
        if sub is not None:
            yield from _fields(sub, f"{section}.{name}".lstrip("."))
            continue
        yield section, name, _default(f), _choices(f.annotation)


#: the job schema's fields, and the ``tabular`` section's, which ``JobSpec`` takes as a dict and
#: ``planner.workloads.tabular`` validates (its fields were in no table until gbdt46b)
CASES = list(_fields()) + list(_fields(TabularSpec, "tabular"))


def test_the_walk_sees_every_section():
    assert {s for s, *_ in CASES} >= {"", "model", "model.moe", "model.mla", "model.mamba", "training",
                                      "training.framework", "training.lora", "parallel", "cluster", "data",
                                      "evaluation", "checkpoint", "constraints", "serving", "onprem",
                                      "tabular", "tabular.early_stopping", "tabular.measured_rows_per_s"}
    assert len(CASES) > 190


def _problem(rows, section, name, default, choices) -> str | None:
    if section not in rows:
        return f"no row for section {section or '(top level)'}"
    row = rows[section]
    entry = re.search(rf"(?:^|; )`{re.escape(name)}`( = ([^:;(]+?))?(?= \(|:|;|$)", row)
    if not entry:
        return f"{section}.{name} is missing"
    if (entry.group(2) or "").strip() != default:
        return f"{section}.{name} = {entry.group(2)!r}; the schema's default is {default!r}"
    if choices:
        listed = re.match(r" \(([^)]*)\)", row[entry.end():])
        if not listed or [c.strip() for c in listed.group(1).split("\\|")] != [str(c) for c in choices]:
            return f"{section}.{name}: choices {listed and listed.group(1)!r}; the schema's are {choices}"
    return None


def test_readme_lists_every_field_with_its_default_and_choices():
    rows = _reference_rows()
    problems = [p for case in CASES if (p := _problem(rows, *case))]
    assert not problems, "README field reference disagrees with planner/spec/schema.py:\n" + "\n".join(problems)


def test_unknown_section_message_names_every_section():
    """A file without ``model`` but with an unknown key: the message listed six sections, leaving out
    evaluation, checkpoint, serving, onprem, tabular and campaign, which a newcomer then took for unknown too."""
    with pytest.raises(InputError) as e:
        load_job_dict({"serving": {"qps": 1}, "foo": 1})
    msg = str(e.value)
    assert "foo" in msg and "unknown section" in msg
    for sec in S.JobSpec.model_fields:
        if sec != "assumptions":
            assert sec in msg, f"{sec} missing from {msg!r}"


def test_vpp_without_pipeline_names_the_cause():
    """``vpp: 2`` on ``pp: 1`` (README "Defaults that used to disagree": `estimate` refuses it) said
    "pp*vpp = 2 exceeds model.layers=32 plus the embedding and the loss", which is false; the cause is pp = 1."""
    with pytest.raises(InputError) as e:
        load_job_dict({"model": {"preset": "llama3-8b"}, "parallel": {"tp": 1, "pp": 1, "vpp": 2},
                       "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}})
    assert e.value.field == "parallel.vpp"
    assert "needs pp > 1" in str(e.value) and "exceeds" not in str(e.value)


def test_data_preprocess_is_refused_not_ignored():
    """``data.preprocess`` was accepted and never read (the preprocessing tax is ``campaign.preprocess``): a job
    that set it was planned without its preprocessing, silently. It is refused by name now."""
    with pytest.raises(InputError) as e:
        load_job_dict({"model": {"preset": "llama3-8b"}, "data": {"preprocess": {"hours": 6}}})
    assert e.value.field == "data.preprocess" and "campaign" in str(e.value)
