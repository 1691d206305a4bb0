"""Builds ../nccl_bandwidth.csv from values copied from the sources named in each block.

The ``azure_mi300x_ar_*`` rows (Azure ND MI300X v5, RCCL; read 2026-12-01) were first appended to the CSV by hand; their
block is last here so that the script reproduces the committed CSV byte for byte (tests/test_parts_scripts.py)."""
import os

from parts_csv import new_row, write_csv
H = os.path.dirname(os.path.abspath(__file__))
D = "2026-11-30"
cols = ["id","collective","system","gpu","num_gpus","num_nodes","gpus_per_node","intra_node","inter_node","software","benchmark_tool","algorithm","dtype","placement","message_bytes","message_label","time_us","algbw_gbps","busbw_gbps","busbw_inplace_gbps","source","provenance","read_date","notes"]
rows = []
def add(**k):
    rows.append(new_row(cols, k.pop("read_date", D), **k))

# ---- Azure AI-benchmarking-guide tables (in-place busbw, single node) ----
labels = ["1K","2K","4K","8K","16K","32K","65K","132K","256K","524K","1M","2M","4M","8M","16M","33M","67M","134M","268M","536M","1G","2G","4G","8G"]
az = {
 "h100": dict(vals=[0.07,0.14,0.27,0.53,0.95,1.71,2.72,5.40,10.86,21.35,43.70,81.93,128.73,172.13,234.45,295.53,361.78,400.61,423.38,438.46,466.35,472.36,475.54,478.87],
   system="Azure ND H100 v5", gpu="H100-SXM5-80GB (NVIDIA H100 80GB HBM3)", n=8, alg="NVLS (as stated)", sw="NCCL 2.18.5, CUDA 12.6, driver 560.35.03",
   src="Azure/AI-benchmarking-guide, 'Azure Results/ND_H100_v5_results.md' (commit f350e7e65b82cfcb9220b32b582bc34342d9c1a6), section NCCL Bandwidth",
   prov="https://github.com/Azure/AI-benchmarking-guide/blob/f350e7e65b82cfcb9220b32b582bc34342d9c1a6/Azure%20Results/ND_H100_v5_results.md", intra="NVLink4/NVSwitch (NV18)"),
 "h200": dict(vals=[0.06,0.12,0.23,0.47,0.93,1.84,3.72,7.39,14.75,29.38,52.96,88.78,138.44,181.94,240.41,300.91,368.11,412.45,432.24,442.72,467.58,472.57,477.41,479.98],
   system="Azure ND H200 v5", gpu="H200-SXM-141GB", n=8, alg="NVLS (as stated)", sw="NCCL 2.20.5, CUDA 12.6, driver 560.28.03",
   src="Azure/AI-benchmarking-guide, 'Azure_Results/ND_H200_v5_results.md' (commit 7f20e5fa3b2f9a46d8404af1f6fb14b049d6d5cc), section NCCL Bandwidth",
   prov="https://github.com/Azure/AI-benchmarking-guide/blob/7f20e5fa3b2f9a46d8404af1f6fb14b049d6d5cc/Azure_Results/ND_H200_v5_results.md", intra="NVLink4/NVSwitch"),
 "a100": dict(vals=[0.04,0.08,0.17,0.33,0.67,1.37,2.70,5.15,10.11,19.24,36.22,53.54,71.43,89.99,109.22,132.77,166.63,174.18,213.87,221.58,228.10,230.22,230.48,231.58],
   system="Azure ND A100 v4", gpu="A100-SXM4-80GB", n=8, alg="stated as NVLS in the source text, which A100 does not support (likely copy-paste); algorithm actually unknown (Ring/Tree)", sw="NCCL 2.18.5, CUDA 12.5, driver 550.90.07",
   src="Azure/AI-benchmarking-guide, 'Azure_Results/ND_A100_v4_results.md' (commit 3bb66cacc25632d8ece36bc1d5128c5ea886a60b as read), section NCCL Bandwidth",
   prov="https://github.com/Azure/AI-benchmarking-guide/blob/3bb66cacc25632d8ece36bc1d5128c5ea886a60b/Azure_Results/ND_A100_v4_results.md", intra="NVLink3/NVSwitch"),
 "gb200": dict(vals=[0.10,0.19,0.38,0.76,1.46,2.88,5.71,11.29,22.41,44.07,80.48,110.43,146.27,253.46,331.09,422.62,550.73,574.19,593.53,618.74,646.87,666.63,673.06,679.61],
   system="Azure ND GB200 v6 (one host)", gpu="GB200 (185GB)", n=4, alg="Ring (as stated)", sw="NCCL 2.25.1, CUDA 12.8, driver 570.133.20",
   src="Azure/AI-benchmarking-guide, 'Azure_Results/ND_GB200_v6_results.md' (commit 2a370be6de9586d365feed77e014a73f25198f4d as read), section NCCL Bandwidth",
   prov="https://github.com/Azure/AI-benchmarking-guide/blob/2a370be6de9586d365feed77e014a73f25198f4d/Azure_Results/ND_GB200_v6_results.md", intra="NVLink5 (NVL72 rack; only the 4 GPUs of one host used)"),
 # the same harness on GB300, published in a fork of the guide
 "gb300": dict(read="2026-12-04", vals=[0.10,0.19,0.38,0.77,1.52,2.91,5.92,11.28,21.72,38.14,74.79,116.31,150.21,257.00,335.19,417.65,550.71,575.25,593.70,624.45,646.58,669.40,674.40,680.45],
   system="Azure ND GB300 v6 (one host)", gpu="GB300 (288GB)", n=4, alg="Ring (as stated)", sw="NCCL 2.25.1, CUDA 13.0, driver 580.82.07",
   src="egmsft/AI-benchmarking-guide (fork of Azure/AI-benchmarking-guide), 'Azure_Results/ND_GB300_v6_results.md' (commit 18e80a218dc3aad43f77574107144931ada63280 as read 2026-12-04), section NCCL Bandwidth",
   prov="https://github.com/egmsft/AI-benchmarking-guide/blob/18e80a218dc3aad43f77574107144931ada63280/Azure_Results/ND_GB300_v6_results.md", intra="NVLink5 (NVL72 rack; only the 4 GPUs of one host used)"),
}
for key, a in az.items():
    for i, (lab, v) in enumerate(zip(labels, a["vals"])):
        add(id=f"azure_{key}_ar_{lab}", collective="all_reduce", system=a["system"], gpu=a["gpu"], num_gpus=a["n"], num_nodes=1, gpus_per_node=a["n"],
            intra_node=a["intra"], inter_node="none", software=a["sw"], benchmark_tool="nccl-tests all_reduce_perf (Azure NCCLBandwidth.py wrapper)",
            algorithm=a["alg"], dtype="float (nccl-tests default, not stated)", placement="in-place", message_bytes=2**(10+i), message_label=lab,
            busbw_gbps=v, source=a["src"], provenance=a["prov"], read_date=a.get("read", D),
            notes="Bus bandwidth, GB/s, in-place, single host. message_bytes = 2^k inferred from the printed labels (1K..8G, 24 powers of two; the source prints 65K/132K/524K for 65536/131072/524288 B). "
                  + ("GB200 host has 4 GPUs (the source's issue #7 confirms single-host 4-GPU runs)." if key=="gb200" else
                     "GB300 host has 4 GPUs (compute tray of 4, as GB200's)." if key=="gb300" else ""))

