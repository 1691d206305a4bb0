"""k8s44: the k8s launch's power-limit restore sidecar where the job CRD loses ``restartPolicy``.

The restore sidecar is an init container with ``restartPolicy: Always``. A job operator whose CRD schema (or Go types)
predates the field (k8s.io/api < v0.28) drops it, and the sidecar then ran as a plain init container that waits for a
SIGTERM forever: the pod hung in Init with the limit already set. Now the sidecar comes first and carries a
startupProbe that passes once its SIGTERM trap is set: the kubelet starts ``power-limit`` only after it (so no limit
is set before the restore is armed), and an init container that lost its restartPolicy carries a probe the API server
refuses ("may not be set for init containers without restartPolicy=Always", kubernetes/kubernetes
pkg/apis/core/validation/validation.go ``validateInitContainers``), so the pod is refused, loudly, before anything
runs. Checked on the emitted PyTorchJob and JobSet, and by running the sidecar's script under bash with a fake
``nvidia-smi`` (tests/test_cost43.py's).
"""
from __future__ import annotations

import signal
import subprocess
import time

import pytest
import yaml

from planner.present.emit import K8S_POWER_DIR
from test_cost43 import BEFORE, _calls, _emit, _node

LLAMA = """
model: {preset: llama3-8b}
training: {seq_len: 4096, global_batch: 512, tokens: 1.0e10}
cluster: {gpu: H100, nodes: 2, price_usd_hr: 60, power_limit_w: 500}
"""
#: two GB200 NVL72 racks: the JobSet launch (``emit_k8s_domains``)
RACKS = """
model: {preset: llama3-70b}
training: {seq_len: 8192, global_batch: 1024, precision: bf16, tokens: 1.0e11}
cluster: {gpu: GB200, nodes: 2, price_usd_hr: 300, power_limit_w: 900}
"""
#: the fields validateInitContainers forbids on an init container without restartPolicy: Always
SIDECAR_ONLY = ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe")


def _pod_specs(out: str) -> list[dict]:
    """Every pod template spec of the emitted launch: the PyTorchJob's replicas, or the JobSet's replicated Jobs."""
    (job,) = [d for d in yaml.safe_load_all(out) if d["kind"] in ("PyTorchJob", "JobSet")]
    if job["kind"] == "PyTorchJob":
        return [r["template"]["spec"] for r in job["spec"]["pytorchReplicaSpecs"].values()]
    return [rj["template"]["spec"]["template"]["spec"] for rj in job["spec"]["replicatedJobs"]]


def _refused(spec: dict) -> list[str]:
    """What the API server refuses in a pod spec's init containers, after validateInitContainers: a probe or
    lifecycle on one whose restartPolicy is not Always."""
    return [f"initContainers[{i}].{f}" for i, c in enumerate(spec.get("initContainers", []))
            if c.get("restartPolicy") != "Always" for f in SIDECAR_ONLY if f in c]


def _pruned(spec: dict) -> dict:
    """The pod spec as a CRD whose schema predates initContainers[].restartPolicy stores it: the field pruned."""
    spec = yaml.safe_load(yaml.safe_dump(spec))
    for c in spec.get("initContainers", []):
        c.pop("restartPolicy", None)
    return spec


@pytest.mark.parametrize("text", [LLAMA, RACKS], ids=["pytorchjob", "jobset"])
def test_a_pruned_restart_policy_gets_the_pod_refused_not_hung(cli, tmp_path, text):
    """As emitted, every pod passes the init-container rule; with restartPolicy pruned, the sidecar keeps its
    startupProbe and the pod is refused. Before k8s44 the sidecar had no probe: the pruned pod was accepted and hung
    in Init behind a sidecar that never exits."""
    specs = _pod_specs(_emit(cli, tmp_path, text, "k8s"))
    assert specs
    for spec in specs:
        assert _refused(spec) == []
        assert _refused(_pruned(spec)) == ["initContainers[0].startupProbe"]


