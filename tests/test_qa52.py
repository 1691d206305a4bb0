"""QA 52: beyond NVIDIA -- AMD Instinct, TPU, Trainium, Gaudi on the shipped catalog (docs/qa_log.md "QA 52")."""
from conftest import answered, refused

GAUDI2_70B = """model: {preset: llama3-70b}
training: {seq_len: 8192, global_batch: 1024, precision: bf16, tokens: 1e12}
constraints: {gpus: [Gaudi2-96GB]}
"""


def test_nearest_misfit_names_the_host_ram_its_offload_overfills(cli, tmp_path):
    """Llama-3-70B on the catalog's one Gaudi 2 node (8 x 96 GB, 940 GiB of RAM): the offloaded layouts fit the chips
    and not the host. The refusal read "nearest: ... off:optimizer+activation needs 51.9 GiB; 91.2 GiB allowed per
    GPU", a layout inside its limit, the 152.1 GiB per GPU its offload puts in 94.0 GiB of host RAM unsaid."""
    p = tmp_path / "gaudi2.yaml"
    p.write_text(GAUDI2_70B)
    line = refused(cli("recommend", str(p)))
    assert "GPU and host memory" in line, line
    assert "GiB of host RAM (94.0 allowed) per GPU" in line, line
    assert "…" not in line, line  # whole: the error's 300 characters hold it