def parse(fname, prefix):
    out = []
    for line in open(os.path.join(H, "raw", fname)):
        p = line.split()
        if p and p[0].endswith(":"): p = p[1:]
        size, count, typ, op, root, t, alg, bus, wr, t2, alg2, bus2, wr2 = p
        out.append((int(size), float(t), float(alg), float(bus), float(bus2)))
    return out
def lab(b):
    for u, s in ((2**30,"GiB"),(2**20,"MiB"),(2**10,"KiB")):
        if b >= u: return f"{b//u}{s}"
    return f"{b}B"

blocks = [
 ("raw/p4de.txt","aws_p4de_2n", dict(system="AWS p4de.24xlarge x2", gpu="A100-SXM4-80GB", n=16, nodes=2, gpn=8, intra="NVLink3/NVSwitch (600 GB/s)", inter="EFA v1, 400 Gbps per node (4x100G) per the same repo's instance table",
   sw="not stated for this example (container defaults in the README at that commit: NCCL v2.27.7-1, aws-ofi-nccl v1.16.3, EFA installer 1.43.2; the example output may predate them)",
   src="aws-samples/awsome-distributed-training, micro-benchmarks/nccl-tests/README.md (commit 0162aacd5da07d424e13f44bef8dd2c4cfcc66e4), 'Results' example for 2x p4de.24xlarge",
   prov="https://github.com/aws-samples/awsome-distributed-training/blob/0162aacd5da07d424e13f44bef8dd2c4cfcc66e4/micro-benchmarks/nccl-tests/README.md")),
 ("raw/p5.txt","aws_p5_2n", dict(system="AWS p5.48xlarge x2", gpu="H100-SXM5-80GB", n=16, nodes=2, gpn=8, intra="NVLink4/NVSwitch (900 GB/s)", inter="EFA v2, 3200 Gbps per node (32 EFA interfaces)",
   sw="not stated for this example (see p4de row note)",
   src="aws-samples/awsome-distributed-training, micro-benchmarks/nccl-tests/README.md (commit 0162aacd5da07d424e13f44bef8dd2c4cfcc66e4), 'Results' example for 2x p5.48xlarge (8B to 16GB)",
   prov="https://github.com/aws-samples/awsome-distributed-training/blob/0162aacd5da07d424e13f44bef8dd2c4cfcc66e4/micro-benchmarks/nccl-tests/README.md")),
 ("raw/p5eks.txt","aws_p5_eks_2n", dict(system="AWS p5.48xlarge x2 (EKS, MPI operator)", gpu="H100-SXM5-80GB", n=16, nodes=2, gpn=8, intra="NVLink4/NVSwitch", inter="EFA v2, 3200 Gbps per node",
   sw="EFA installer 1.28.0, aws-ofi-nccl v1.7.3-aws, NCCL 2.18.5, nccl-tests master (as stated)",
   src="aws-samples/awsome-distributed-training, micro-benchmarks/nccl-tests/README.md (commit 0162aacd5da07d424e13f44bef8dd2c4cfcc66e4), Amazon EKS 'View test logs' excerpt",
   prov="https://github.com/aws-samples/awsome-distributed-training/blob/0162aacd5da07d424e13f44bef8dd2c4cfcc66e4/micro-benchmarks/nccl-tests/README.md")),
 ("raw/a3mega.txt","gcp_a3mega_2n", dict(system="GCP A3 Mega (inferred from repository name 'create-a3mega'), 2 VMs", gpu="H100-SXM5-80GB (NVIDIA H100 80GB HBM3)", n=16, nodes=2, gpn=8, intra="NVLink4/NVSwitch",
   inter="not stated in the file (A3 Mega uses GPUDirect-TCPXO, 8x200 Gbps NICs per VM per Google docs; not verified for this run)",
   sw="not stated",
   src="GitHub lessizzmore/create-a3mega-ztan-fork, file 'ztan-NCCL-test-result' (commit 02dd8f455c43ced1cf442ef29334bda97149264b)",
   prov="https://github.com/lessizzmore/create-a3mega-ztan-fork/blob/02dd8f455c43ced1cf442ef29334bda97149264b/ztan-NCCL-test-result")),
]
for fname, pre, m in blocks:
    for size, t, alg, bus, bus2 in parse(fname.split("/")[1], pre):
        add(id=f"{pre}_ar_{size}", collective="all_reduce", system=m["system"], gpu=m["gpu"], num_gpus=m["n"], num_nodes=m["nodes"], gpus_per_node=m["gpn"],
            intra_node=m["intra"], inter_node=m["inter"], software=m["sw"], benchmark_tool="nccl-tests all_reduce_perf", algorithm="NCCL default (not stated)",
            dtype="float", placement="out-of-place", message_bytes=size, message_label=lab(size), time_us=t, algbw_gbps=alg, busbw_gbps=bus, busbw_inplace_gbps=bus2,
            source=m["src"], provenance=m["prov"], notes="Copied from the printed nccl-tests table (out-of-place time/algbw/busbw; in-place busbw in busbw_inplace_gbps). Rows below 1 KiB omitted.")

