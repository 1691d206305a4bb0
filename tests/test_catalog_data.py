"""Catalog data (sources, ranges, known facts) and the loader's robustness (duplicates, size, linear load)."""
import math

import pytest

from hardware_catalog import CatalogError, format_gpus_table, format_instances_table, load_catalog
from hardware_catalog import catalog as catmod
from hardware_catalog.catalog import DEFAULT_NETWORK_GBPS, FABRICS, MAX_OVERRIDE_ROWS


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv("PLANNER_CATALOG", raising=False)


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


def _load_text(tmp_path, text, name="o.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return load_catalog([p])


def _refused(tmp_path, text, name="o.yaml"):
    with pytest.raises(CatalogError) as e:
        _load_text(tmp_path, text, name)
    assert "\n" not in str(e.value) and str(e.value).startswith(f"catalog override {name}: ")
    return e.value


# --------------------------------------------------------------------------- GPU data

def test_every_gpu_row_sourced_and_positive(cat):
    for g in cat.gpus.values():
        assert g.source.strip() and g.vendor.strip() and g.form_factor.strip(), g.name
        assert g.memory_bytes > 0 and g.hbm_bw > 0, g.name
        assert all(v > 0 and math.isfinite(v) for v in g.peak_flops.values()), g.name
        assert g.power_limit_w is None or g.power_limit_w > 0, g.name
        assert g.tdp_w == g.power_limit_w, g.name  # one number under two names
        if g.intra_node_bw is not None:
            assert g.intra_node_bw > 0, g.name


def test_peaks_are_dense_not_sparse(cat):
    """A sparse figure pasted into one column breaks the 2x ladder between dtypes on the same part."""
    for g in cat.gpus.values():
        p = {d: v / 1e12 for d, v in g.peak_flops.items()}
        if "fp8" in p and "bf16" in p:
            assert p["fp8"] <= 2 * p["bf16"] * 1.03, g.name  # datasheet rounding (L40S: 733 vs 2 x 362.05)
        if "tf32" in p and "bf16" in p:
            assert p["tf32"] <= p["bf16"] * 1.01, g.name
        if "fp32" in p and "bf16" in p:
            assert p["fp32"] < p["bf16"], g.name


@pytest.mark.parametrize("name, canonical", [
    ("H100-SXM5-96GB", "H100-SXM-96GB"), ("h100-nvl", "H100-NVL-94GB"), ("GH200", "GH200-96GB"),
    ("GH200-144GB", "GH200-144GB"), ("H20", "H20-96GB"), ("H200-NVL", "H200-NVL-141GB"), ("B300", "B300-SXM-288GB"),
    ("GB300", "GB300-B300"), ("tpu-v6e", "TPU-v6e"), ("trn2", "Trainium2"), ("MI350X", "MI350X-288GB"),
    ("mi355x", "MI355X-288GB"), ("Gaudi2", "Gaudi2-96GB"), ("gaudi3", "Gaudi3-128GB"),
])
def test_new_gpus_resolve(cat, name, canonical):
    assert cat.gpu(name).name == canonical


def test_known_gpu_facts(cat):
    nvl = cat.gpu("H100-NVL")
    assert nvl.peak("bf16") == pytest.approx(835.5e12) and nvl.peak("fp8") == pytest.approx(1670.5e12)
    assert cat.gpu("H200-NVL").power_limit_w == 600 and cat.gpu("H200-NVL").peak("bf16") == pytest.approx(835.5e12)
    h96 = cat.gpu("H100-96GB")
    assert h96.power_limit_w == 650 and h96.memory_bytes == 96 * 2**30 and h96.sustained_clock_note
    # MI325X uses MI300X's Infinity Fabric: no more falling back to its 64 GB/s PCIe link
    assert cat.gpu("MI325X").intra_node_bw == cat.gpu("MI300X").intra_node_bw == 448e9
    assert cat.gpu("MI355X").power_limit_w == 1400 and cat.gpu("MI350X").power_limit_w == 1000
    assert cat.gpu("Gaudi3").sustained_clock_note and cat.gpu("Gaudi3").intra_node_bw == 525e9
    assert cat.gpu("Trainium2").peak("fp8") == pytest.approx(1299e12)
    assert cat.gpu("TPU-v6e").peak("bf16") == pytest.approx(918e12)
    assert cat.gpu("V100").peak("fp16") == pytest.approx(125e12) and cat.gpu("T4").peak("fp16") == pytest.approx(65e12)
    with pytest.raises(CatalogError, match="int8"):
        cat.gpu("B300").peak("int8")  # sources disagree by 30x: left empty on purpose


def test_t4_memory_is_what_cuda_can_use(cat):
    """``memory_gib`` is the capacity a process sees. The T4 row had 16 (AWS g4dn GpuInfo 16384 MiB, the
    physical GDDR6): with ECC on, the datacenter default, 6.25% of a GDDR part's DRAM holds ECC bits and
    nvidia-smi on g4dn shows 15 GB (15079-15360 MiB; deviceQuery 14.76 GiB). 15 GiB, sourced in the row."""
    t4 = cat.gpu("T4")
    assert t4.memory_bytes == 16 * 2**30 * (1 - 0.0625) == 15 * 2**30
    assert "ECC" in t4.source and "exafunction.com/blog/ecc-gpu" in t4.source and "173099" in t4.source


# --------------------------------------------------------------------------- instance / network data

def test_fabric_values_and_cluster_rows(cat):
    assert set(FABRICS) == {"efa", "infiniband", "roce", "ethernet", "tpu-ici", "tpu-dcn", "none"}
    for i in cat.instances.values():
        assert i.fabric in FABRICS, i.key
        assert i.network_source.strip(), i.key
        if i.cluster:
            assert i.fabric != "none" and i.is_gpu, i.key
            assert i.network_bw is not None and i.network_bw > 0, i.key
    clusters = {i.cloud for i in cat.instances.values() if i.cluster}
    assert {"aws", "gcp", "azure"} <= clusters


@pytest.mark.parametrize("key, gpu, count, fabric, cluster, gbps", [
    ("aws:p5.48xlarge", "H100-SXM-80GB", 8, "efa", True, 3200),
    ("aws:p4d.24xlarge", "A100-SXM-40GB", 8, "efa", True, 400),
    ("aws:p6-b300.48xlarge", "B300-SXM-288GB", 8, "efa", True, 6400),
    ("gcp:a3-megagpu-8g", "H100-SXM-80GB", 8, "ethernet", True, 1800),
    ("gcp:a4-highgpu-8g", "B200-SXM-180GB", 8, "roce", True, 3200),
    ("azure:Standard_ND96isr_H100_v5", "H100-SXM-80GB", 8, "infiniband", True, 3200),
    ("aws:g6e.xlarge", "L40S-48GB", 1, "ethernet", False, None),
    ("lambda:gpu_1x_h100_sxm5", "H100-SXM-80GB", 1, "ethernet", False, None),
    ("runpod:1x_A100-80GB_SECURE", "A100-PCIe-80GB", 1, "none", False, None),
    ("lambda:gpu_1x_gh200", "GH200-96GB", 1, "ethernet", False, None),
])
def test_known_instance_facts(cat, key, gpu, count, fabric, cluster, gbps):
    i = cat.instance(key)
    assert (i.gpu.name, i.gpu_count, i.fabric, i.cluster) == (gpu, count, fabric, cluster)
    assert (i.network_bw * 8 / 1e9 if i.network_bw else None) == gbps


def test_instances_table_shows_fabric_and_cluster(cat):
    t = format_instances_table(cat, cloud="aws")
    headers = [c.header for c in t.columns]
    assert "fabric" in headers and "cluster" in headers
    fab = t.columns[headers.index("fabric")]._cells
    assert "efa" in fab and len(fab) == len([i for i in cat.instances.values() if i.cloud == "aws"])
    assert "power W" in [c.header.replace("\n", " ") for c in format_gpus_table(cat).columns]  # two-line headers
    df = cat.instances_df()
    assert {"fabric", "cluster", "network_source"} <= set(df.columns)


def test_commitments(cat):
    od = cat.instance("aws:p5.48xlarge").price_ondemand
    cs = cat.commitments_for("p5.48xlarge")
    assert cs and all(0 < c.price < od and c.source and c.price_date for c in cs)
    assert {c.term for c in cat.commitments} <= {"1yr", "3yr", "capacity-block"}


def test_onprem_rows_sourced(cat):
    for k, r in cat.onprem.items():
        assert r["source"].strip() and r["basis"] in ("sourced", "assumption", "derived"), k
        assert cat.onprem_value(k) >= 0
    for k in ("server_price_hgx_h100_8gpu", "pue", "hosting_usd_per_kw_month", "amortisation_years",
              "residual_value_fraction", "support_share_per_year", "staff_share_per_year", "power_price_usd_per_kwh"):
        assert k in cat.onprem


# --------------------------------------------------------------------------- overrides: new columns

def test_override_instance_without_fabric_uses_the_default(tmp_path):
    cat = _load_text(tmp_path, "instances:\n  - {cloud: onprem, name: x8, gpu: H100, gpu_count: 8, "
                               "price_ondemand_usd_hr: 20, source: quote}\n")
    i = cat.instance("onprem:x8")
    assert i.fabric is None and i.cluster and i.network_is_default
    assert i.network_bw_or_default == DEFAULT_NETWORK_GBPS * 1e9 / 8
    cat = _load_text(tmp_path, "instances:\n  - {cloud: aws, name: p5.48xlarge, fabric: InfiniBand, network_gbps: 800}\n")
    i = cat.instance("aws:p5.48xlarge")
    assert (i.fabric, i.cluster, i.network_bw) == ("infiniband", True, 100e9)


@pytest.mark.parametrize("text, field, words", [
    ("instances:\n  - {cloud: aws, name: p5.48xlarge, fabric: myrinet}\n", "instances[0].fabric", "must be one of"),
    ("instances:\n  - {cloud: aws, name: p5.48xlarge, fabric: none}\n", "instances[0].cluster", "fabric is none"),
    ("instances:\n  - {cloud: aws, name: p5.48xlarge, cluster: maybe}\n", "instances[0].cluster", "true or false"),
    ("gpus:\n  - {name: h100, tdp_w: 650, power_limit_w: 700}\n", "gpus[0].tdp_w", "disagree"),
])
def test_bad_new_columns(tmp_path, text, field, words):
    e = _refused(tmp_path, text)
    assert e.field == field and words in str(e)


def test_legacy_tdp_column(tmp_path):
    cat = _load_text(tmp_path, "gpus:\n  - {name: h100, tdp_w: 650}\n")
    assert cat.gpu("H100").power_limit_w == 650 == cat.gpu("H100").tdp_w


# --------------------------------------------------------------------------- overrides: onprem

def test_onprem_override_accepted(tmp_path):
    base = load_catalog()
    cat = _load_text(tmp_path, "onprem:\n  - {key: pue, value: 1.2}\n  - {key: my_rack_fee, value: 900, "
                               "unit: USD per month, basis: sourced, source: colo quote}\n")
    # the user's value is not the built-in source's: the source says so and keeps the built-in one after it
    assert cat.onprem_value("pue") == 1.2
    assert cat.onprem["pue"]["source"] == f"user override (o.yaml: value); built-in row: {base.onprem['pue']['source']}"
    assert cat.onprem_value("my_rack_fee") == 900 and cat.onprem["my_rack_fee"]["basis"] == "sourced"
    assert base.onprem_value("pue") == 1.3  # built-in untouched
    cat = _load_text(tmp_path, "onprem: {power_price_usd_per_kwh: 0.07, amortisation_years: 5}\n")
    assert cat.onprem_value("power_price_usd_per_kwh") == 0.07 and cat.onprem_value("amortisation_years") == 5
    cat = _load_text(tmp_path, "key,value\nutilisation,0.6\n", "o.csv")
    assert cat.onprem_value("utilisation") == 0.6


@pytest.mark.parametrize("text, field, words", [
    ("onprem:\n  - {key: pue, value: 0.5}\n", "onprem[0].value", "between 1 and 3"),
    ("onprem:\n  - {key: pue, value: -1}\n", "onprem[0].value", "must be >= 0"),
    ("onprem:\n  - {key: pue, value: lots}\n", "onprem[0].value", "must be a number"),
    ("onprem:\n  - {key: network_cost_share, value: 1.5}\n", "onprem[0].value", "between 0 and 1"),
    ("onprem:\n  - {key: brand_new, value: 3}\n", "onprem[0].source", "required"),
    ("onprem:\n  - {key: pue, value: 1.2, colour: red}\n", "onprem[0].colour", "not a known column"),
    ("onprem:\n  - {key: Bad-Key, value: 1, source: s}\n", "onprem[0].key", "lower-case"),
    ("onprem:\n  - {value: 1}\n", "onprem[0].key", "required"),
    ("onprem: 3\n", "onprem", "list of rows"),
    ("onprm: []\n", "onprm", "allowed: gpus, instances, onprem, commitments"),
])
def test_onprem_override_validated(tmp_path, text, field, words):
    e = _refused(tmp_path, text)
    assert e.field == field and words in str(e)


# --------------------------------------------------------------------------- overrides: commitments

def test_commitment_override(tmp_path):
    cat = _load_text(tmp_path, "commitments:\n  - {cloud: aws, instance: p5.48xlarge, term: 1yr, payment: no upfront, "
                               "price_usd_hr: 35, price_date: 2026-11-01, source: AWS quote}\n")
    assert [c.price for c in cat.commitments_for("aws:p5.48xlarge")][:2] == [35, 39.33]
    e = _refused(tmp_path, "commitments:\n  - {cloud: aws, instance: p9.huge, term: 1yr, price_usd_hr: 1, source: s}\n")
    assert e.field == "commitments[0].instance" and "unknown instance" in str(e)
    e = _refused(tmp_path, "commitments:\n  - {cloud: aws, instance: p5.48xlarge, term: 3yr, price_usd_hr: 99, source: s}\n")
    assert e.field == "commitments[0].price_usd_hr" and "exceeds on-demand" in str(e)
    e = _refused(tmp_path, "commitments:\n  - {cloud: aws, instance: p5.48xlarge, term: 5yr, price_usd_hr: 9, source: s}\n")
    assert e.field == "commitments[0].term" and "must be one of" in str(e)


# --------------------------------------------------------------------------- duplicates in one file

@pytest.mark.parametrize("text, field, words", [
    ("gpus:\n  - {name: h100, purchase_price_usd: 1}\n  - {name: H100-SXM5-80GB, purchase_price_usd: 2}\n",
     "gpus[1]", "GPU 'H100-SXM-80GB' is already given in gpus[0]"),
    ("gpus:\n  - {name: X1, aliases: xa;xb, vendor: v, memory_gib: 1, hbm_bw_tbps: 1, source: s}\n"
     "  - {name: xb, vendor: v, memory_gib: 1, hbm_bw_tbps: 1, source: s}\n", "gpus[1]", "already given in gpus[0]"),
    ("gpus:\n  - {name: X1, vendor: v, memory_gib: 1, hbm_bw_tbps: 1, source: s}\n"
     "  - {name: x1, vendor: v, memory_gib: 2, hbm_bw_tbps: 1, source: s}\n", "gpus[1]", "duplicate row"),
    ("instances:\n  - {cloud: aws, name: p5.48xlarge, price_ondemand_usd_hr: 40}\n"
     "  - {cloud: AWS, name: P5.48XLARGE, price_ondemand_usd_hr: 41}\n", "instances[1]", "instance 'aws:p5.48xlarge'"),
    ("onprem:\n  - {key: pue, value: 1.2}\n  - {key: pue, value: 1.4}\n", "onprem[1]", "on-prem key 'pue'"),
    ("commitments:\n  - {cloud: aws, instance: p5.48xlarge, term: 1yr, price_usd_hr: 30, source: s}\n"
     "  - {cloud: aws, instance: p5.48xlarge, term: 1yr, price_usd_hr: 31, source: s}\n", "commitments[1]", "1yr commitment"),
])
def test_duplicate_rows_refused(tmp_path, text, field, words):
    e = _refused(tmp_path, text)
    assert e.field == field and "duplicate row" in str(e) and words in str(e)


def test_same_row_in_two_files_is_an_override_not_a_duplicate(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("instances:\n  - {cloud: aws, name: p5.48xlarge, price_ondemand_usd_hr: 40}\n")
    b.write_text("instances:\n  - {cloud: aws, name: p5.48xlarge, price_ondemand_usd_hr: 30}\n")
    assert load_catalog([a, b]).instance("p5.48xlarge").price_ondemand == 30


def test_duplicate_csv_rows_refused(tmp_path):
    e = _refused(tmp_path, "cloud,name,price_ondemand_usd_hr\naws,p4d.24xlarge,20\naws,p4d.24xlarge,21\n", "d.csv")
    assert e.field == "instances[1]" and "duplicate row" in str(e)


# --------------------------------------------------------------------------- size and scale

def test_size_limit(tmp_path, monkeypatch):
    assert MAX_OVERRIDE_ROWS >= 3000  # real catalogs of 3,000 rows must load
    monkeypatch.setattr(catmod, "MAX_OVERRIDE_ROWS", 5)
    rows = "".join(f"  - {{cloud: c, name: n{i}, price_ondemand_usd_hr: 1, source: s}}\n" for i in range(6))
    e = _refused(tmp_path, "instances:\n" + rows)
    assert e.message.startswith("too large:") and "6 rows" in e.message and "at most 5" in e.message
    csv_text = "cloud,name,price_ondemand_usd_hr,source\n" + "".join(f"c,n{i},1,s\n" for i in range(6))
    e = _refused(tmp_path, csv_text, "big.csv")
    assert e.message.startswith("too large:") and e.field == "instances"
    ok = "instances:\n" + rows.split("\n", 1)[1]  # 5 rows: at the limit, accepted
    assert len(_load_text(tmp_path, ok).instances) == len(load_catalog().instances) + 5


def _gpu_csv(n):
    lines = ["name,aliases,vendor,memory_gib,hbm_bw_tbps,bf16_tflops,power_limit_w,source"]
    lines += [f"Big-GPU-{i},big{i};bg-{i},Acme,80,3,{900 + i % 50},700,synthetic" for i in range(n)]
    return "\n".join(lines) + "\n"


def _inst_csv(n):
    lines = ["cloud,name,gpu,gpu_count,network_gbps,fabric,cluster,price_ondemand_usd_hr,source"]
    lines += [f"big,node-{i},bg-{i},8,3200,roce,true,{10 + i % 7},synthetic" for i in range(n)]
    return "\n".join(lines) + "\n"


def test_3000_row_overrides_load(tmp_path):
    g, i = tmp_path / "gpus.csv", tmp_path / "insts.csv"
    g.write_text(_gpu_csv(3000))
    i.write_text(_inst_csv(3000))
    base = load_catalog()
    cat = load_catalog([g, i])
    assert len(cat.gpus) == len(base.gpus) + 3000 and len(cat.instances) == len(base.instances) + 3000
    assert cat.gpu("BIG2999").name == "Big-GPU-2999" and cat.gpu("bg-0").peak("bf16") == 900e12
    node = cat.instance("node-2999")
    assert node.gpu.name == "Big-GPU-2999" and node.fabric == "roce" and node.cluster
    assert cat.instance("big:node-1500").price_ondemand == 10 + 1500 % 7


def test_load_is_linear_in_rows(tmp_path, monkeypatch):
    """Counts validations (no clock): each row is validated a bounded number of times, however many
    rows the file has (the old loader re-validated every GPU for every override row)."""
    calls = {"n": 0}
    real = catmod._validate

    def counting(*a, **k):
        calls["n"] += 1
        return real(*a, **k)

    monkeypatch.setattr(catmod, "_validate", counting)
    base = load_catalog()
    builtin = calls["n"]
    for n in (100, 400):
        p = tmp_path / f"g{n}.csv"
        p.write_text(_gpu_csv(n))
        calls["n"] = 0
        load_catalog([p])
        assert calls["n"] <= builtin + 2 * n, (n, calls["n"])
    assert len(base.gpus) > 0


def test_override_restates_aliases(tmp_path):
    cat = _load_text(tmp_path, "gpus:\n  - {name: h100, aliases: hopper-80;H100}\n"
                               "  - {name: NewAccel, aliases: na, vendor: v, memory_gib: 8, hbm_bw_tbps: 1, source: s}\n")
    assert cat.gpu("hopper-80").name == cat.gpu("H100").name == "H100-SXM-80GB"
    with pytest.raises(CatalogError):
        cat.gpu("H100-SXM5-80GB")  # the restated list replaced the old aliases
    assert cat.gpu("na").name == "NewAccel"
