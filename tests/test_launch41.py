"""launch41: `--emit k8s` of a plan whose NVLink domain spans hosts (GB200 / GB300 NVL72) writes the domain's
ComputeDomain (NVIDIA DRA Driver for GPUs, resource.nvidia.com/v1beta1) and has every pod claim its IMEX channel;
until launch41 a header note asked the user to add them. One domain: the PyTorchJob's pods claim it. Several: a
PyTorchJob gives all its Workers one pod template, so the launch is a JobSet with one replicatedJob per domain, each
claiming its own ComputeDomain and holding that domain's consecutive node ranks (README "Launch specs")."""
from __future__ import annotations

import subprocess

import yaml

from conftest import write_job
from test_launch_parsers import K8S_VERSION, bash_syntax_ok, k8s_accepts, need

RACKS = """
model: {preset: llama3-70b}
training: {seq_len: 8192, global_batch: 1024, precision: bf16, tokens: 1.0e11}
cluster: {gpu: GB200, nodes: %d, price_usd_hr: 300}
"""
CLIQUE = "nvidia.com/gpu.clique"


def _docs(cli, tmp_path, racks: int) -> list[dict]:
    code, out, err = cli("recommend", str(write_job(tmp_path, RACKS % racks)), "--no-simulate", "--emit", "k8s")
    assert code == 0, err
    return list(yaml.safe_load_all(out))


def _compute_domains(docs: list[dict]) -> dict[str, int]:
    """channel template name -> spec.numNodes of each ComputeDomain, checked against the API's fields
    (NVIDIA/k8s-dra-driver-gpu api/nvidia.com/resource/v1beta1/computedomain.go: spec.numNodes int, spec.channel.
    resourceClaimTemplate.name). kubernetes-validate ships no schema for the CRD: it raises SchemaNotFoundError,
    which is the stated skip of its schema check for this one kind."""
    kv = need("kubernetes_validate")
    out = {}
    for d in docs:
        if d["kind"] != "ComputeDomain":
            continue
        try:
            kv.validate(d, K8S_VERSION, strict=True)
            raise AssertionError("kubernetes-validate now knows ComputeDomain: validate it there")
        except kv.utils.SchemaNotFoundError:
            pass
        assert d["apiVersion"] == "resource.nvidia.com/v1beta1" and set(d) == {"apiVersion", "kind", "metadata", "spec"}
        assert set(d["spec"]) == {"numNodes", "channel"} and set(d["spec"]["channel"]) == {"resourceClaimTemplate"}
        n, rct = d["spec"]["numNodes"], d["spec"]["channel"]["resourceClaimTemplate"]["name"]
        assert isinstance(n, int) and n > 0 and rct not in out
        out[rct] = n
    return out


def _claimed(pod: dict) -> str:
    """The ResourceClaimTemplate a pod template's trainer claims; its pods held in one NVLink clique."""
    spec = pod["spec"]
    (claim,) = spec["resourceClaims"]
    assert spec["containers"][0]["resources"]["claims"] == [{"name": claim["name"]}]
    (term,) = spec["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == CLIQUE and term["labelSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    return claim["resourceClaimTemplateName"]


def test_one_rack_pytorchjob_claims_its_compute_domain(cli, tmp_path):
    """Llama-3-70B on one GB200 rack: 16 trays (--segment=16), one NVLink domain. The spec writes its ComputeDomain
    (numNodes 16) and both replica types claim its channel; 1 Master + 15 Workers = 16 = numNodes. The PyTorchJob's
    pod templates still pass the Kubernetes 1.37 schema (strict) and bash -n."""
    docs = _docs(cli, tmp_path, 1)
    cds = _compute_domains(docs)
    (job,) = [d for d in docs if d["kind"] == "PyTorchJob"]
    assert [d["kind"] for d in docs] == ["ComputeDomain", "PyTorchJob"]
    for s in k8s_accepts(job):
        bash_syntax_ok(s)
    reps = job["spec"]["pytorchReplicaSpecs"]
    assert {_claimed(r["template"]) for r in reps.values()} == set(cds)
    assert sum(r["replicas"] for r in reps.values()) == sum(cds.values()) == 16


def _ranks(script: str, env: dict[str, str]) -> list[str]:
    """The torchrun flags the container's script passes, run by bash with torchrun stubbed."""
    out = subprocess.run(["bash", "-c", "torchrun() { printf '%s\\n' \"$@\"; exit 0; }\n" + script],
                         env=env, capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def test_two_racks_launch_as_a_jobset_one_compute_domain_per_domain(cli, tmp_path):
    """Llama-3-70B on two GB200 racks: 2 NVLink domains of 16 trays. A PyTorchJob's Workers share one pod template
    and could not claim two ComputeDomains; the spec is 2 ComputeDomains (numNodes 16 each) and a JobSet of one
    16-pod Indexed Job per domain, each claiming its own domain's channel. Run with torchrun stubbed, the pods' node
    ranks are 0..15 in the first domain and 16..31 in the second (the plan's consecutive groups), all rendezvous at
    the first domain's first pod, --nnodes=32. Each Job (batch/v1) and pod template passes the 1.37 schema (strict);
    the JobSet CRD's own envelope is not schema-checked (kubernetes-validate has no schema for it)."""
    kv = need("kubernetes_validate")
    docs = _docs(cli, tmp_path, 2)
    cds = _compute_domains(docs)
    assert [d["kind"] for d in docs] == ["ComputeDomain", "ComputeDomain", "JobSet"] and list(cds.values()) == [16, 16]
    js = docs[-1]
    assert js["apiVersion"] == "jobset.x-k8s.io/v1alpha2" and js["spec"]["network"]["enableDNSHostnames"] is True
    seen, name = [], js["metadata"]["name"]
    for rj, rct in zip(js["spec"]["replicatedJobs"], cds):
        job = rj["template"]["spec"]
        kv.validate({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": f"{name}-{rj['name']}"}, "spec": job},
                    K8S_VERSION, strict=True)
        assert rj["replicas"] == 1 and job["completionMode"] == "Indexed"
        assert job["parallelism"] == job["completions"] == cds[rct] and _claimed(job["template"]) == rct
        c = job["template"]["spec"]["containers"][0]
        bash_syntax_ok(c["command"][2])
        env = {e["name"]: e["value"] for e in c["env"]}
        for i in range(job["completions"]):
            flags = _ranks(c["command"][2], {**env, "JOB_COMPLETION_INDEX": str(i), "PATH": "/usr/bin:/bin"})
            assert "--nnodes=32" in flags and "--nproc-per-node=4" in flags
            assert f"--master-addr={name}-{js['spec']['replicatedJobs'][0]['name']}-0-0.{name}" in flags
            seen.append(int(next(f for f in flags if f.startswith("--node-rank=")).split("=")[1]))
    assert seen == list(range(32))