# ---- stas00/ml-engineering ----
SML = "stas00/ml-engineering"
h200a = [("32KiB",1.44,0.82),("64KiB",2.93,1.67),("128KiB",5.73,3.27),("256KiB",11.74,6.71),("512KiB",23.94,13.68),("1MiB",39.93,22.82),("2MiB",64.53,36.87),("4MiB",107.16,61.23),("8MiB",155.53,88.87),("16MiB",219.89,125.65),("32MiB",275.84,157.62),("64MiB",346.51,198.01),("128MiB",401.93,229.67),("256MiB",436.15,249.23),("512MiB",450.29,257.31),("1GiB",463.58,264.90),("2GiB",469.17,268.10),("4GiB",473.10,270.34),("8GiB",477.45,272.83),("16GiB",482.26,275.58)]
def tobytes(s):
    for u, m in (("GiB",2**30),("MiB",2**20),("KiB",2**10)):
        if s.endswith(u): return int(s[:-3])*m
for l, bus, alg in h200a:
    add(id=f"stas_h200_arbench_{l}", collective="all_reduce", system="8x H200 SXM node (NVSwitch, all pairs NV18)", gpu="H200-SXM-141GB", num_gpus=8, num_nodes=1, gpus_per_node=8,
        intra_node="NVLink4/NVSwitch", inter_node="none", software="torch 2.9.1+cu130, CUDA 13.0, NCCL 2.27.7", benchmark_tool="all_reduce_bench.py (torch.distributed)",
        algorithm="Ring/LL up to 1MiB, NVLS/SIMPLE from 2MiB (as stated)", dtype="not stated", placement="n/a", message_bytes=tobytes(l), message_label=l, algbw_gbps=alg, busbw_gbps=bus,
        source=f"{SML}, network/benchmarks/results/all-reduce-8xH200.md (commit c53741b8b7dcc17b152757f104398c6dd6f231b3)",
        provenance="https://github.com/stas00/ml-engineering/blob/c53741b8b7dcc17b152757f104398c6dd6f231b3/network/benchmarks/results/all-reduce-8xH200.md",
        notes="5 warmup / 20 trials per payload; busbw uses the nccl-tests 2(n-1)/n factor. Source states measured 2026-08-04.")
