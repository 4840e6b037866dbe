"""The README holds no pasted numbers: its tables are copies of files the repo regenerates; and every
repository path the README, the docs and the tutorials name exists."""
import os
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


#: folders the project's commands create when they run (each git-ignored, checked below): a path under one
#: is an output that a fresh clone does not have yet, not a file of the repository
RUN_TIME_OUTPUTS = {
    "runs/": "train, demo and compare write their run folders here",
    "site/": "python -m numpycnn book writes the course book here",
    "build/": "the book stages its Sphinx project here",
    "mutants/": "mutmut's working copy (docs/mutation.md)",
    "tutorials/figures/": "a tutorial run as a script saves its figures here",
}
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
BACKTICKED = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
LINK = re.compile(r"\]\(([^)\s]+)\)")              # [text](target) and ![alt](target)
PATH_CHARS = re.compile(r"[\w.\-/*<>]+")
EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9]*$")   # x.py, x.md, x.json; not 0.5


def prose(path):
    """The prose of a README/docs page or of a tutorial's markdown cells, without its fenced code blocks."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":                        # jupytext percent format: "# %% [markdown]" cells of "# " lines
        lines, markdown = [], False
        for line in text.splitlines():
            if line.startswith("# %%"):
                markdown = "[markdown]" in line
            elif markdown and (line == "#" or line.startswith("# ")):
                lines.append(line[2:])
        text = "\n".join(lines)
    return FENCE.sub("", text)


def paths_named(text, top_level):
    """The repository paths a text names: ``[(path, "link" or "backticks")]``.

    Every link's target (but a URL or an anchor) is one, relative to the page's folder (the caller
    resolves it). A backticked token is one when it looks like a path: no spaces, a ``/``, and either a
    first component that is an entry of the repository's top level (``top_level``) or a file extension
    at the end; backticked paths are relative to the repository root. So ``1/K``, ``dL/db``,
    ``--width/--depth`` and ``hw1/`` are not paths; ``numpycnn/x.py`` and ``figures/a.json`` are. Not
    checked: absolute and ``./`` paths (the file system, the working folder) and templates — a
    component with ``<…>`` or written in capitals (``OUT/``, ``ROOT/source``, as argparse writes
    metavariables). A ``*`` is a glob, which must match something.
    """
    found = [(t.split("#")[0], "link") for t in LINK.findall(text)
             if "://" not in t and not t.startswith(("mailto:", "#"))]
    for token in BACKTICKED.findall(text):
        parts = token.rstrip("/").split("/")
        if ("/" not in token or not PATH_CHARS.fullmatch(token) or token.startswith(("/", "./", "~"))
                or any("<" in p or (p.isupper() and p.isalpha()) for p in parts)):
            continue
        if parts[0] in top_level or EXTENSION.search(parts[-1]):
            found.append((token, "backticks"))
    return found


def missing_paths(doc, text, top_level):
    """The paths ``text`` (of page ``doc``) names that do not exist, run-time outputs aside."""
    missing = []
    for path, how in paths_named(text, top_level):
        target = (doc.parent / path) if how == "link" else (ROOT / path)
        rel = os.path.relpath(target, ROOT).replace(os.sep, "/") + ("/" if path.endswith("/") else "")
        if any(rel.startswith(folder) for folder in RUN_TIME_OUTPUTS):
            continue
        exists = any(ROOT.glob(rel.rstrip("/"))) if "*" in rel else target.exists()
        if not exists:
            missing.append(f"{doc.relative_to(ROOT)}: {path} ({how})")
    return missing


def test_every_repository_path_the_readme_the_docs_and_the_tutorials_name_exists():
    """Regression (issue 32.4): docs named numpycnn/experiments/branch.py, optimizers.py and sparsity.py."""
    top_level = {p.name for p in ROOT.iterdir()}
    pages = [README, *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "tutorials").glob("*.py"))]
    missing = [m for doc in pages for m in missing_paths(doc, prose(doc), top_level)]
    assert missing == []


#: a sentence that promises a result on every machine (issue 32.3: "88.71 % … the same on every machine we ran it
#: on"): seeds fix the data order and the initial weights, not another CPU's BLAS rounding
EVERY_MACHINE = re.compile(r"\b(every|any|all|each) (machine|computer)s?\b", re.I)
SAME = re.compile(r"\b(same|identical|bit for bit|bit-identical|reproducible)\b", re.I)


def test_no_prose_promises_the_same_result_on_every_machine():
    """What is the same bit for bit, and on which machines, is stated once: docs/reliability.md, "Determinism"."""
    pages = [README, *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "tutorials").glob("*.py"))]
    promises = [f"{doc.relative_to(ROOT)}: {sentence.strip()}" for doc in pages
                for sentence in re.split(r"(?<=[.!?:;])\s+", " ".join(prose(doc).split()))
                if EVERY_MACHINE.search(sentence) and SAME.search(sentence)]
    assert promises == []


def test_the_path_rule_checks_paths_and_skips_maths_templates_and_run_time_outputs():
    text = ("`numpycnn/no_such.py` `figures/gone.json` `1/K` `dL/db` `--width/--depth` `hw1/` `OUT/x.md` "
            "`figures/<technique>.json` `runs/demo/` `/tmp/x.py` `numpycnn/*.nothing` `numpycnn/conv.py` "
            "[a](no_such.md) [b](https://e.org/x.md) [c](#anchor) [d](README.md#intro)\n```\n`docs/in_a_fence.md`\n```")
    top_level = {"numpycnn", "figures", "docs", "runs", "README.md"}
    found = paths_named(FENCE.sub("", text), top_level)
    assert [p for p, _ in found] == ["no_such.md", "README.md", "numpycnn/no_such.py", "figures/gone.json",
                                     "runs/demo/", "numpycnn/*.nothing", "numpycnn/conv.py"]
    missing = missing_paths(README, FENCE.sub("", text), top_level)
    assert missing == ["README.md: no_such.md (link)", "README.md: numpycnn/no_such.py (backticks)",
                       "README.md: figures/gone.json (backticks)", "README.md: numpycnn/*.nothing (backticks)"]


def test_every_run_time_output_folder_is_git_ignored():
    """The folders whose paths need not exist are outputs: never committed, so a clone never has them."""
    ignored = {line.strip() for line in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()}
    assert set(RUN_TIME_OUTPUTS) <= ignored


def test_sync_includes_replaces_only_the_block_and_is_idempotent(tmp_path):
    (tmp_path / "t.md").write_text("| a | b |\n|---|---|\n| 1 | 2 |\n")
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- BEGIN include t.md -->\nold\n<!-- END include t.md -->\noutro\n")
    assert sync_includes(readme) == ["t.md"]
    once = readme.read_text()
    assert once == "intro\n<!-- BEGIN include t.md -->\n| a | b |\n|---|---|\n| 1 | 2 |\n<!-- END include t.md -->\noutro\n"
    sync_includes(readme)
    assert readme.read_text() == once
