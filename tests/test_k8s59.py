"""A plan's instance name goes into a Kubernetes manifest as the nodeSelector ``node.kubernetes.io/instance-type``: a
private catalog's instance named ``my box (a100)`` was written as given, which the API server refuses (a label value is
at most 63 alphanumerics, '-', '_', '.', alphanumeric at both ends). The emitter now refuses it in one line, before
anything is written (session 59, left by qa59)."""
from __future__ import annotations

import pytest

from conftest import refused, write_job
from planner.errors import InputError
from planner.present.emit import k8s_label_value

ROWS = ("cloud,name,gpu,gpu_count,fabric,cluster,network_gbps,price_ondemand_usd_hr,source,notes\n"
        "onprem,{name},H100-SXM-80GB,8,infiniband,true,3200,30,me,\n")
JOB = ("model: {preset: llama3-8b}\ntraining: {seq_len: 4096, global_batch: 64, tokens: 1.0e9}\n"
       "constraints: {instances: ['onprem:%s'], max_gpus: 16}\n")


@pytest.mark.parametrize("name", ["p5.48xlarge", "Standard_ND96isr_H100_v5", "a3-highgpu-8g", "x" * 63, ""])
def test_real_instance_names_pass(name):
    assert k8s_label_value(name) == name


@pytest.mark.parametrize("name", ["my box", "box(a100)", "cost$", "-lead", "trail.", "x" * 64, "ünï"])
def test_names_no_label_can_hold_are_refused(name):
    with pytest.raises(InputError) as e:
        k8s_label_value(name)
    assert e.value.field == "--emit"


def test_recommend_emit_k8s_refuses_the_name_in_one_line(cli, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text(ROWS.format(name="my box"))
    job = write_job(tmp_path, JOB % "my box")
    line = refused(cli("recommend", job, "--catalog", rows, "--no-simulate", "--emit", "k8s"))
    assert line.startswith("error: --emit: instance 'my box' cannot be a Kubernetes label value"), line
    rows.write_text(ROWS.format(name="my-box"))
    job = write_job(tmp_path, JOB % "my-box")
    code, text, err = cli("recommend", job, "--catalog", rows, "--no-simulate", "--emit", "k8s")
    assert code == 0, err
    assert "node.kubernetes.io/instance-type: my-box" in text
