"""What a newcomer follows out of the README leads somewhere (readme42).

tests/test_readme38.py checks README.md's own markdown links; this file checks the links of every page the project
writes (README.md, docs/*.md and the package READMEs, each resolved from its own folder, so a paragraph moved from the
README into docs/ with its `docs/...` targets is caught), the repository paths the README names in its prose, that the
README's opening paragraph names every page under docs/, and that the speed section is the benchmark's block, one
paragraph on how it is measured and one table, its per-pass history kept in docs/speed_notes.md."""
from __future__ import annotations

import re
from pathlib import Path

from conftest import github_headings

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TEXT = README.read_text(encoding="utf-8")

# the pages the project writes; benchmarks/data/parts/scripts/raw/ holds third-party pages stored verbatim
PAGES = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "hardware_catalog" / "README.md",
         ROOT / "calibration" / "README.md", ROOT / "planner" / "hardware" / "profiles" / "README.md",
         ROOT / "tests" / "data" / "README.md", ROOT / "benchmarks" / "data" / "parts" / "README.md"]

# a path of the repository's own layout (tests/, benchmarks/, docs/, planner/, ...), not preceded by a slash
REPO_PATH = re.compile(r"(?<![\w/.-])((?:tests/\w+\.py|planner/[\w/]+\.py|examples/[\w.-]+\.ya?ml|benchmarks/\w+\.py"
                       r"|benchmarks/data/[\w/.-]+\.(?:csv|py|md)|docs/\w+\.(?:md|py)"
                       r"|hardware_catalog/[\w/]+\.(?:py|csv|md)|calibration/\w+\.py))(?![\w/])")
# a path in another public repository that reads like one of ours: the README names that repository just before it
EXTERNAL = {"benchmarks/xla_flags_library.py": "MaxText", "docs/performance.md": "torchtitan"}


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors of a page (``github_headings``)."""
    return {a for *_, a in github_headings(page.read_text(encoding="utf-8").splitlines())}


def _dead_links(page: Path, root: Path = ROOT) -> list[str]:
    problems = []
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        f = (page.parent / path).resolve() if path else page
        if not f.exists():
            problems.append(f"{page.relative_to(root)}: {target}: no such file")
        elif anchor and f.suffix == ".md" and anchor not in _anchors(f):
            problems.append(f"{page.relative_to(root)}: {target}: no heading with that anchor")
    return problems


def test_every_relative_link_of_every_page_reaches_a_file_and_heading():
    assert all(p.exists() for p in PAGES)
    problems = [p for page in PAGES for p in _dead_links(page)]
    assert not problems, "\n".join(problems)


def test_a_moved_readme_link_is_caught_from_its_new_folder(tmp_path):
    """The check resolves a page's links from its own folder: `docs/speed_notes.md` written inside docs/ is dead."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "speed_notes.md").write_text("# s\n")
    page = tmp_path / "docs" / "notes.md"
    page.write_text("[a](docs/speed_notes.md) [b](speed_notes.md#s) [c](speed_notes.md#t)\n")
    assert _dead_links(page, tmp_path) == ["docs/notes.md: docs/speed_notes.md: no such file",
                   "docs/notes.md: speed_notes.md#t: no heading with that anchor"]


def test_every_repository_path_the_readme_names_exists():
    """A path of our layout the README writes (`tests/test_x.py`, `benchmarks/y.py`, ...) is a file a newcomer can
    open; one of another repository's files is preceded by that repository's name (MaxText's
    benchmarks/xla_flags_library.py read as ours until readme42)."""
    missing = []
    for m in REPO_PATH.finditer(TEXT):
        path = m.group(1)
        if (ROOT / path).exists():
            continue
        owner = EXTERNAL.get(path)
        if owner is None or owner not in TEXT[max(0, m.start() - 40):m.start()]:
            missing.append(f"{path} (line {TEXT.count(chr(10), 0, m.start()) + 1})")
    assert not missing, "README names paths that are not in the repository: " + ", ".join(missing)


def test_the_readme_opening_names_every_docs_page():
    """The paragraph above the contents list is where a newcomer learns what docs/ holds: it links every page
    (docs/scenarios.md was linked only from "Beyond pre-training" until readme42)."""
    opening = TEXT[:TEXT.index("\nContents (")]
    linked = set(re.findall(r"\]\(docs/([\w.-]+\.md)\)", opening))
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert pages - linked == set()


def _speed_section() -> str:
    start = TEXT.index("\n### Speed (`python benchmarks/bench_search.py`")
    return TEXT[start:TEXT.index("\nHow the search reaches these rates:", start)]


def test_the_speed_section_is_the_block_one_paragraph_and_one_table():
    """The block, one paragraph on how it is measured, one table of each line's latest measurement; the per-pass
    paragraphs (speed39 ... speed42) that stood between them live in docs/speed_notes.md, verbatim."""
    section = _speed_section()
    after_block = section[section.index("\n```\n", section.index("```\n$ python benchmarks/bench_search.py")) + 5:]
    paragraphs = [p for p in after_block.strip().split("\n\n") if p.strip()]
    assert len(paragraphs) == 2, paragraphs
    prose, table = paragraphs
    assert not prose.startswith("|") and "docs/speed_notes.md" in prose
    rows = [r for r in table.splitlines() if r.startswith("| ")][1:]  # the header row left out
    assert all(r.startswith("|") for r in table.splitlines())
    firsts = [r.split(" | ")[0] for r in rows]
    for line in ("10^4 memory + step time", "10^5 memory + step time", "10^6 in blocks", "10^6 one call",
                 "`recommend` llama3-70b", "`recommend` DeepSeek-V3"):
        assert any(line in f for f in firsts), line
    assert all(len(r.split(" | ")) == 5 for r in rows)  # line, block, value, how measured, date / commit
    notes = (ROOT / "docs" / "speed_notes.md").read_text(encoding="utf-8")
    moved = notes[notes.index("\n## Moved from the README 2026-12-05\n"):]
    for start in ("The block above is the end-of-session-41 regeneration", "memspeed39 (2026-12-05, CPU time",
                  "speed40 (2026-12-05, CPU time", "are speed40b's (2026-12-05)", "speed40c (2026-12-05, CPU time",
                  "speed41 (2026-12-05, CPU time", "speed42 (2026-12-05, CPU time"):
        assert start in moved, start
        assert start not in TEXT, start