b200_4n = [("32KiB",0.65,0.33),("64KiB",1.27,0.66),("128KiB",2.35,1.21),("256KiB",4.06,2.10),("512KiB",6.99,3.61),("1MiB",12.47,6.44),("2MiB",20.79,10.73),("4MiB",31.63,16.33),("8MiB",50.61,26.12),("16MiB",71.80,37.06),("32MiB",142.90,73.76),("64MiB",197.77,102.07),("128MiB",260.50,134.45),("256MiB",283.23,146.18),("512MiB",309.91,159.95),("1GiB",365.99,188.90),("2GiB",371.26,191.62),("4GiB",374.66,193.37),("8GiB",376.14,194.14),("16GiB",376.71,194.43)]
for l, bus, alg in b200_4n:
    add(id=f"stas_b200_4n_arbench_{l}", collective="all_reduce", system="4 nodes x 8x B200", gpu="B200", num_gpus=32, num_nodes=4, gpus_per_node=8,
        intra_node="NVLink5/NVSwitch", inter_node="not stated in this table", software="not stated", benchmark_tool="all_reduce_bench.py / torch-dist-bench.py (torch.distributed)",
        algorithm="NCCL default (not stated)", dtype="not stated", placement="n/a", message_bytes=tobytes(l), message_label=l, algbw_gbps=alg, busbw_gbps=bus,
        source=f"{SML}, network/benchmarks/README.md (commit 0cc3de50b2dd083c34d848a1dcb5bfe65fe3dace), 'all_reduce benchmark' example table (32 ranks)",
        provenance="https://github.com/stas00/ml-engineering/blob/0cc3de50b2dd083c34d848a1dcb5bfe65fe3dace/network/benchmarks/README.md",
        notes="5 warmups / 20 trials, up to 10 queued calls per trial. Same README says a single node of the same B200s reaches 838.97 GB/s.")
