"""A bare-GPU cluster that states no fabric takes its GPU's reference fabric (planner.hardware.options.
reference_network): the best-networked clustered instance of that GPU whose network the catalog sources."""
import pytest

from hardware_catalog.catalog import DEFAULT_NETWORK_GBPS
from planner.hardware.options import reference_network
from conftest import answered, cluster_option, invoke_app


@pytest.mark.parametrize("gpu, per_gpu", [("A100-SXM-80GB", 200.0), ("H100-SXM-80GB", 400.0),
                                          ("H200-SXM-141GB", 400.0), ("B200-SXM-180GB", 400.0),
                                          ("B300-SXM-288GB", 800.0)])
def test_reference_fabric_is_the_training_systems_nic_per_gpu(catalog, gpu, per_gpu):
    # DGX A100: 8 x 200 Gb/s HDR; DGX H100 / H200 / B200: 8 x 400 Gb/s ConnectX-7; B300: 8 x 800 Gb/s ConnectX-8
    bw, inst = reference_network(catalog, catalog.gpu(gpu))
    assert bw * 8 / 1e9 == pytest.approx(per_gpu)
    assert inst.gpu.name == gpu and inst.cluster and (inst.network_source or inst.source)


def test_bare_cluster_uses_it_scaled_by_gpus_per_node_and_says_so(catalog):
    o8 = cluster_option(catalog, "H100", nodes=4)
    o4 = cluster_option(catalog, "H100", nodes=4, gpus_per_node=4)
    assert o8.inter_node_bw * 8 / 1e9 == pytest.approx(3200.0)
    assert o4.inter_node_bw * 8 / 1e9 == pytest.approx(1600.0)
    assert o8.network_assumed and "400 Gb/s per GPU" in o8.network_note and o8.network_note in o8.plan_notes(4)
    assert o8.network_note not in o8.plan_notes(1)  # one node: no collective leaves it (QA 89)


def test_stated_network_wins_and_a_gpu_without_reference_keeps_the_default(catalog):
    o = cluster_option(catalog, "H100", nodes=4, inter_node_gbps=800)
    assert o.inter_node_bw * 8 / 1e9 == pytest.approx(800.0) and not o.network_assumed and o.network_note == ""
    assert reference_network(catalog, catalog.gpu("MI325X")) is None
    m = cluster_option(catalog, "MI325X", nodes=4)
    assert m.inter_node_bw * 8 / 1e9 == pytest.approx(DEFAULT_NETWORK_GBPS)
    assert m.network_assumed and f"{DEFAULT_NETWORK_GBPS:g} Gb/s per node" in m.network_note


def test_report_names_the_basis_not_the_number(catalog):
    """A reference fabric that comes to 100 Gb/s per node (A10G: 12.5 Gb/s per GPU x 8) is still the reference
    fabric in the report's network line, not the default for an unknown fabric."""
    from planner.present.report import _network_risk

    o = cluster_option(catalog, "A10G", nodes=2)
    assert o.inter_node_bw * 8 / 1e9 == pytest.approx(DEFAULT_NETWORK_GBPS) and o.network_reference
    hw = {"inter_node_gbps": 100.0, "network_assumed": True, "network_reference": True, "multi_node": True, "nodes": 1}
    assert "best-networked training instance" in _network_risk({"hardware": hw}, {}, None)
    hw["network_reference"] = False
    assert "default for an unknown fabric" in _network_risk({"hardware": hw}, {}, None)
    hw["multi_node"] = False  # single-node hardware: no fabric, nothing assumed about one
    line = _network_risk({"hardware": hw}, {}, None)
    assert line.startswith("Network: none between nodes") and "ASSUMED" not in line and "Gb/s" not in line


