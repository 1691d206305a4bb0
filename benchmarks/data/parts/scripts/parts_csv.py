"""What the part-table scripts of this folder share: a row over a fixed column list, and the CSV writer. Imported by
name (each script runs as ``python benchmarks/data/parts/scripts/<name>.py``, so this folder is on ``sys.path``)."""
import csv

#: the stack option every IBM fms-fsdp row adds (open_reports.py's fms_readme / fms_blog rows, fms_compile.py's): its
#: model code's RoPE, foundation-model-stack's real 2 x 2 rotation in fp32 (fms/modules/positions.py
#: ``RotaryEmbedding.adjusted_qk``), priced by stacks.Stack.eager_rope where the blocks run uncompiled (compile47)
FMS_ROPE = ";eager_rope=rope_rotation_matrix"


#: the columns of a run table that benchmarks/validate.py maps with ``pr2_case``: published_runs_2.csv's 31, then the
#: run settings and provenance validate reads beside them (tp_overlap ... read_date). The builders of such tables
#: (mi300x.py, gaudi.py) write these, then their own printed-figure columns
PR2_COLUMNS = ("id", "source", "table", "model", "params_b", "layers", "hidden", "heads", "kv_heads", "ffn_hidden", "vocab",
               "seq_len", "moe_experts", "moe_topk", "global_batch_seqs", "micro_batch", "tp", "pp", "dp", "cp", "vpp",
               "zero_or_fsdp", "recompute", "precision", "gpu", "num_gpus", "gpus_per_node", "interconnect", "metric",
               "value", "notes", "tp_overlap", "inter_node_gbps", "stack_options", "container", "provenance",
               "config_provenance", "read_date")


#: the columns of a run table that benchmarks/validate.py maps with ``open_reports_case`` (one run a row, its model's
#: columns, layout, stack and metric, then its provenance): olmo_core_runs.csv's, whose builder (olmo_core.py) first
#: wrote them; fms_compile.py writes them and its reference-pair columns after
OPEN_REPORTS_COLUMNS = ("id", "model", "preset", "layers", "hidden", "heads", "kv_heads", "ffn_hidden", "vocab", "mlp", "norm",
                        "position", "tied_embeddings", "parallel_residual", "qk_norm", "params_total", "seq_len",
                        "global_batch_seqs", "micro_batch", "grad_accum", "train_iters", "num_gpus", "gpu", "gpus_per_node",
                        "inter_node_gbps", "interconnect", "tp", "pp", "dp", "ep", "zero", "dp_shard", "precision",
                        "grad_reduce", "recompute", "recompute_modules", "flash_attention", "stack", "stack_options",
                        "stack_as_run", "metric", "value", "flop_formula", "measured_step_s", "source_url", "source_loc",
                        "quote", "date", "layout_source", "read_date", "scored", "not_scored_reason", "cross_check", "notes")

def new_row(cols, read_date, **cells) -> dict:
    """A row of ``cols``: the given ``cells``, every other column empty, ``read_date`` stamped."""
    r = {c: "" for c in cols}
    r.update(cells)
    r["read_date"] = read_date
    return r


def write_csv(path, rows, cols, **dialect) -> None:
    """``rows`` (dicts) under the header ``cols`` to ``path`` (UTF-8; ``dialect``: csv.DictWriter's keywords,
    e.g. ``lineterminator``). A key outside ``cols`` raises, as csv.DictWriter does."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols, **dialect)
        w.writeheader()
        w.writerows(rows)


def replace_rows(path, owned, new_rows, cols=None, lineterminator="\r\n") -> int:
    """Rewrite the CSV at ``path`` with the rows whose ``id`` satisfies ``owned`` replaced by ``new_rows``, put where
    the first of them was (at the end when there was none). Several builders share a CSV (attention_kernels.csv,
    gemm_efficiency.csv, fp8_gemm.csv), each owning one contiguous block of ids: replacing a block in place, not
    appending it, gives the same file whatever order they run in. The file's own columns and line ends are kept;
    ``cols`` and ``lineterminator`` only serve a file that does not exist yet. Returns ``len(new_rows)``."""
    kept, at = [], None
    try:
        with open(path, "rb") as f:
            lineterminator = "\r\n" if b"\r\n" in f.read(4096) else "\n"  # keep the file's own line ends
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            cols = reader.fieldnames
            for r in reader:
                if owned(r["id"]):
                    at = len(kept) if at is None else at
                else:
                    kept.append(r)
    except FileNotFoundError:
        if cols is None:
            raise
    at = len(kept) if at is None else at
    write_csv(path, kept[:at] + list(new_rows) + kept[at:], cols, lineterminator=lineterminator)
    return len(new_rows)