@pytest.mark.parametrize("text", [LLAMA, RACKS], ids=["pytorchjob", "jobset"])
def test_the_restore_sidecar_starts_before_the_limit_is_set(cli, tmp_path, text):
    """The sidecar is the first init container and its startupProbe waits on the mark its script writes after the
    trap: the kubelet starts the next init container (power-limit) only once that probe passes. Before k8s44 the
    sidecar came after power-limit."""
    for spec in _pod_specs(_emit(cli, tmp_path, text, "k8s")):
        side, limit = spec["initContainers"]
        assert (side["name"], side["restartPolicy"], limit["name"]) == ("power-limit-restore", "Always", "power-limit")
        probe = side["startupProbe"]
        assert probe["exec"]["command"] == ["test", "-e", f"{K8S_POWER_DIR}/restore-armed"]
        assert probe["periodSeconds"] == 1 and probe["failureThreshold"] == 30


def test_the_header_states_what_the_sidecar_needs(cli, tmp_path):
    out = _emit(cli, tmp_path, LLAMA, "k8s")
    header = " ".join(x for x in out.splitlines() if x.startswith("#"))
    for want in ("Kubernetes >= 1.29", "k8s.io/api >= v0.28", "Training Operator v1.9's PyTorchJob CRD does",
                 "startupProbe: Forbidden: may not be set for init containers without restartPolicy=Always",
                 "before any limit is set"):
        assert want in header, want


def _armed(probe: list[str], here: str, env: dict, within: float = 30.0) -> bool:
    """Runs the startupProbe's command (in the pod's emptyDir, here) every 50 ms until it passes, as the kubelet
    would; False if it never does."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        if subprocess.run([a.replace(K8S_POWER_DIR, here) for a in probe], env=env).returncode == 0:
            return True
        time.sleep(0.05)
    return False


def _start_sidecar(cli, tmp_path) -> tuple[dict, dict, str, subprocess.Popen]:
    (spec, *_) = _pod_specs(_emit(cli, tmp_path, LLAMA, "k8s"))
    side, limit = spec["initContainers"]
    env, here = _node(tmp_path), str(tmp_path / "tmp")
    p = subprocess.Popen(["bash", "-c", side["command"][2].replace(K8S_POWER_DIR, here)], env=env)
    assert _armed(side["startupProbe"]["exec"]["command"], here, env)
    return limit, env, here, p


def test_the_armed_sidecar_restores_the_limit_the_next_container_set(cli, tmp_path):
    """The pod's order under bash with a fake nvidia-smi: the sidecar arms (its probe passes) before anything is
    set; power-limit then sets 500 W; SIGTERM (the trainer has exited) puts 700 back and the sidecar exits 0."""
    limit, env, here, p = _start_sidecar(cli, tmp_path)
    assert (tmp_path / "state").read_text() == BEFORE and not (tmp_path / "log").exists()
    r = subprocess.run(["bash", "-c", limit["command"][2].replace(K8S_POWER_DIR, here)], env=env, timeout=30)
    assert r.returncode == 0 and (tmp_path / "state").read_text() == "500\n500\n"
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=30) == 0
    assert (tmp_path / "state").read_text() == BEFORE


def test_a_pod_stopped_before_the_limit_was_set_restores_nothing(cli, tmp_path):
    """SIGTERM to the armed sidecar before power-limit ran (the pod deleted while it started): nothing was kept, so
    nothing is set back, and it exits 0."""
    _, _, _, p = _start_sidecar(cli, tmp_path)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=30) == 0
    assert (tmp_path / "state").read_text() == BEFORE
    assert not (tmp_path / "log").exists() or not [c for c in _calls(tmp_path) if "-pl" in c]


def test_a_restarted_sidecar_is_not_armed_by_its_last_mark(cli, tmp_path):
    """A sidecar restarted in the same pod finds its last mark in the emptyDir: its script removes it before setting
    the trap, so the probe cannot pass on the old mark while the new trap is not yet set."""
    (spec, *_) = _pod_specs(_emit(cli, tmp_path, LLAMA, "k8s"))
    script = spec["initContainers"][0]["command"][2]
    armed = f"{K8S_POWER_DIR}/restore-armed"
    assert script.index(f"rm -f {armed}") < script.index("trap ") < script.index(f": > {armed}")