def test_bare_cluster_host_ram_is_its_reference_systems(catalog):
    """Offloaded state must fit the node's RAM (offload.host_fits, HOST_RAM_USABLE of it): a bare cluster's node is
    its reference system, Azure NDm A100 v4 for A100-80GB (1,800 GiB / 8 as the catalog row states it) and p5.48xlarge
    for H100 (2,048 GiB / 8); a GPU without one keeps offload.REF_HOST_RAM_PER_GPU."""
    from planner.model import offload

    gib = 2 ** 30
    a100 = cluster_option(catalog, "A100-80GB", nodes=2)
    h100 = cluster_option(catalog, "H100", nodes=2)
    mi = cluster_option(catalog, "MI325X", nodes=2)
    ram_a100, ram_h100 = (o.reference.ram_bytes / o.reference.gpu_count for o in (a100, h100))
    assert ram_h100 == 2048 * gib / 8 and ram_a100 < ram_h100
    for o, ram in ((a100, ram_a100), (h100, ram_h100)):  # the boundary sits at the reference's usable RAM per GPU
        edge = ram * offload.HOST_RAM_USABLE
        assert bool(offload.host_fits(edge * 0.99, o)) and not bool(offload.host_fits(edge * 1.01, o))
    assert mi.reference is None
    assert bool(offload.host_fits(offload.REF_HOST_RAM_PER_GPU * offload.HOST_RAM_USABLE * 0.99, mi))


@pytest.mark.parametrize("gpu, system, per_node, per_gpu_gbps, ram_gib", [
    # NVIDIA DGX GB200 user guide: 72-GPU NVL domains, 4 x ConnectX-7 400G per 4-GPU tray; 36 Grace x 480 GB
    ("GB200", "nvidia:DGX-GB200-NVL72", 72, 400.0, 36 * 480e9 / 2 ** 30),
    # NVL72 AI Factory RA: 4 ConnectX-8 (800G) per 4-GPU tray
    ("GB300", "nvidia:GB300-NVL72", 72, 800.0, 36 * 480e9 / 2 ** 30),
    # Microsoft Learn ND MI300X v5: 8 MI300X, 1850 GiB, 8 x 400 Gb/s NDR
    ("MI300X", "azure:Standard_ND96isr_MI300X_v5", 8, 400.0, 1850.0),
])
def test_a_gpu_without_instance_rows_takes_its_reference_system(catalog, gpu, system, per_node, per_gpu_gbps, ram_gib):
    """GB200 / GB300 / MI300X have no priced clustered instance row: a bare cluster of them is the vendor's (or
    Azure's) reference system, its node size (the NVLink domain), NIC per GPU and host RAM, said in the notes."""
    g = catalog.gpu(gpu)
    assert not [i for i in catalog.instances.values() if i.gpu is not None and i.gpu.name == g.name and i.cluster
                and not i.network_is_default]
    bw, ref = reference_network(catalog, g)
    assert ref.key == system and bw * 8 / 1e9 == pytest.approx(per_gpu_gbps)
    assert ref.ram_bytes / 2 ** 30 == pytest.approx(ram_gib, rel=1e-4) and ref.source.startswith(("NVIDIA", "Microsoft"))
    o = cluster_option(catalog, gpu, nodes=2)
    assert o.gpus_per_node == per_node and o.reference is ref and o.network_reference
    assert o.gpus_per_host == (ref.gpus_per_host if per_node != 8 else None)  # launch specs count a rack's trays
    assert o.inter_node_bw * 8 / 1e9 == pytest.approx(per_gpu_gbps * per_node)
    assert system in o.network_note and "planner catalog systems" in o.network_note
    assert any(f"{per_node} GPUs" in n for n in o.notes) == (per_node != 8)
    stated = cluster_option(catalog, gpu, nodes=2, gpus_per_node=4)  # a tray, as the job says
    assert stated.gpus_per_node == 4 and stated.inter_node_bw * 8 / 1e9 == pytest.approx(per_gpu_gbps * 4)
    assert not any("a node is taken as" in n for n in stated.notes)


def test_an_instance_reference_lends_its_fabric_not_its_node_size(catalog):
    """A10G's best-networked row (g5.24xlarge) has 4 GPUs; a bare A10G cluster keeps 8 per node at its rate."""
    bw, ref = reference_network(catalog, catalog.gpu("A10G"))
    assert ref.gpu_count == 4
    assert cluster_option(catalog, "A10G", nodes=2).gpus_per_node == 8


