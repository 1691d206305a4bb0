"""cost43: what the launch and cost outputs left unsaid or undone.

- A launch that held the GPUs at ``cluster.power_limit_w`` left them there after the job: the next job on the node
  inherited the limit. Each format now keeps the limits in force before setting the plan's and puts them back when
  the job ends (shell launches: an EXIT trap, TERM / INT trapped into an exit; Slurm: the trap runs an srun step on
  every node; k8s: a privileged sidecar that restores on SIGTERM). Checked by running the emitted scripts with a fake
  ``nvidia-smi`` on PATH that keeps the limits in a file and logs its calls.
- A multi-node bare-GPU plan said the bandwidth it assumed and the row it took it from, not that the rate is the
  row's RDMA scale-out NICs, which a cluster must have: the note says so, and ``hardware.network_fabric`` names it.
- A bare GB300 plan's "no price" said nothing of why: no provider rate was found (CoreWeave: "Contact sales"); the
  cost line points at a note that says so, and ``hardware.no_price_why`` carries it.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import yaml

from conftest import answered, write_job

LLAMA = """
model: {preset: llama3-8b}
training: {seq_len: 4096, global_batch: 512, tokens: 1.0e10}
cluster: {gpu: H100, nodes: 2, price_usd_hr: 60%s}
"""
HELD = ", power_limit_w: 500"
BEFORE = "700.00\n700.00\n"

#: a node's nvidia-smi: the GPUs' limits live in $STATE (one line a GPU), every call is logged to $LOG; with
#: $NOROOT set, setting a limit fails as it does for a user without root
FAKE_SMI = r"""#!/bin/bash
echo "$*" >> "$LOG"
case "$1" in
  -pl) [ -n "$NOROOT" ] && exit 6; n=$(wc -l < "$STATE"); yes "$2" | head -n "$n" > "$STATE.new"; mv "$STATE.new" "$STATE";;
  -i) [ -n "$NOROOT" ] && exit 6; awk -v i="$2" -v w="$4" 'NR == i + 1 {$0 = w} 1' "$STATE" > "$STATE.new"; mv "$STATE.new" "$STATE";;
  --query-gpu=power.limit) cat "$STATE";;
