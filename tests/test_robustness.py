"""Regression tests for hostile input and output paths (README "Limits and bad input").

Output paths: never replace a device or a folder, nor what a link points to; never delete what the program did not
create; leave nothing behind on failure. Input: bounded size, regular files only, bounded nesting
and alias expansion, duplicate keys refused, input never echoed unbounded."""
import errno
import os
import stat
from pathlib import Path

import pytest

ESTIMATE_JOB = ("model: {preset: gpt2}\ntraining: {seq_len: 1024, global_batch: 32, micro_batch: 4, tokens: 1e9}\n"
                "cluster: {gpu: A100-SXM-80GB, gpus_per_node: 8, nodes: 1}\nparallel: {tp: 1, pp: 1, dp: 8}\n")
SEARCH_JOB = ("model: {preset: gpt2}\ntraining: {seq_len: 1024, global_batch: 64, tokens: 1e9}\n"
              "constraints: {clouds: [aws], gpus: [A100], max_gpus: 8}\n")

BILLION_LAUGHS = "\n".join(["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
                           + [f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]"
                              for p, c in zip("abcdefgh", "bcdefghi")])


def one_line_error(code, out, err, *fragments):
    assert code == 2, (code, out[-500:], err[-500:])
    line = err.strip()
    assert line.startswith("error:") and "\n" not in line, line
    assert "Traceback" not in out + err
    assert len(line) < 400, line  # never echoes unbounded input
    for f in fragments:
        assert f.lower() in line.lower(), line
    return line


def leftovers(folder):
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp") or ".tmp" in p.name)


# ------------------------------------------------------------------------------ output paths
@pytest.fixture
def search_job(tmp_path):
    p = tmp_path / "job.yaml"
    p.write_text(SEARCH_JOB)
    return p


def test_csv_onto_a_symlink_replaces_the_link_not_its_target(tmp_path, cli, search_job):
    """`--csv link.csv --force` with link.csv -> a user's file (think ~/.bashrc) wrote the CSV into that file: the
    link was written through. Now the link itself is replaced by the CSV and the file it pointed to is untouched."""
    elsewhere = tmp_path / "home"
    elsewhere.mkdir()
    real = elsewhere / "bashrc"
    real.write_text("export PATH=/usr/bin\n")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    line = one_line_error(*cli("recommend", search_job, "--no-simulate", "--csv", link), "--csv", "exists",
                          "symbolic link", "--force")
    assert line.startswith("error: --csv: ")
    assert link.is_symlink() and real.read_text() == "export PATH=/usr/bin\n"  # refused without --force, as before
    code, _, err = cli("recommend", search_job, "--no-simulate", "--csv", link, "--force")
    assert code == 0, err
    assert not link.is_symlink() and link.read_text().startswith("hardware,")
    assert real.read_text() == "export PATH=/usr/bin\n"
    assert leftovers(tmp_path) == []


def test_a_dangling_link_is_replaced_not_followed(tmp_path):
    """A dangling link was followed: the file was created wherever the link pointed (a folder the user never
    named). Now it is an existing name like any other: refused without force, the link replaced with it."""
    from planner.errors import InputError
    from planner.outputs import output_target, write_text

    away = tmp_path / "away"
    away.mkdir()
    link = tmp_path / "plans.csv"
    link.symlink_to(away / "created.csv")
    with pytest.raises(InputError, match="exists"):
        output_target(link, "--csv")
    with pytest.raises(InputError, match="exists"):
        write_text(link, "a,b\n", "--csv")
    assert link.is_symlink() and not (away / "created.csv").exists()
    assert output_target(link, "--csv", force=True) == link
    write_text(link, "a,b\n", "--csv", force=True)
    assert not link.is_symlink() and link.read_text() == "a,b\n"
    assert list(away.iterdir()) == []


def test_a_link_to_a_folder_is_replaced_and_the_folder_kept(tmp_path):
    """A link to a folder was refused as a folder; the link is the named path, so with force it becomes the file
    and the folder it pointed to keeps every file."""
    from planner.errors import InputError
    from planner.outputs import write_text

    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "keep.txt").write_text("keep")
    link = tmp_path / "out.csv"
    link.symlink_to(folder, target_is_directory=True)
    with pytest.raises(InputError, match="exists"):
        write_text(link, "x", "--csv")
    write_text(link, "x", "--csv", force=True)
    assert not link.is_symlink() and link.is_file() and link.read_text() == "x"
    assert folder.is_dir() and [f.name for f in folder.iterdir()] == ["keep.txt"]
    assert (folder / "keep.txt").read_text() == "keep"


