"""The README holds no pasted numbers: its tables are copies of files the repo regenerates."""
import re
from pathlib import Path

from numpycnn.lab.commands.figures import INCLUDE, sync_includes

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def test_every_include_block_of_the_readme_and_the_docs_equals_the_file_it_names():
    for doc in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        for m in INCLUDE.finditer(doc.read_text(encoding="utf-8")):
            path = ROOT / m.group("path")
            assert path.exists(), f"{doc.name} includes {m.group('path')}, which does not exist"
            want = path.read_text(encoding="utf-8").rstrip("\n") + "\n"
            assert m.group("body") == want, (f"{doc.name}: the block for {m.group('path')} is stale: "
                                             f"run `python -m numpycnn figures --readme-only`")


def test_every_image_and_link_the_readme_references_exists():
    text = README.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#\s]+)\)", text):
        if "://" in target:
            continue
        assert (ROOT / target).exists(), f"README links to {target}, which does not exist"


def test_sync_includes_replaces_only_the_block_and_is_idempotent(tmp_path):
    (tmp_path / "t.md").write_text("| a | b |\n|---|---|\n| 1 | 2 |\n")
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- BEGIN include t.md -->\nold\n<!-- END include t.md -->\noutro\n")
    assert sync_includes(readme) == ["t.md"]
    once = readme.read_text()
    assert once == "intro\n<!-- BEGIN include t.md -->\n| a | b |\n|---|---|\n| 1 | 2 |\n<!-- END include t.md -->\noutro\n"
    sync_includes(readme)
    assert readme.read_text() == once
