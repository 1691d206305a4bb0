"""Accelerator platforms: the software a catalog accelerator runs training code on, and what text calls one.

Kept apart from planner.hardware.options (which loads the specs, numpy and the efficiency priors) so that
``planner catalog instances`` can name devices without the planning modules (planner.cli)."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hardware_catalog.catalog import GPU

#: the software platform an accelerator runs training code on (what a training stack is built for:
#: planner.model.stacks ``RUNS_ON``), by the catalog row's vendor. NVIDIA GPUs run CUDA (cuBLAS, cuDNN,
#: NCCL, Transformer Engine); AMD Instinct GPUs ROCm (hipBLASLt, RCCL and the ROCm ports of the CUDA
#: stacks); Intel Gaudi its SynapseAI / PyTorch bridge (HPU); Google TPUs only XLA (JAX, PyTorch/XLA:
#: no CUDA kernel runs on them); AWS Trainium the Neuron SDK (neuronx-cc, PyTorch/XLA through
#: torch-neuronx, NKI kernels). A vendor not listed (a measured profile's device) has no platform: no
#: pairing is checked for it
PLATFORMS = {"cuda": "NVIDIA GPUs (CUDA)", "rocm": "AMD GPUs (ROCm)", "gaudi": "Intel Gaudi (SynapseAI)",
             "tpu": "Google TPUs (XLA)", "neuron": "AWS Trainium (Neuron SDK)"}
VENDOR_PLATFORM = {"NVIDIA": "cuda", "AMD": "rocm", "Intel": "gaudi", "Google": "tpu", "AWS": "neuron"}
#: what one accelerator of a platform is called in text, where it is not a GPU: Google's TPU docs count
#: TPU "chips" (a v5p slice of 8,960 chips), AWS's Neuron docs Trainium "chips" (trn2.48xlarge: 16
#: Trainium2 chips); the catalog's form_factor says the same ("TPU chip", "Trainium2 chip")
DEVICE_NOUN = {"tpu": "chip", "neuron": "chip"}
#: platforms whose accelerators no one sells for a machine room: rented on their cloud only, so a plan on them has
#: no buy (on-prem TCO) answer whatever ``onprem:`` says (QA 47: a TPU plan's Buy line asked for
#: ``onprem.server_price_usd``). Google sells no TPUs (Cloud TPU is a Google Cloud service: cloud.google.com/tpu);
#: AWS sells no Trainium (EC2 Trn1 / Trn2 instances: aws.amazon.com/ai/machine-learning/trainium)
RENTED_ONLY = {"tpu": "Google sells no TPUs: Cloud TPU is rented on Google Cloud only",
               "neuron": "AWS sells no Trainium: it is rented as EC2 instances only"}
#: the inter-node fabric families (vocab NETWORK_FABRIC: a ``cluster.fabric`` link row's ``fabric``, or its figures'
#: ``family``) a platform's nodes can carry, and why; a platform not listed takes any (NVIDIA and AMD GPUs run
#: NCCL / RCCL over InfiniBand, RoCE, EFA or TCP; Gaudi's HCCL scales out over its on-chip RoCE ports or a host NIC
#: through libfabric, docs.habana.ai "Scale-out via Host NIC"). Cloud TPU is rented only (``RENTED_ONLY``): slices
#: join over Google's data-center network (cloud.google.com/tpu/docs/multislice-introduction: "Multislice ... over
#: the data center network (DCN)"), no NIC a job chooses. Trainium is rented as EC2 instances only, which scale out
#: over EFA (aws.amazon.com/ec2/instance-types/trn2: "up to 3.2 Tbps of Elastic Fabric Adapter (EFAv3)"; Neuron's
#: collectives run over EFA, awsdocs-neuron "EFA"). Until QA 97 a TPU slice took an InfiniBand link priced per GPU.
FABRICS_CARRIED = {
    "tpu": ((), "a Cloud TPU slice joins others over Google's data-center network (multislice), not a NIC the job "
                "picks; set cluster.inter_node_gbps for its bandwidth"),
    "neuron": (("efa",), "Trainium is rented as EC2 instances only, which scale out over EFA"),
}


def fabric_refusal(gpu: GPU, family: str) -> str | None:
    """Why nodes of accelerator ``gpu`` cannot carry an inter-node fabric of ``family`` (``FABRICS_CARRIED``: said of
    the accelerator's platform, which searched chips of one share), or None where they can."""
    platform = platform_of(gpu) or ""
    carried = FABRICS_CARRIED.get(platform)
    if carried is None or family in carried[0]:
        return None
    only = f", only {' or '.join(carried[0])}" if carried[0] else ""
    return f"{PLATFORMS[platform]} carry no {family} fabric{only}: {carried[1]}"


def rented_only(gpu: GPU) -> str | None:
    """Why accelerator ``gpu`` cannot be bought (``RENTED_ONLY``), or None where it can."""
    return RENTED_ONLY.get(platform_of(gpu) or "")


def platform_of(gpu: GPU) -> str | None:
    """The platform (``PLATFORMS`` key) training code runs on for catalog accelerator ``gpu``, or None."""
    return VENDOR_PLATFORM.get(getattr(gpu, "vendor", None))


def device_noun(gpu: GPU) -> str:
    """What text calls one of ``gpu``: "GPU", or "chip" for a TPU or Trainium (``DEVICE_NOUN``)."""
    return DEVICE_NOUN.get(platform_of(gpu), "GPU")


#: CUDA compute capability (major x 10 + minor) of the NVIDIA parts in the catalog, by the catalog name's leading
#: part (the longest that matches: "A100" before "A10", "GB200" before "B200"). NVIDIA's "CUDA GPUs - Compute
#: Capability" table (developer.nvidia.com/cuda-gpus): V100 7.0, T4 7.5, A100 8.0, A10 / A10G 8.6, L4 / L40S 8.9,
#: H100 / H200 / GH200 9.0, B200 / GB200 10.0, B300 / GB300 10.3; the export SKUs are their dies' (A800: A100's
#: GA100; H800, H20: GH100). What a kernel package was built for is read against it (planner.model.stacks
#: ``ATTN_IMPLEMENTATION_KERNELS``)
CUDA_COMPUTE_CAPABILITY = {"V100": 70, "T4": 75, "A100": 80, "A800": 80, "A10": 86, "L40S": 89, "L4": 89,
                           "H100": 90, "H800": 90, "H200": 90, "H20": 90, "GH200": 90, "B200": 100, "GB200": 100,
                           "B300": 103, "GB300": 103}


def cuda_compute_capability(gpu: GPU) -> int | None:
    """``CUDA_COMPUTE_CAPABILITY`` of a catalog NVIDIA GPU (e.g. 90 for an H100), None for another vendor's or a part
    the table does not name.

    >>> from types import SimpleNamespace as G
    >>> [cuda_compute_capability(G(name=n, vendor="NVIDIA")) for n in ("A10G-24GB", "A100-SXM-80GB", "GB200-B200")]
    [86, 80, 100]
    """
    if platform_of(gpu) != "cuda":
        return None
    name = str(getattr(gpu, "name", "")).upper()
    for key in sorted(CUDA_COMPUTE_CAPABILITY, key=len, reverse=True):
        if name.startswith(key):
            return CUDA_COMPUTE_CAPABILITY[key]
    return None