h200c = [("32KiB",3.15,3.20),("64KiB",6.16,6.26),("128KiB",12.46,12.40),("256KiB",24.68,24.63),("512KiB",48.15,48.30),("1MiB",74.57,72.45),("2MiB",96.26,91.48),("4MiB",145.14,139.97),("8MiB",196.56,182.03),("16MiB",255.90,242.45),("32MiB",301.25,298.44),("64MiB",368.86,369.82),("128MiB",414.54,411.21),("256MiB",441.87,442.27),("512MiB",456.23,455.82),("1GiB",465.91,464.00),("2GiB",471.06,468.31),("4GiB",474.13,473.10),("8GiB",478.24,475.16),("16GiB",482.25,480.70)]
for l, dflt, nt in h200c:
    for tool, v in (("nccl-tests all_reduce_perf", nt), ("torch-dist-bench.py default timing (torch.distributed)", dflt)):
        add(id=f"stas_h200_{'nccltests' if tool.startswith('nccl') else 'torchbench'}_{l}", collective="all_reduce", system="8x H200 SXM node", gpu="H200-SXM-141GB", num_gpus=8, num_nodes=1, gpus_per_node=8,
            intra_node="NVLink4/NVSwitch", inter_node="none", software="torch 2.14.0+cu130, CUDA 13.0, NCCL 2.30.7", benchmark_tool=tool, algorithm="NCCL default (NVLS at large sizes per the source)",
            dtype="not stated", placement="n/a", message_bytes=tobytes(l), message_label=l, busbw_gbps=v,
            source=f"{SML}, network/benchmarks/README.md, 'How the calls are timed / How the bandwidth is measured' table (present in commit 0cc3de50b2dd083c34d848a1dcb5bfe65fe3dace and later versions)",
            provenance="https://github.com/stas00/ml-engineering/blob/0cc3de50b2dd083c34d848a1dcb5bfe65fe3dace/network/benchmarks/README.md",
            notes="busbw GB/s; both columns measured on the same node with the same NCCL. Different software than the all-reduce-8xH200.md table.")
b200c = [("all_reduce",839.63,819.63),("all_gather",668.28,748.32),("reduce_scatter",692.63,488.22),("all_to_all",659.71,690.73),("broadcast",672.71,693.71),("reduce",692.63,693.79),("gather",718.33,718.30),("scatter",717.11,723.19),("batch_isend_irecv",658.84,691.51)]
for coll, v, vs in b200c:
    for sym, val in (("", v), ("_symmem", vs)):
        add(id=f"stas_b200_1n_{coll}{sym}_16GiB", collective=coll, system="8x B200 node", gpu="B200", num_gpus=8, num_nodes=1, gpus_per_node=8,
            intra_node="NVLink5/NVSwitch", inter_node="none", software="torch 2.14.0+cu130, NCCL 2.30.7", benchmark_tool="torch-dist-bench.py (torch.distributed)" + (" --sym-mem" if sym else ""),
            algorithm="NCCL default", dtype="not stated", placement="n/a", message_bytes=16*2**30, message_label="16GiB", busbw_gbps=val,
            source=f"{SML}, network/benchmarks/README.md, 'Other collectives' table (8x B200; stored index version id 70468674928, a later version than commit 0cc3de50)",
            provenance="https://github.com/stas00/ml-engineering/blob/master/network/benchmarks/README.md",
            notes="busbw at 16GiB payload; busbw factors as nccl-tests. Source says nccl-tests agrees within 2% at 16GiB for all_reduce/all_gather/reduce_scatter/all_to_all/broadcast/reduce/gather."
                  + (" With NCCL symmetric memory buffers." if sym else ""))

