"""Hardware catalog: data sanity, lookups, overrides, errors."""
import pytest
from rich.table import Table

from hardware_catalog import CatalogError, format_gpus_table, format_instances_table, load_catalog
from planner.errors import InputError


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv("PLANNER_CATALOG", raising=False)


@pytest.fixture
def cat():
    return load_catalog()


def test_counts(cat):
    assert len(cat.gpus) >= 20
    assert len(cat.instances) >= 60
    clouds = {i.cloud for i in cat.instances.values()}
    assert len(clouds) >= 4 and {"aws", "gcp", "azure"} <= clouds
    assert sum(not i.is_gpu for i in cat.instances.values()) >= 8


def test_every_row_has_source(cat):
    assert all(g.source.strip() for g in cat.gpus.values())
    assert all(i.source.strip() for i in cat.instances.values())
    assert all(r["source"].strip() for r in cat.onprem.values())
    assert all(r["source"].strip() for r in cat.interconnects.values())


def test_prices_sane(cat):
    for i in cat.instances.values():
        assert i.price_ondemand > 0
        if i.price_spot is not None:
            assert i.price_spot <= i.price_ondemand, i.key


def test_gpu_instances_resolve(cat):
    for i in cat.instances.values():
        if i.gpu_count:
            assert i.gpu is not None and i.gpu.name in cat.gpus


def test_common_8gpu_nodes_on_several_clouds(cat):
    for gpu in ("H100-SXM-80GB", "A100-SXM-80GB"):
        nodes = [i for i in cat.instances_for(gpu_names=[gpu]) if i.gpu_count == 8]
        assert len({i.cloud for i in nodes}) >= 3, gpu
    assert cat.instance("aws:p5.48xlarge").network_bw == 3200e9 / 8


def test_alias_lookup(cat):
    assert cat.gpu("h100").name == "H100-SXM-80GB"
    assert cat.gpu("H100-SXM5-80GB").name == "H100-SXM-80GB"
    assert cat.gpu("a100-80gb").name == "A100-SXM-80GB"
    assert cat.gpu("A100-SXM-40GB").memory_bytes == 40 * 2**30
    assert cat.instance("p5.48xlarge").key == "aws:p5.48xlarge"
    assert cat.instance("AWS:p5.48xlarge").gpu.name == "H100-SXM-80GB"


def test_peak_and_missing_dtype(cat):
    assert cat.gpu("H100").peak("bf16") == pytest.approx(989.4e12)
    with pytest.raises(CatalogError) as e:
        cat.gpu("A100").peak("fp8")
    assert "fp8" in str(e.value)


def test_unknown_names_suggest(cat):
    with pytest.raises(CatalogError) as e:
        cat.gpu("H10O-SXM")
    assert e.value.field == "cluster.gpu" and "H100-SXM-80GB" in str(e.value)
    assert isinstance(e.value, InputError) and isinstance(e.value, ValueError)
    with pytest.raises(CatalogError) as e:
        cat.instance("p5.48xlarg")
    assert e.value.field == "cluster.instance" and "p5.48xlarge" in str(e.value)


def test_network_default(cat):
    i = cat.instance("lambda:gpu_8x_h100_sxm5")
    assert i.network_bw is None and i.network_bw_or_default == 100e9 / 8


def test_instances_for_filters(cat):
    xs = cat.instances_for(clouds=["aws"], gpu_names=["h100"], spot=True)
    assert xs and all(i.cloud == "aws" and i.price_spot for i in xs)
    assert [i.price_spot for i in xs] == sorted(i.price_spot for i in xs)
    cpus = cat.instances_for(gpu_only=False, clouds=["gcp"])
    assert any(not i.is_gpu for i in cpus)


def test_dataframes_and_tables(cat):
    assert len(cat.gpus_df()) == len(cat.gpus)
    assert set(cat.instances_df("azure")["cloud"]) == {"azure"}
    assert isinstance(format_gpus_table(cat), Table)
    assert isinstance(format_instances_table(cat, cloud="aws"), Table)


