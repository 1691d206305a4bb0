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
    assert str(e.value) == "--emit: launcher style must be one of megatron, fsdp, automodel, script, dle-bert, got 'Deepspeed'"


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


# ---- 2. the GBDT profile, the loop's rows and the collectives took any suffix ----------------------------------------
# `python -m calibration.gbdt -o gbdt` measured for a minute and wrote "gbdt"; `calibration.loop --json rows` and
# `calibration.collectives -o` the same; each is checked before any measuring now, as the calibration profile is
# (outputs.GBDT_PROFILE, LOOP_ROWS, COLLECTIVES)
def test_calibration_outputs_without_json_are_refused_before_measuring(tmp_path, monkeypatch, capsys):
    pytest.importorskip("xgboost")
    import calibration.bench as bench
    import calibration.collectives as collectives
    import calibration.gbdt as gbdt
    import calibration.loop as loop

    monkeypatch.setattr(gbdt, "time_training", lambda *a, **k: pytest.fail("measured before checking -o"))
    monkeypatch.setattr(bench, "run_calibration", lambda **kw: pytest.fail("calibrated before checking --json"))
    monkeypatch.setattr(collectives, "_init", lambda device: pytest.fail("started the group before checking -o"))
    assert gbdt.main(["-o", str(tmp_path / "gbdt")]) == 2
    assert capsys.readouterr().err.strip() == "error: --out: gbdt: the GBDT profile is .json (got 'no suffix')"
    assert loop.main(["--json", str(tmp_path / "rows.txt")]) == 2
    assert capsys.readouterr().err.strip() == "error: --json: rows.txt: the loop's rows file is .json (got '.txt')"
    assert loop.main(["--json", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == f"error: --json: {tmp_path} is a folder; give a file name such as " \
                                              f"{tmp_path / 'rows.json'}"
    assert collectives.main(["--device", "CPU", "-o", str(tmp_path / "coll.out")]) == 2  # before any process group
    assert capsys.readouterr().err.strip() == "error: --out: coll.out: the collectives file is .json (got '.out')"
    assert list(tmp_path.iterdir()) == []