esac
"""


def _emit(cli, tmp_path, text: str, fmt: str) -> str:
    code, out, err = cli("recommend", str(write_job(tmp_path, text)), "--no-simulate", "--emit", fmt)
    assert code == 0, err
    return out


def _node(tmp_path, trainer: str = "exit 0", noroot: bool = False, before: str = BEFORE) -> dict:
    """A fake node: bin/ with nvidia-smi, sudo (always refused), torchrun (``trainer``), and Slurm's srun (runs its
    command here, once) and scontrol; the environment that puts them first on PATH."""
    bin_ = tmp_path / "bin"
    bin_.mkdir(exist_ok=True)
    scripts = {"nvidia-smi": FAKE_SMI, "sudo": "#!/bin/bash\nexit 1\n", "torchrun": f"#!/bin/bash\n{trainer}\n",
               "srun": '#!/bin/bash\nwhile [ "${1#-}" != "$1" ]; do shift; done\nexec "$@"\n',
               "scontrol": "#!/bin/bash\necho node0\n"}
    for name, text in scripts.items():
        (bin_ / name).write_text(text)
        (bin_ / name).chmod(0o755)
    (tmp_path / "state").write_text(before)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env = {**os.environ, "PATH": f"{bin_}:{os.environ['PATH']}", "STATE": str(tmp_path / "state"),
           "LOG": str(tmp_path / "log"), "TMPDIR": str(tmp_path / "tmp"), "SLURM_JOB_NODELIST": "node0"}
    if noroot:
        env["NOROOT"] = "1"
    return env


def _calls(tmp_path) -> list[str]:
    return (tmp_path / "log").read_text().splitlines()


@pytest.mark.parametrize("fmt, trainer", [("torchrun", "exit 0"), ("torchrun", "exit 3"), ("slurm", "exit 0"),
                                          ("slurm", "exit 3")])
def test_the_launch_puts_the_power_limit_back_when_the_job_ends(cli, tmp_path, fmt, trainer):
    """Two GPUs at 700 W: the script holds them at 500 while torchrun runs, and they are at 700 again once it has
    ended, whether training succeeded or failed; the saved limits are removed. Before cost43 the node stayed at
    500 W."""
    script = _emit(cli, tmp_path, LLAMA % HELD, fmt)
    env = _node(tmp_path, trainer=f'echo "during: $(cat "$STATE" | tr "\\n" " ")" >> "$LOG"; {trainer}')
    r = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == (0 if trainer == "exit 0" else 3), r.stderr
    calls = _calls(tmp_path)
    assert "-pl 500" in calls and "during: 500 500 " in calls
    assert (tmp_path / "state").read_text() == BEFORE, calls
    assert {"-i 0 -pl 700.00", "-i 1 -pl 700.00"} <= set(calls)
    assert not list((tmp_path / "tmp").iterdir()) and r.stderr == ""


def test_a_stopped_job_puts_the_power_limit_back(cli, tmp_path):
    """The scheduler stops the job (TERM to its process group, as Slurm's scancel and a pod's deletion do) while
    torchrun runs: the trap turns TERM into an exit, and the EXIT trap restores the limits (bash runs no EXIT trap
    when a signal it does not trap kills it)."""
    script = _emit(cli, tmp_path, LLAMA % HELD, "torchrun")
    env = _node(tmp_path, trainer='touch "$TMPDIR/../started"; sleep 30')
    p = subprocess.Popen(["bash", "-c", script], env=env, start_new_session=True, stderr=subprocess.PIPE, text=True)
    for _ in range(300):
        if (tmp_path / "started").exists():
            break
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGTERM)
    assert p.wait(timeout=30) == 143
    assert (tmp_path / "state").read_text() == BEFORE, _calls(tmp_path)


def test_a_limit_the_site_set_is_left_alone(cli, tmp_path):
    """No root and the site's prolog already held the GPUs at 500 W: the job runs, and at its end nothing is set
    back (the limit was not the job's to change) and nothing is warned."""
    script = _emit(cli, tmp_path, LLAMA % HELD, "torchrun")
    env = _node(tmp_path, noroot=True, before="500.00\n500.00\n")
    r = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr == ""
    assert (tmp_path / "state").read_text() == "500.00\n500.00\n"
    assert not [c for c in _calls(tmp_path) if c.startswith("-i ")]


def test_a_limit_the_user_cannot_set_back_is_named(cli, tmp_path):
    """The limit was set (root at the start) but root is gone at the end: one warning a GPU, the saved limits kept
    for the site, the job's own exit status unchanged."""
    script = _emit(cli, tmp_path, LLAMA % HELD, "torchrun")
    env = _node(tmp_path, trainer='touch "$NOROOT_FLAG"')
    env["NOROOT_FLAG"] = str(tmp_path / "flag")
    (tmp_path / "bin" / "nvidia-smi").write_text(FAKE_SMI.replace('[ -n "$NOROOT" ]', '[ -e "$NOROOT_FLAG" ]'))
    r = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    assert r.stderr.splitlines() == [
        f"warning: GPU {i} stays held at 500 W: setting back 700.00 W needs root (nvidia-smi -pl); have the site "
        "reset it (epilog)" for i in (0, 1)]
    assert len(list((tmp_path / "tmp").iterdir())) == 1


def test_the_k8s_sidecar_puts_the_power_limit_back_on_sigterm(cli, tmp_path):
    """The pod's init container keeps the limits in the pod's emptyDir and sets 500 W; the restore sidecar
    (restartPolicy Always, no GPU request: it would add to the trainer's) sets them back when the kubelet sends it
    SIGTERM after the trainer has exited. Before cost43 the pod had the init container alone."""
    from planner.present.emit import K8S_POWER_DIR

    out = _emit(cli, tmp_path, LLAMA % HELD, "k8s")
    (job,) = [d for d in yaml.safe_load_all(out) if d["kind"] == "PyTorchJob"]
    spec = job["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]
    by_name = {c["name"]: c for c in spec["initContainers"]}
    init, side = by_name["power-limit"], by_name["power-limit-restore"]
    assert side["restartPolicy"] == "Always" and "resources" not in side and "restartPolicy" not in init
    assert {"name": "power-limit", "emptyDir": {}} in spec["volumes"]
    env = _node(tmp_path)
    here = str(tmp_path / "tmp")
    r = subprocess.run(["bash", "-c", init["command"][2].replace(K8S_POWER_DIR, here)], env=env, timeout=30)
    assert r.returncode == 0 and (tmp_path / "state").read_text() == "500\n500\n"
    p = subprocess.Popen(["bash", "-c", side["command"][2].replace(K8S_POWER_DIR, here)], env=env)
    time.sleep(0.5)  # the sidecar's trap is set before it waits
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=30) == 0
    assert (tmp_path / "state").read_text() == BEFORE


# ---- the scale-out NICs a bare-GPU plan assumed, and why a GB300 plan has no price

BARE = """
model: {preset: llama3-8b}
training: {seq_len: 4096, global_batch: 576, tokens: 1.0e10}
cluster: {gpu: %s, nodes: %d%s}
"""


@pytest.mark.parametrize("gpu, nodes, fabric, row", [("H100", 4, "efa", "aws:p5.48xlarge"),
                                                     ("A100-80GB", 2, "infiniband", "azure:Standard_ND96amsr_A100_v4"),
                                                     ("GB300", 2, "infiniband", "nvidia:GB300-NVL72")])
def test_a_bare_gpu_plan_says_its_network_is_the_rows_scale_out_nics(cli, tmp_path, gpu, nodes, fabric, row):
    """The assumed network is the reference row's RDMA NICs: the note (table and JSON assumptions) names the NICs,
    that the row has them, and what a cluster without them does; the JSON names the fabric. The job's own
    inter_node_gbps assumes nothing: no note, no fabric."""
    job = write_job(tmp_path, BARE % (gpu, nodes, ""))
    res = answered(cli("estimate", str(job), "--json"))
    name = {"efa": "EFA", "infiniband": "InfiniBand"}[fabric]
    (note,) = [a for a in res["assumptions"] if "inter-node network not stated" in a]
    assert (f"{name} scale-out NICs at that rate on every node, which {row} has; a cluster without them (hosts on "
            "plain Ethernet, 100 Gb/s a node) runs its inter-node collectives slower than planned") in note
    assert res["hardware"]["network_fabric"] == fabric and res["hardware"]["reference_system"] == row
    code, out, err = cli("estimate", str(job))
    assert code == 0 and "scale-out NICs at that rate" in out.replace("\n", " ").replace("  ", " ")
    own = write_job(tmp_path, BARE % ("H100", 4, ", inter_node_gbps: 800"))
    res = answered(cli("estimate", str(own), "--json"))
    assert res["hardware"]["network_fabric"] is None
    assert not [a for a in res["assumptions"] if "scale-out NICs" in a]


def test_a_bare_gb300_plan_says_why_it_has_no_price(cli, tmp_path):
    """No provider rate prices GB300 NVL72 (CoreWeave: "Contact sales"): the cost line points at the note, the note
    and the JSON say what was found; a priced GB200 plan and a GB300 plan with its own price say nothing of it."""
    job = write_job(tmp_path, BARE % ("GB300", 2, ""))
    res = answered(cli("estimate", str(job), "--json"))
    why = res["hardware"]["no_price_why"]
    assert why.startswith("no provider's GB300 NVL72 rate was found: CoreWeave's pricing page lists 'NVIDIA GB300 "
                          "NVL72 / HGX B300 (on-demand)' as 'Contact sales'")
    assert f"GB300-B300: no price: {why}; set cluster.price_usd_hr (per node)" in res["assumptions"]
    code, out, err = cli("estimate", str(job))
    assert 'no price for a bare GPU (set cluster.price_usd_hr, per node; no provider rate found: the "no price"' in out
    for text in (BARE % ("GB300", 2, ", price_usd_hr: 900"),
                 BARE % ("GB200", 2, "")):
        res = answered(cli("estimate", str(write_job(tmp_path, text)), "--json"))
        assert res["hardware"]["no_price_why"] is None and res["cost"]["cost_ondemand_usd"] is not None