NETR = "stas00/ml-engineering network/README.md, 'SHARP' section table and 'Multiple node training' footnote (stored index version id 58486794893; commit not recorded)"
NETU = "https://github.com/stas00/ml-engineering/blob/master/network/README.md"
for coll, alg, v, cmd in [("all_reduce","NVLS (NCCL_NVLS_ENABLE=1)",480.0,"all_reduce_perf -b 16G -e 16G -g 8 -z 1"),("all_reduce","Ring (NCCL_NVLS_ENABLE=0)",367.2,"NCCL_NVLS_ENABLE=0 all_reduce_perf -b 16G -e 16G -g 8 -z 1"),
                          ("all_gather","Ring",361.4,"all_gather_perf -b 16G -e 16G -g 8 -z 1"),("reduce_scatter","Ring",362.9,"reduce_scatter_perf -b 16G -e 16G -g 8 -z 1")]:
    add(id=f"stas_h200_nccltests_{coll}_{alg.split()[0].lower()}_16GiB", collective=coll, system="8x H200 SXM node", gpu="H200-SXM-141GB", num_gpus=8, num_nodes=1, gpus_per_node=8,
        intra_node="NVLink4/NVSwitch", inter_node="none", software="not restated in this table (the same section cites nccl 2.27.7 for the H200 node)", benchmark_tool="nccl-tests (single process, -g 8)",
        algorithm=alg, dtype="float (nccl-tests default)", placement="n/a (-z 1 blocking)", message_bytes=16*2**30, message_label="16G", busbw_gbps=v, source=NETR, provenance=NETU,
        notes=f"Command as printed: {cmd}. busbw factors per nccl-tests (2(n-1)/n for all-reduce, (n-1)/n for all-gather/reduce-scatter).")
for alg, v, note in [("Ring (NCCL default via AWS ofi tuner plugin)",364.87,"default selection"),("Ring (forced NCCL_ALGO=allreduce:ring)",364.65,"forced ring"),("NVLSTree (forced NCCL_ALGO=allreduce:nvlstree)",310.07,"forced NVLSTree, 15% slower per source")]:
    add(id=f"stas_p5en_4n_ar_{alg.split()[0].lower()}_{'forced' if 'forced' in alg else 'default'}_4GiB", collective="all_reduce", system="AWS p5en.48xlarge x4", gpu="H200-SXM-141GB", num_gpus=32, num_nodes=4, gpus_per_node=8,
        intra_node="NVLink4/NVSwitch", inter_node="EFA (p5en)", software="NCCL 2.27.7, AWS NCCL_TUNER_PLUGIN=ofi", benchmark_tool="not restated (busbw as in nccl-tests)", algorithm=alg, dtype="not stated",
        placement="n/a", message_bytes=4*2**30, message_label="4GiB", busbw_gbps=v, source=NETR, provenance=NETU, notes=f"32 ranks, 4GiB all-reduce, measured 2026-08-07 per source; {note}.")
# ---- Azure ND MI300X v5 (RCCL), the same harness in a fork of the guide; read 2026-12-01 ----
MI300X_SRC = ("Azure/AI-benchmarking-guide results as forked at samuel-bohman/AI-benchmarking-guide, 'Azure_Results/ND_MI300X_v5_results.md' "
              "(commit 3de0c294fd1059a91a2c158712c4a078619d73e8), section 'RCCL Bandwidth'")