def test_catalog_systems_prints_them():
    from typer.testing import CliRunner
    from planner.cli import app

    r = CliRunner().invoke(app, ["catalog", "systems"], env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "DGX-GB200-NVL72" in r.output and "28,800" in r.output
    import csv
    import io
    r = CliRunner().invoke(app, ["catalog", "systems", "--csv"])
    rows = {row["key"]: row for row in csv.DictReader(io.StringIO(r.output))}
    assert r.exit_code == 0 and float(rows["nvidia:GB300-NVL72"]["network_gbps"]) == 57600.0
    assert int(rows["nvidia:DGX-GB200-NVL72"]["gpus_per_host"]) == 4


def test_json_names_the_reference_system(tmp_path):
    job = tmp_path / "gb.yaml"
    job.write_text("model: {preset: llama3-8b}\ntraining: {tokens: 1.0e9, seq_len: 4096, global_batch: 144}\n"
                   "cluster: {gpu: GB200, nodes: 2}\n")
    hw = answered(invoke_app("estimate", job, "--json"))["hardware"]
    assert hw["reference_system"] == "nvidia:DGX-GB200-NVL72" and hw["gpus"] == 144
    job.write_text("model: {preset: llama3-8b}\ntraining: {tokens: 1.0e9, seq_len: 4096, global_batch: 128}\n"
                   "cluster: {instance: aws:p5.48xlarge, nodes: 2}\n")
    assert answered(invoke_app("estimate", job, "--json"))["hardware"]["reference_system"] is None


@pytest.mark.parametrize("gpu, host, per_chip_gbps, max_chips", [("TPU-v5p", 4, 4800.0, 6144),
                                                               ("TPU-v6e", 8, 3200.0, 256),
                                                               ("TPU-v5e", 8, 1600.0, 256)])
def test_bare_tpu_cluster_is_hosts_of_one_ici_slice(catalog, gpu, host, per_chip_gbps, max_chips):
    """A bare TPU cluster is hosts of one ICI slice (Google's v5p / v6e / v5e pages: chips per host, the largest
    slice, per-chip ICI): host-to-host traffic at the chips' ICI rate, the rate a catalog slice row gets inside
    its slice, not the 100 Gb/s default for an unknown NIC (a llama3-8b ZeRO-3 plan on 2 x v5p hosts spent
    58% of its step in exposed parameter gathers on it)."""
    o = cluster_option(catalog, gpu, nodes=2)
    chip = catalog.gpu(gpu)
    assert o.gpus_per_node == host and o.gpus_per_host is None
    assert o.inter_node_bw * 8 / 1e9 == pytest.approx(per_chip_gbps * host)
    assert o.inter_node_bw / host == pytest.approx(chip.intra_node_bw)  # the same rate as inside a slice
    assert o.network_assumed and "ICI slice" in o.network_note and f"{max_chips:,} chips" in o.network_note
    assert not any("one NVLink domain" in n for n in o.notes)
    with pytest.raises(Exception) as e:
        cluster_option(catalog, gpu, nodes=max_chips // host + 1)
    assert getattr(e.value, "field", "") == "cluster.nodes" and "multislice" in str(e.value)
    # a stated fabric and node size win
    o2 = cluster_option(catalog, gpu, nodes=2, gpus_per_node=host, inter_node_gbps=200)
    assert o2.inter_node_bw * 8 / 1e9 == pytest.approx(200.0) and not o2.network_assumed


def test_bare_tpu_cluster_past_one_slice_is_one_line_exit_2(tmp_path):
    from typer.testing import CliRunner

    from planner.cli import app

    job = tmp_path / "job.yaml"
    job.write_text("model: {preset: llama3-8b}\ntraining: {tokens: 1e9, global_batch: 4096, seq_len: 4096}\n"
                   "cluster: {gpu: TPU-v6e, nodes: 64}\n")
    r = CliRunner().invoke(app, ["estimate", str(job)])
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: cluster.nodes: ") and "256 chips" in lines[0]


def test_recommend_on_a_bare_tpu_searches_one_slice_at_most(catalog):
    """The search's node counts stop at one ICI slice (256 v6e chips = 32 hosts), and a floor above it is refused."""
    from planner.search.recommend import recommend
    from planner.spec import load_job_dict, parse_yaml_text

    def load_job_text(text):
        return load_job_dict(parse_yaml_text(text))

    job = load_job_text("model: {preset: llama3-8b}\ntraining: {tokens: 1e11, global_batch: 1024, seq_len: 4096}\n"
                        "cluster: {gpu: TPU-v6e, price_usd_hr: 20}\n")
    res = recommend(job, catalog)
    assert res.table["nodes"].max() * 8 <= 256 and res.table["nodes"].max() == 32
    job2 = load_job_text("model: {preset: llama3-8b}\ntraining: {tokens: 1e11, global_batch: 1024, seq_len: 4096}\n"
                         "cluster: {gpu: TPU-v6e, price_usd_hr: 20}\nconstraints: {min_gpus: 512}\n")
    with pytest.raises(Exception) as e:
        recommend(job2, catalog)
    assert getattr(e.value, "field", "") == "constraints.min_gpus" and "256 chips" in str(e.value)


def test_bare_h800_cluster_takes_deepseeks_h800_node(catalog):
    """`cluster: {gpu: H800, nodes: 2}` assumed 100 Gb/s per node (the default for an unknown fabric), 1/32 of what
    H800 training nodes carry: DeepSeek's DeepEP README runs H800s "each connected to a CX7 InfiniBand 400 Gb/s RDMA
    network card", 8 per node (systems.csv deepseek:H800-node, its source and read date in the row)."""
    bw, ref = reference_network(catalog, catalog.gpu("H800"))
    assert ref.key == "deepseek:H800-node" and bw * 8 / 1e9 == pytest.approx(400.0)
    assert "deepseek-ai/DeepEP" in ref.source and "read 2026-12-01" in ref.source and "400 Gb/s" in ref.source
    o = cluster_option(catalog, "H800", nodes=2)
    assert o.gpus_per_node == 8 and o.inter_node_bw * 8 / 1e9 == pytest.approx(3200.0) and o.network_reference
    assert "deepseek:H800-node" in o.network_note and o.reference.ram_bytes is None  # RAM not stated: the prior


def test_mi325x_without_a_sourced_fabric_says_the_network_is_assumed_in_the_limits_line(cli, tmp_path):
    """No source found offline states an MI325X cluster's NIC speed (AMD's ROCm docs name 8 ConnectX-7 NICs per
    MI300X/MI325X node, 1:1, without a rate): the 100 Gb/s default stays, and the estimate's limits line, not only the
    assumptions at the bottom, calls it assumed and says how to set it."""
    job = tmp_path / "job.yaml"
    job.write_text("model: {preset: llama3-8b}\ntraining: {seq_len: 8192, global_batch: 64, tokens: 1.0e10}\n"
                   "parallel: {tp: 1, pp: 1}\ncluster: {gpu: MI325X, nodes: 2}\n")
    res = answered(cli("estimate", job, "--json"))
    assert "ASSUMED 100 Gb/s per-node network" in res["bottleneck"] and "cluster.inter_node_gbps" in res["bottleneck"]
    stated = tmp_path / "stated.yaml"
    stated.write_text(job.read_text().replace("nodes: 2}", "nodes: 2, inter_node_gbps: 3200}"))
    assert "ASSUMED" not in answered(cli("estimate", stated, "--json"))["bottleneck"]


def _job(text):
    from planner.spec import load_job_dict, parse_yaml_text

    return load_job_dict(parse_yaml_text(text))


def test_recommend_proposes_tpu_multislice_over_dcn(catalog):
    """A v6e job past one 256-chip slice: the slice rows of whole hosts cluster over the data-center network
    (fabric tpu-dcn), so the search proposes 2+ slices (nodes = slices); at the same 512 chips, 8 x v6e-64 (its
    FSDP group over 8 slices of DCN) is slower than 2 x v6e-256 (2 slices), as the comm model prices DCN under ICI."""
    from planner.search.recommend import recommend

    job = _job("model: {preset: llama3.1-70b}\ntraining: {tokens: 1e11, global_batch: 1024, seq_len: 8192}\n"
               "constraints: {gpus: [TPU-v6e], min_gpus: 512}\n")
    t = recommend(job, catalog).table
    assert (t["gpus"] >= 512).all() and (t["nodes"] >= 2).all()
    assert set(t["hardware"]) <= {"gcp:tpu-v6e-8", "gcp:tpu-v6e-64", "gcp:tpu-v6e-256"}
    same = t[(t["gpus"] == 512) & (t["tp"] == 1) & (t["pp"] == 1) & (t["micro_batch"] == 1) & (t["recompute"] == "full")]
    by = same.groupby("hardware")["step_time_s"].min()
    assert by["gcp:tpu-v6e-256"] < by["gcp:tpu-v6e-64"]


def test_estimate_on_two_v6e_slices_prices_the_dcn(cli, tmp_path):
    """`cluster: {instance: gcp:tpu-v6e-256, nodes: 2}`: 512 chips in two ICI slices joined over DCN at 100 Gb/s per
    chip (25,600 Gb/s per slice); the output says so. The same job with ICI's rate between the slices (as if one
    512-chip slice) is faster: the DCN is what the second slice costs."""
    base = ("model: {preset: llama3.1-70b}\ntraining: {tokens: 1e11, global_batch: 1024, seq_len: 8192, "
            "micro_batch: 2, recompute: full}\nparallel: {tp: 1, pp: 1, zero: 3}\n")
    out = {}
    for name, cl in (("dcn", "{instance: gcp:tpu-v6e-256, nodes: 2}"),
                     ("ici", "{instance: gcp:tpu-v6e-256, nodes: 2, inter_node_gbps: 819200}")):
        p = tmp_path / f"{name}.yaml"
        p.write_text(base + f"cluster: {cl}\n")
        out[name] = answered(cli("estimate", str(p), "--json"))
    hw = out["dcn"]["hardware"]
    assert (hw["gpus_per_node"], hw["nodes"], hw["gpus"], hw["inter_node_gbps"]) == (256, 2, 512, 25600.0)
    assert hw["multi_node"] and not hw["network_assumed"]
    assert any("data-center network" in a for a in out["dcn"]["assumptions"])
    assert out["dcn"]["step_time_s"] > out["ici"]["step_time_s"]
    assert out["dcn"]["breakdown_s"]["comm_zero3"] > out["ici"]["breakdown_s"]["comm_zero3"]


def test_bare_tpu_past_one_slice_names_the_multislice_rows(catalog):
    """A bare v6e cluster stays hosts of one ICI slice (the tpu-dcn slice rows are not its reference network); past
    256 chips the refusal names the slice rows that do multislice (v5p: its 512-chip row; v5e: its 8 / 64 / 256-chip
    rows since 2026-12-01)."""
    o = cluster_option(catalog, "TPU-v6e", nodes=2)
    assert o.gpus_per_node == 8 and o.reference.key == "google:tpu-v6e-host"
    with pytest.raises(Exception) as e:
        cluster_option(catalog, "TPU-v6e", nodes=33)
    assert "gcp:tpu-v6e-256" in str(e.value) and "multislice" in str(e.value)
    with pytest.raises(Exception) as e:
        cluster_option(catalog, "TPU-v5p", nodes=2000)
    assert "gcp:tpu-v5p-1024" in str(e.value) and "multislice" in str(e.value)
    with pytest.raises(Exception) as e:  # v5e: its 8 / 64 / 256-chip slice rows (2026-12-01)
        cluster_option(catalog, "TPU-v5e", nodes=2000)
    assert "gcp:tpu-v5litepod-256" in str(e.value) and "multislice" in str(e.value)


def test_min_gpus_past_one_slice_names_the_slice_rows(cli, tmp_path):
    """The search's min_gpus refusal for a bare TPU said only "name a TPU slice row with fabric tpu-dcn"; it names
    the rows now (v6e, v5e), as the cluster.nodes refusal does."""
    job = tmp_path / "tpu.yaml"
    for chip, says in (("TPU-v6e", "gcp:tpu-v6e-256, gcp:tpu-v6e-64, gcp:tpu-v6e-8"),
                       ("TPU-v5e", "gcp:tpu-v5litepod-256, gcp:tpu-v5litepod-64, gcp:tpu-v5litepod-8")):
        job.write_text("model: {preset: llama3-8b}\ntraining: {seq_len: 8192, global_batch: 1024, tokens: 1.0e+10}\n"
                       f"cluster: {{gpu: {chip}}}\nconstraints: {{min_gpus: 512}}\n")
        code, out, err = cli("recommend", job)
        assert code == 2 and err.startswith("error: constraints.min_gpus: min_gpus=512 exceeds the largest"), err
        assert says in err and len(err.strip().splitlines()) == 1, err