def test_override_adds_and_overrides(tmp_path):
    p = tmp_path / "my.yaml"
    p.write_text("""
gpus:
  - {name: h100, purchase_price_usd: 25000}
  - {name: MyAccel-64GB, aliases: myaccel, vendor: Acme, memory_gib: 64, hbm_bw_tbps: 2,
     bf16_tflops: 500, source: vendor quote}
instances:
  - {cloud: aws, name: p5.48xlarge, price_ondemand_usd_hr: 40}
  - {cloud: onprem, name: acme-8x, gpu: myaccel, gpu_count: 8, vcpus: 64, ram_gib: 512,
     price_ondemand_usd_hr: 10, source: internal}
""")
    cat = load_catalog([p])
    assert cat.gpu("H100").purchase_price_usd == 25000
    assert cat.gpu("H100").peak("bf16") == pytest.approx(989.4e12)  # other fields kept
    assert cat.instance("aws:p5.48xlarge").price_ondemand == 40
    assert cat.instance("aws:p5.48xlarge").price_spot == pytest.approx(16.9508)
    assert cat.instance("acme-8x").gpu.name == "MyAccel-64GB"
    assert load_catalog().instance("aws:p5.48xlarge").price_ondemand == 55.04  # built-in untouched


def test_override_csv(tmp_path):
    p = tmp_path / "prices.csv"
    p.write_text("cloud,name,price_ondemand_usd_hr\naws,p4d.24xlarge,20\n")
    assert load_catalog([p]).instance("aws:p4d.24xlarge").price_ondemand == 20


def test_env_var(tmp_path, monkeypatch):
    p = tmp_path / "env.yaml"
    p.write_text("instances:\n  - {cloud: gcp, name: a2-highgpu-8g, price_ondemand_usd_hr: 21}\n")
    monkeypatch.setenv("PLANNER_CATALOG", str(p))
    assert load_catalog().instance("gcp:a2-highgpu-8g").price_ondemand == 21


@pytest.mark.parametrize("text, field, words", [
    ("instances: [\n  {cloud: aws, name: x\n", "yaml", "malformed YAML"),
    ("instances:\n  - {cloud: aws, name: p5.48xlarge, price_ondemand_usd_hr: -1}\n",
     "instances[0].price_ondemand_usd_hr", "must be a positive number, got -1"),
    ("instances:\n  - {cloud: aws, name: new, gpu: H999, gpu_count: 8, price_ondemand_usd_hr: 1, source: s}\n",
     "instances[0].gpu", "unknown GPU"),
    ("gpus:\n  - {name: h100, memory_gib: 1.0e9}\n", "gpus[0].memory_gib", "absurd"),
    ("instances:\n  - {cloud: aws, name: new, price_ondemand_usd_hr: 1}\n", "instances[0].source", "required"),
    ("- just a list\n", "(top level)", "mapping"),
])
def test_bad_overrides(tmp_path, text, field, words):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(CatalogError) as e:
        load_catalog([p])
    assert e.value.field == field
    msg = str(e.value)
    assert msg.startswith("catalog override bad.yaml: ") and words in msg and "\n" not in msg


def test_missing_override_file(tmp_path):
    with pytest.raises(CatalogError, match="no such file"):
        load_catalog([tmp_path / "nope.yaml"])


def test_catalog_links_command_lists_every_interconnect(cli, cat):
    code, out, err = cli("catalog", "links")
    assert code == 0, err
    for name in cat.interconnects:
        assert name in out


@pytest.mark.parametrize("header,row", [("cloud,name,price_ondemand_usd_hr", "AWS,P5.48XLARGE,40"),
                                        ("key,cloud,name,price_ondemand_usd_hr", "AWS:P5.48XLARGE,AWS,P5.48XLARGE,40")])
def test_override_instance_name_matches_case_insensitively(tmp_path, header, row):
    """An override row spelled in another case overrides the built-in instance (as ``cluster.instance`` finds it);
    it was read as a new instance: "instances[0].source: is required"."""
    p = tmp_path / "prices.csv"
    p.write_text(f"{header}\n{row}\n")
    cat = load_catalog([p])
    inst = cat.instance("aws:p5.48xlarge")
    assert (inst.key, inst.name, inst.price_ondemand) == ("aws:p5.48xlarge", "p5.48xlarge", 40)
    assert sum(k.lower() == "aws:p5.48xlarge" for k in cat.instances) == 1
    assert any("instance aws:p5.48xlarge: price_ondemand_usd_hr" in n for n in cat.overrides)