def test_a_write_failing_half_way_leaves_the_old_file_and_the_link(tmp_path, monkeypatch):
    """Half the bytes written, then the disk fills: the old file (and a link, and its target) stay as they were and
    no temporary file is left beside either."""
    import planner.outputs as w
    from planner.errors import InputError

    real_write_all = w._write_all

    def half_then_full(fd, data):
        real_write_all(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(w, "_write_all", half_then_full)
    old = tmp_path / "plans.csv"
    old.write_text("old plans\n")
    away = tmp_path / "away"
    away.mkdir()
    target = away / "target.csv"
    target.write_text("target\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    for path in (old, link):
        with pytest.raises(InputError, match="no space left on device"):
            w.write_text(path, "new,plans\n" * 100, "--csv", force=True)
    assert old.read_text() == "old plans\n"
    assert link.is_symlink() and os.readlink(link) == str(target) and target.read_text() == "target\n"
    assert leftovers(tmp_path) == []


def test_a_chart_folder_that_is_a_link_is_replaced_not_written_through(tmp_path, cli, search_job):
    """`report -o r.md` with r_files -> a folder elsewhere wrote the charts into that folder. The chart folder is an
    output name like the report: a link there is refused without --force, and with it a new folder replaces the
    link; the folder it pointed to keeps exactly what it had."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("precious")
    link = tmp_path / "r_files"
    link.symlink_to(elsewhere, target_is_directory=True)
    one_line_error(*cli("report", search_job, "--no-simulate", "-o", tmp_path / "r.md"), "--out", "r_files",
                   "symbolic link", "--force")
    assert not (tmp_path / "r.md").exists() and link.is_symlink()
    code, _, err = cli("report", search_job, "--no-simulate", "-o", tmp_path / "r.md", "--force")
    assert code == 0, err
    assert not link.is_symlink() and link.is_dir() and any(link.iterdir())
    assert [f.name for f in elsewhere.iterdir()] == ["keep.txt"] and (elsewhere / "keep.txt").read_text() == "precious"
    assert "r_files/" in (tmp_path / "r.md").read_text()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("fails_at", ["chart", "report"])
def test_a_failed_write_leaves_the_chart_folder_link_as_it_was(tmp_path, monkeypatch, fails_at):
    """A failure while writing a chart, or at the last rename (the report, after the new folder replaced the link),
    puts everything back: the link to the old folder, the old folder's files, no report, no temporary files."""
    import planner.outputs as w
    from planner.errors import InputError

    old = tmp_path / "old"
    old.mkdir()
    (old / "c.vl.json").write_text("old chart")
    folder, report = tmp_path / "r_files", tmp_path / "r.md"
    folder.symlink_to(old, target_is_directory=True)
    if fails_at == "chart":
        def fail(fd, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        monkeypatch.setattr(w, "_write_all", fail)
    else:
        real_replace = os.replace

        def fail(src, dst):
            if Path(dst).name == "r.md":
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            real_replace(src, dst)
        monkeypatch.setattr(w.os, "replace", fail)
    with pytest.raises(InputError):
        w.write_outputs({folder / "c.vl.json": "new chart", report: "report"}, "--out", folders=[folder], force=True)
    assert folder.is_symlink() and os.readlink(folder) == str(old)
    assert [f.name for f in old.iterdir()] == ["c.vl.json"] and (old / "c.vl.json").read_text() == "old chart"
    assert not report.exists() and leftovers(tmp_path) == []
    monkeypatch.undo()
    w.write_outputs({folder / "c.vl.json": "new chart", report: "report"}, "--out", folders=[folder], force=True)
    assert not folder.is_symlink() and (folder / "c.vl.json").read_text() == "new chart"
    assert (old / "c.vl.json").read_text() == "old chart" and report.read_text() == "report"


def test_a_leftover_temporary_file_of_the_same_pid_does_not_block_the_write(tmp_path):
    """Temporary files were named ``.<name>.<pid>.tmp`` and opened exclusive-create: a crashed run's leftover with
    the same pid (pids are reused; in a container every run may be pid 1) made each later write fail with "file
    exists". mkstemp names never collide; the leftover is not ours to delete and stays."""
    from planner.outputs import write_text

    stale = tmp_path / f".plans.csv.{os.getpid()}.tmp"
    stale.write_text("from a crashed run")
    write_text(tmp_path / "plans.csv", "a,b\n", "--csv")
    assert (tmp_path / "plans.csv").read_text() == "a,b\n"
    assert stale.read_text() == "from a crashed run"
    assert leftovers(tmp_path) == [stale.name]


@pytest.mark.parametrize("target", ["/dev/null", "fifo"])
def test_devices_and_fifos_are_refused_not_replaced(tmp_path, cli, search_job, target):
    if target == "fifo":
        target = tmp_path / "pipe"
        os.mkfifo(target)
    mode = os.stat(target).st_mode
    one_line_error(*cli("recommend", search_job, "--no-simulate", "--csv", target), "--csv", "not a regular file")
    assert os.stat(target).st_mode == mode  # still the device / FIFO
    code, out, err = cli("report", search_job, "--no-simulate", "-o", tmp_path / "x.md")
    assert code == 0, err  # sanity: the same job reports fine to a real path


@pytest.mark.parametrize("flag", ["--csv", "-o"])
def test_a_folder_or_empty_path_as_target_is_one_line(tmp_path, cli, search_job, flag):
    cmd = ("recommend", search_job, "--no-simulate", "--csv") if flag == "--csv" else ("report", search_job, "--no-simulate", "-o")
    d = tmp_path / "adir.md"
    d.mkdir()
    one_line_error(*cli(*cmd, d), "is a folder; give a file name")
    if flag == "--csv":
        one_line_error(*cli(*cmd, ""), "--csv")


def test_report_keeps_files_it_did_not_create(tmp_path, cli, search_job):
    folder = tmp_path / "notes_files"
    folder.mkdir()
    (folder / "mine.txt").write_text("precious")
    (tmp_path / "notes.md").write_text("old report")
    code, _, err = cli("report", search_job, "--no-simulate", "-o", tmp_path / "notes.md", "--force")
    assert code == 0, err
    assert (folder / "mine.txt").read_text() == "precious"
    assert (tmp_path / "notes.md").read_text() != "old report"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("code_,words", [(errno.ENOSPC, "no space left on device"), (errno.EACCES, "permission denied")])
def test_write_failure_is_one_line_and_leaves_nothing(tmp_path, cli, search_job, monkeypatch, code_, words):
    import planner.outputs as w

    def fail(fd, data):
        raise OSError(code_, os.strerror(code_))

    monkeypatch.setattr(w, "_write_all", fail)
    (tmp_path / "keep.csv").write_text("user data")
    one_line_error(*cli("recommend", search_job, "--no-simulate", "--csv", tmp_path / "keep.csv", "--force"), "--csv",
                   words)
    assert (tmp_path / "keep.csv").read_text() == "user data"
    one_line_error(*cli("report", search_job, "--no-simulate", "-o", tmp_path / "r.md"), "--out", words)
    assert not (tmp_path / "r.md").exists() and not (tmp_path / "r_files").exists()
    assert leftovers(tmp_path) == []


def test_new_files_get_umask_permissions_and_existing_keep_theirs(tmp_path):
    from planner.outputs import write_text

    p = tmp_path / "a.csv"
    write_text(p, "x", "--csv")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o666 & ~mask
    os.chmod(p, 0o600)
    write_text(p, "y", "--csv", force=True)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600 and p.read_text() == "y"


def test_calibrate_checks_its_output_before_measuring(tmp_path, cli, monkeypatch):
    import calibration.bench as bench

    monkeypatch.setattr(bench, "run_calibration", lambda **kw: pytest.fail("measured before checking -o"))
    one_line_error(*cli("calibrate", "--quick", "-o", tmp_path), "--out", "is a folder; give a file name such as")


def test_timeline_to_a_device_is_refused(tmp_path, cli):
    job = tmp_path / "job.yaml"
    job.write_text(ESTIMATE_JOB)
    one_line_error(*cli("simulate", job, "--steps", "5", "--timeline", "/dev/null"), "--timeline")


# ------------------------------------------------------------------------------ hostile input
def test_billion_laughs_job_is_refused_quickly(tmp_path, cli):
    p = tmp_path / "lol.yaml"
    p.write_text(BILLION_LAUGHS + "\nmodel: {preset: gpt2}\n")
    one_line_error(*cli("estimate", p), "too large")


def test_billion_laughs_in_a_list_field(tmp_path, cli):
    p = tmp_path / "lol.yaml"
    p.write_text(SEARCH_JOB.replace("clouds: [aws]", "clouds: *i").replace("constraints", BILLION_LAUGHS + "\nconstraints"))
    one_line_error(*cli("recommend", p), "too large")


def test_billion_laughs_catalog(tmp_path, cli, search_job):
    c = tmp_path / "cat.yaml"
    c.write_text(BILLION_LAUGHS + "\ngpus: *i\n")
    one_line_error(*cli("recommend", search_job, "--catalog", c), "too large")


def test_a_few_aliases_are_fine(tmp_path, cli):
    p = tmp_path / "job.yaml"
    p.write_text("x: &gb 64\n" if False else ESTIMATE_JOB.replace("global_batch: 32", "global_batch: &gb 32")
                 .replace("micro_batch: 4", "micro_batch: 4"))
    code, _, err = cli("estimate", p)
    assert code == 0, err


@pytest.mark.parametrize("where", ["job", "hf_config", "profile", "catalog"])
def test_dev_zero_and_fifos_are_refused(tmp_path, cli, where):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    job = tmp_path / "job.yaml"
    for src in ("/dev/zero", fifo):
        if where == "job":
            args = ("estimate", src)
        elif where == "hf_config":
            job.write_text(f"model: {{hf_config: {src}}}\n")
            args = ("estimate", job)
        elif where == "profile":
            job.write_text(ESTIMATE_JOB)
            args = ("estimate", job, "--profile", src)
        else:
            job.write_text(ESTIMATE_JOB)
            args = ("estimate", job, "--catalog", src)
        one_line_error(*cli(*args), "not a regular file")


@pytest.mark.parametrize("name,text", [
    ("deep.yaml", "model: " + "[" * 5000 + "]" * 5000 + "\n"),
    ("deep2.yaml", "model: " + "{a: " * 100 + "1" + "}" * 100 + "\n"),
    ("deep.json", '{"model": ' + "[" * 100000 + "]" * 100000 + "}"),
])
def test_deep_nesting_is_one_line(tmp_path, cli, name, text):
    p = tmp_path / name
    p.write_text(text)
    one_line_error(*cli("estimate", p), "nested")


def test_huge_file_is_refused_without_reading_it(tmp_path, cli):
    p = tmp_path / "big.yaml"
    with open(p, "wb") as fh:
        fh.truncate(64 * 2**20)  # sparse: 64 MiB of zeros, no disk used
    one_line_error(*cli("estimate", p), "too large")


def test_duplicate_keys_are_refused(tmp_path, cli):
    p = tmp_path / "dup.yaml"
    p.write_text(ESTIMATE_JOB + "model: {preset: llama3-8b}\n")
    one_line_error(*cli("estimate", p), "duplicate key")
    j = tmp_path / "dup.json"
    j.write_text('{"model_type": "llama", "model_type": "gpt2"}')
    one_line_error(*cli("estimate", j), "duplicate key")


def test_json_nan_in_a_profile_is_refused(tmp_path, cli):
    prof = tmp_path / "p.json"
    prof.write_text('{"fitted": {"gemm_max": NaN}}')
    job = tmp_path / "job.yaml"
    job.write_text(ESTIMATE_JOB)
    one_line_error(*cli("estimate", job, "--profile", prof), "--profile")


def test_errors_never_echo_unbounded_input(tmp_path, cli):
    p = tmp_path / "job.yaml"
    p.write_text("model: {preset: '" + "x" * 100_000 + "'}\n")
    one_line_error(*cli("estimate", p), "model.preset")


def test_bom_and_latin1_catalog_csv(tmp_path, cli, search_job):
    rows = open(os.path.join(os.path.dirname(__file__), "..", "hardware_catalog", "data", "instances.csv"),
                encoding="utf-8").read().splitlines()[:2]
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + ("\n".join(rows) + "\n").encode())
    code, out, err = cli("catalog", "instances", "--catalog", bom, "--csv")
    assert code == 0, err
    lat = tmp_path / "latin.csv"
    lat.write_bytes(("\n".join(rows) + "\n").encode() + "aws,x,V100,1,8,61,,0,3,1,r,d,caf\xe9,n\n".encode("latin-1"))
    one_line_error(*cli("catalog", "instances", "--catalog", lat), "UTF-8")
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    one_line_error(*cli("catalog", "gpus", "--catalog", binary), "binary")


# ------------------------------------------------------------------------------ one policy: never replace
def _outputs(tmp_path, search_job):
    """Every file-writing option: (command line without the path, option named in the error)."""
    est = tmp_path / "est.yaml"
    est.write_text(ESTIMATE_JOB)
    return {"--csv": (("recommend", search_job, "--no-simulate", "--csv"), "--csv", "plans.csv"),
            "--timeline": (("simulate", est, "--steps", "5", "--no-answers", "--timeline"), "--timeline", "t.csv"),
            "report -o": (("report", search_job, "--no-simulate", "-o"), "--out", "r.md")}


@pytest.mark.parametrize("which", ["--csv", "--timeline", "report -o"])
def test_an_existing_file_is_never_replaced_without_force(tmp_path, cli, search_job, which):
    """`report -o FILE` (and --csv, --timeline) replaced an existing file silently. One policy for every output
    (planner.outputs): refused in one line naming the option, exit 2, the file untouched, nothing left behind;
    --force replaces it."""
    cmd, field, name = _outputs(tmp_path, search_job)[which]
    target = tmp_path / name
    target.write_text("the user's own file\n")
    line = one_line_error(*cli(*cmd, target), field, "exists")
    assert "--force" in line, line
    assert target.read_text() == "the user's own file\n"
    assert leftovers(tmp_path) == [] and not (tmp_path / "r_files").exists()
    code, _, err = cli(*cmd, target, "--force")
    assert code == 0, err
    assert target.read_text() != "the user's own file\n"


def test_a_report_chart_that_exists_is_not_replaced_without_force(tmp_path, cli, search_job):
    """The Markdown report's charts are outputs too: a same-named file in <name>_files/ is the user's until
    --force; the refusal comes before anything is written (no report, no new chart)."""
    code, _, err = cli("report", search_job, "--no-simulate", "-o", tmp_path / "r.md")
    assert code == 0, err
    from planner.outputs import FOLDER_MANIFEST

    charts = sorted(p for p in (tmp_path / "r_files").iterdir() if p.name != FOLDER_MANIFEST)  # (the list: QA 39b)
    assert charts
    (tmp_path / "r.md").unlink()
    charts[0].write_text("edited by hand")
    before = {p.name: p.read_bytes() for p in charts}
    one_line_error(*cli("report", search_job, "--no-simulate", "-o", tmp_path / "r.md"), "--out", "exists")
    assert not (tmp_path / "r.md").exists()
    assert {p.name: p.read_bytes() for p in (tmp_path / "r_files").iterdir() if p.name != FOLDER_MANIFEST} == before
    code, _, err = cli("report", search_job, "--no-simulate", "-o", tmp_path / "r.md", "--force")
    assert code == 0, err
    assert charts[0].read_text() != "edited by hand"


def test_calibrate_refuses_an_existing_profile_before_measuring(tmp_path, cli, monkeypatch):
    import calibration.bench as bench

    monkeypatch.setattr(bench, "run_calibration", lambda **kw: pytest.fail("measured before checking -o"))
    (tmp_path / "p.json").write_text("{}")
    one_line_error(*cli("calibrate", "--quick", "-o", tmp_path / "p.json"), "--out", "exists")
    assert (tmp_path / "p.json").read_text() == "{}"


def test_single_gpu_instance_below_min_gpus_counts_in_singular(tmp_path, cli):
    """A one-GPU instance under min_gpus says "(1 GPU)", not "(1 GPUs)" (found by a random sweep)."""
    job = tmp_path / "job.yaml"
    job.write_text("model: {preset: llama3-8b}\ntraining: {seq_len: 2048, global_batch: 64, tokens: 1.0e9}\n"
                   "constraints: {instances: ['aws:g6.xlarge'], min_gpus: 128}\n")
    code, out, err = cli("recommend", job)
    assert code == 2
    assert err.startswith("error: constraints.min_gpus:") and "(1 GPU)" in err and "GPUs)" not in err, err
