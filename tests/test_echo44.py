"""A refusal quotes the offending value as the job file spells it: ``null``, ``true``, ``false`` -- not Python's
``None`` / ``True`` (a non-nullable bool given ``null`` read "must be true or false, got None"; fuzz44's left-alone)."""
from __future__ import annotations

from hardware_catalog.errors import clip


def test_null_and_booleans_are_quoted_as_yaml_writes_them():
    assert (clip(None), clip(True), clip(False)) == ("null", "true", "false")
    assert clip("true") == "'true'"  # text stays quoted: the message tells the text "true" from the boolean
    assert clip(0) == "0"


def test_a_null_bool_field_is_refused_with_null(tmp_path):
    from typer.testing import CliRunner

    from planner.cli import app

    job = tmp_path / "job.yaml"
    job.write_text("model: {preset: llama3-8b}\ntraining: {tokens: 1e9, flash_attention: null}\n")
    out = CliRunner().invoke(app, ["estimate", str(job)])
    assert out.exit_code == 2
    assert "training.flash_attention: must be true or false, got null" in out.output