MI300X_URL = "https://github.com/samuel-bohman/AI-benchmarking-guide/blob/3de0c294fd1059a91a2c158712c4a078619d73e8/Azure_Results/ND_MI300X_v5_results.md"
mi300x = [0.04,0.07,0.15,0.29,0.59,1.13,2.22,4.18,7.5,13.01,22.41,43.41,82.53,131.57,171.46,230.35,266.34,290.81,302.8,308.89,313.92,315.06,314.85,316.82]
for i, (l, v) in enumerate(zip(labels, mi300x)):
    add(id=f"azure_mi300x_ar_{l}", collective="all_reduce", system="Azure ND MI300X v5", gpu="MI300X", num_gpus=8, num_nodes=1, gpus_per_node=8,
        intra_node="Infinity Fabric (xGMI)", inter_node="none", software="RCCL 2.22.3-develop, HIP 6.2.41133", benchmark_tool="rccl-tests all_reduce_perf (Azure wrapper)",
        algorithm="'NVLS' as the results file states (RCCL has no NVLS; not meaningful)", dtype="not stated", placement="in-place",
        message_bytes=2**(10+i), message_label=l, busbw_gbps=v, source=MI300X_SRC, provenance=MI300X_URL, read_date="2026-12-01",
        notes="Bus bandwidth, GB/s, in-place, single host. message_bytes = 2^k inferred from the printed labels as for the H100 rows.")
# ---- AMD Accelerator Cloud AAC11 (8 x MI325X a node, 8 x 400 Gb/s Broadcom RoCE), rccl-tests ring all-reduce on 1 / 2 /
# 4 / 8 nodes: the cluster the ``mi300x`` source's four MI325X training logs ran on (the same engineer's repository);
# read 2026-12-07 (prod56) ----
AAC11_SRC = ("hisohara/ai-scripts, training/01_rccl-smoketest/README.md (commit 0780bb3c957ba1dd4254b3147c2027a44304db34 as "
             "read), section 'RCCL Tests with MPI (AAC11 MI325X Slurm)', the egrep of result-allreduce-multi.log")
AAC11_URL = ("https://github.com/hisohara/ai-scripts/blob/0780bb3c957ba1dd4254b3147c2027a44304db34/training/01_rccl-smoketest/"
             "README.md")
#: nodes -> (bytes, out-of-place time us, algbw, busbw, in-place busbw), as printed
aac11 = {1: [(4294967296, 23719, 181.07, 316.88, 316.16), (8589934592, 47217, 181.93, 318.37, 318.03),
             (17179869184, 94222, 182.33, 319.08, 319.21)],
         2: [(4294967296, 23192, 185.19, 347.23, 346.99), (8589934592, 46123, 186.24, 349.20, 349.03),
             (17179869184, 91973, 186.79, 350.24, 350.15)],
         4: [(4294967296, 23904, 179.68, 348.12, 347.98), (8589934592, 47563, 180.60, 349.92, 349.47),
             (17179869184, 94942, 180.95, 350.59, 350.50)],
         8: [(4294967296, 24572, 174.79, 344.13, 343.89), (8589934592, 48321, 177.77, 349.98, 349.79),
             (17179869184, 96405, 178.21, 350.84, 350.50)]}
for nodes, cells in aac11.items():
    for size, t, alg, bus, bus2 in cells:
        add(id=f"aac11_mi325x_{nodes}n_ar_ring_{lab(size)}", collective="all_reduce", system=f"AMD AAC11, {nodes} x 8 MI325X",
            gpu="MI325X", num_gpus=8 * nodes, num_nodes=nodes, gpus_per_node=8, intra_node="Infinity Fabric (xGMI), 7 links a GPU",
            inter_node="none" if nodes == 1 else "8 x 400 Gb/s Broadcom RoCE a node (bnxt_re NICs, NCCL_IB_GID_INDEX=3)",
            software="rocm-6.4.1 module (RCCL version not printed in the excerpt)", benchmark_tool="rccl-tests all_reduce_perf (mpirun, -g 1)",
            algorithm="Ring (NCCL_ALGO=Ring forced)", dtype="float", placement="out-of-place", message_bytes=size, message_label=lab(size),
            time_us=t, algbw_gbps=alg, busbw_gbps=bus, busbw_inplace_gbps=bus2, source=AAC11_SRC, provenance=AAC11_URL,
            read_date="2026-12-07", notes="Only the 4 / 8 / 16 GiB lines are printed (the README's egrep). The 1-node line is the "
            "Infinity Fabric ring the MI325X prior inherits from Azure's MI300X (316.8 GB/s in-place at 8 GiB).")
write_csv(os.path.join(H, "..", "nccl_bandwidth.csv"), rows, cols)
print(len(rows))
