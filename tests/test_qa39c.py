"""QA pass 39c: what QA 39b saw and left -- each with the check that failed before its fix."""
from __future__ import annotations

import pytest

from conftest import one_error_line, write_job


# ---- 1. the last case-sensitive enumerations: compare --by, --emit's blanks, --device ------------------------------
# `compare --by GPU` was refused ("must be one of gpu, cloud, hardware, framework") beside `constraints.clouds: [AWS]`;
# COMPARE_BY, --emit's formats and styles and calibration's --device are Vocabs now, folded by Vocab.canonical
def test_compare_by_takes_any_case(tmp_path, cli):
    import json

    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"},
                               "training": {"seq_len": 4096, "global_batch": 64, "tokens": 1e10},
                               "constraints": {"clouds": ["aws"], "gpus": ["H100-SXM-80GB", "A100-SXM-80GB"]}})
    code, out, err = cli("compare", job, "--by", "GPU", "--json")
    assert code == 0, err
    assert sorted(r["gpu"] for r in json.loads(out)) == ["A100-SXM-80GB", "H100-SXM-80GB"]
    line = one_error_line(cli("compare", job, "--by", "Rack")[2])
    assert line == "error: --by: must be one of gpu, cloud, hardware, framework, got 'Rack'", line


def test_emit_formats_and_styles_fold_as_the_job_fields_do():
    from planner.errors import InputError
    from planner.present.emit import check_emit_format

    assert check_emit_format(" Slurm : FSDP ") == ("slurm", "fsdp")
    assert check_emit_format("TORCHRUN") == ("torchrun", None)
    with pytest.raises(InputError) as e:
        check_emit_format("torchrun:Deepspeed")
    assert str(e.value) == "--emit: launcher style must be one of megatron, fsdp, automodel (got 'Deepspeed')"


def test_calibration_device_takes_any_case(monkeypatch, tmp_path, capsys):
    import calibration.__main__ as entry
    import calibration.bench as bench

    assert bench.resolve_device(" CPU") == "cpu"
    seen = {}

    def fake(**kw):
        seen.update(kw)
        raise bench.InputError("--out", "stop here")
    monkeypatch.setattr(bench, "run_calibration", fake)
    assert entry.main(["--device", "CPU", "-o", str(tmp_path / "p.json")]) == 2
    assert seen["device"] == "cpu"
