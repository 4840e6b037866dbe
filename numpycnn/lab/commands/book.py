"""``python -m numpycnn book [--fast] [--out DIR]`` — build the course book, a static web site.

The book is made of the repository's own files, nothing is copied by hand:

* the README (the home page), every ``docs/*.md`` page and ``benchmarks/*.md``;
* every ``tutorials/*.py`` (jupytext percent format), **executed** in a Jupyter kernel, with its
  printed output and figures inline; the executed notebook (``.ipynb`` with outputs) and the
  ``.py`` source are downloadable from the tutorial's page;
* one page per technique (A–E): its ``docs/<technique>.md`` followed by the results measured in
  this repository — the scorecard row (``figures/scorecard.md``), the comparisons of
  ``figures/<technique>.json``, the table ``figures/<technique>.md`` and every
  ``figures/<technique>_*.png`` that exists when the book is built ("not measured yet" otherwise).

How it is built (:func:`build_book`): the pages are staged in ``build/book/src`` (a Sphinx
project with the ``myst-nb`` extension and ``sphinx-book-theme``), the tutorials are executed
there with ``nbclient`` (once; Sphinx renders the stored outputs), and Sphinx writes the HTML.
Equations are rendered by MathJax 3, served from the site itself (copied from the
``sphinx-mathjax-offline`` package), so the book works without a network. Tutorials run as scripts
write their figures to PNG files; the book shows each PNG a tutorial saves right under the cell
that saves it (unless that cell displays the figure itself).

``--out`` must be a new or empty folder, or a book built before: a rebuild replaces only the book's own
entries (:data:`BOOK_OUTPUTS`), and a folder holding anything else is refused before anything runs.

Install the tools with ``pip install -e ".[docs]"``. ``--fast`` runs the tutorials in their fast
mode (``NUMPYCNN_FAST=1``: small data, seconds each), as CI does.
"""
import concurrent.futures
import copy
import html
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ... import __version__, techniques
from .. import REPO_ROOT
from ...validate import integer, number
from .figures import INCLUDE            # the include-block markers ``figures --readme-only`` refreshes
from .outputs import output_folder, remove_own

NAME = "book"
HELP = "build the course book: README, docs/ and every tutorial executed, as a static site (default site/)"

#: marks the outputs the book adds (a saved PNG shown inline) so they can be told from the tutorial's own
SAVED_FIGURE = "numpycnn-book-saved-figure"

#: runs first in every tutorial's kernel and is removed from the notebook afterwards
KERNEL_SETUP = f'''\
def _numpycnn_book_show_saved_pngs():
    """Show every PNG a figure is saved to, under the cell that saves it (the book's view of the file)."""
    import io, os
    from IPython.display import Image, display
    from matplotlib.figure import Figure
    savefig = Figure.savefig

    def savefig_and_show(fig, fname, *args, **kwargs):
        out = savefig(fig, fname, *args, **kwargs)
        fmt = kwargs.get("format") or (os.path.splitext(os.fspath(fname))[1][1:]
                                       if isinstance(fname, (str, os.PathLike)) else "")
        if str(fmt).lower() == "png":
            if isinstance(fname, io.BytesIO):
                data = fname.getvalue()
            else:
                with open(fname, "rb") as f:
                    data = f.read()
            display(Image(data=data, format="png"), metadata={{"{SAVED_FIGURE}": True}})
        return out

    Figure.savefig = savefig_and_show


_numpycnn_book_show_saved_pngs()
del _numpycnn_book_show_saved_pngs
'''

#: what a built book holds (Sphinx's HTML output and the executed notebooks): ``--out`` must be a new or empty
#: folder or one holding only these (anything else, and every dot-entry but ``.buildinfo``, is left alone)
#: what the book stages in its build folder (``--build-dir``); removed and rewritten at every build
BUILD_OUTPUTS = ("src", "doctrees")
BOOK_OUTPUTS = (".buildinfo", "_downloads", "_images", "_sources", "_static", "benchmarks", "docs",
                "notebooks", "tutorials", "genindex.html", "index.html", "search.html",
                "searchindex.js", "objects.inv")

MATHJAX_PARTS = ["tex-chtml.js", "input/tex", "output/chtml", "ui", "a11y"]

CONF_PY = '''\
# Sphinx configuration of the numpycnn course book; written by `python -m numpycnn book`.
project = "numpycnn"
author = "the numpycnn authors"
release = version = {version!r}
html_title = "numpycnn course book"
extensions = ["myst_nb", "sphinx.ext.mathjax"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
nb_execution_mode = "off"            # the tutorials were executed by the book command, once
nb_merge_streams = True
exclude_patterns = ["_build", "notebooks/**", "figures/**", "**.ipynb_checkpoints"]
html_theme = "sphinx_book_theme"
html_theme_options = {{"home_page_in_toc": True, "use_download_button": True, "show_toc_level": 2}}
html_static_path = ["_static"]
mathjax_path = "mathjax/tex-chtml.js"   # served from the site: no network needed
html_sourcelink_suffix = ""
html_last_updated_fmt = None
suppress_warnings = ["myst.header", "misc.highlighting_failure"]
'''


@dataclass
class BookResult:
    """What :func:`build_book` made: the site folder, its pages and the build's warnings."""
    out: Path
    index: Path
    tutorials: dict = field(default_factory=dict)      # tutorial name -> (page html, notebook .ipynb)
    techniques: dict = field(default_factory=dict)     # technique name -> page html
    warnings: list = field(default_factory=list)
    seconds: float = 0.0

    @classmethod
    def of(cls, out, tutorial_names, warnings=()):
        """The pages of the site built in ``out`` (by :func:`build_book` or ``python -m numpycnn book``)."""
        out = Path(out)
        result = cls(out=out, index=out / "index.html", warnings=list(warnings))
        for n in tutorial_names:
            result.tutorials[n] = (out / "tutorials" / f"{n}.html", _download(out, f"{n}.ipynb"))
        for name in techniques.names():
            result.techniques[name] = out / "docs" / f"{name}.html"
        return result


def add_arguments(p):
    p.add_argument("--fast", action="store_true",
                   help="execute the tutorials in fast mode (NUMPYCNN_FAST=1: small data, seconds each), as CI does")
    p.add_argument("--out", default="site", help="folder of the built site (default site/, git-ignored)")
    p.add_argument("--root", default=None,
                   help="the repository to build from (default: the clone this numpycnn was imported from)")
    p.add_argument("--jobs", type=int, default=1, help="tutorials executed at the same time (default 1)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds allowed per notebook cell (default 600 in fast mode, 3600 otherwise)")
    p.add_argument("--build-dir", default=None,
                   help="where the Sphinx project is staged (default build/book in the repository, git-ignored)")


def run(args):
    jobs = integer(args.jobs, "--jobs", "book")
    if args.timeout is not None:
        number(args.timeout, "--timeout", "book", low=0, low_open=True, meaning="seconds per notebook cell")
    result = build_book(args.root, args.out, fast=args.fast, jobs=jobs, timeout=args.timeout,
                        build_dir=args.build_dir)
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"built the course book in {result.seconds:.0f} s: open {result.index}")
    print(f"{len(result.tutorials)} tutorials executed ({'fast' if args.fast else 'full'} mode), their notebooks in "
          f"{result.out / 'notebooks'}")
    return 0


# -- finding the sources -------------------------------------------------------------------
def repository_root(root=None):
    """The folder holding README.md, docs/ and tutorials/ (default: the clone this package lives in)."""
    candidates = [Path(root)] if root else [REPO_ROOT, Path.cwd()]
    for c in candidates:
        if (c / "README.md").is_file() and (c / "tutorials").is_dir():
            return c.resolve()
    if root:
        raise FileNotFoundError(f"book: --root (root) {root} holds no README.md and tutorials/; expected a clone of "
                                f"the numpycnn repository")
    raise FileNotFoundError(f"book: no README.md and tutorials/ in {', '.join(str(c) for c in candidates)}; "
                            f"build the book from a clone of the repository (or pass --root DIR)")


def tutorials_of(root):
    """Every ``tutorials/*.py``, in file-name order (new tutorials are picked up without editing this)."""
    return sorted(Path(root, "tutorials").glob("*.py"))


# -- markdown staging -----------------------------------------------------------------------
LINK = re.compile(r"(\]\()([^)\s#]+?)(#[^)\s]*)?(\))")


def rewrite_links(text, page_dir):
    """Point links to ``tutorials/<name>.py`` at the tutorial's page (``.ipynb``) of the book.

    ``page_dir`` is the page's folder relative to the repository root (``""`` for the README).
    Every other relative link already resolves, because the book keeps the repository's layout.
    """
    def repl(m):
        target = m.group(2)
        if "://" in target or target.startswith("mailto:"):
            return m.group(0)
        resolved = os.path.normpath(os.path.join(page_dir, target))
        if resolved.startswith("tutorials" + os.sep) and resolved.endswith(".py"):
            target = target[:-3] + ".ipynb"
        return f"{m.group(1)}{target}{m.group(3) or ''}{m.group(4)}"
    return LINK.sub(repl, text)


def _fmt(v):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_fmt(x)}" for k, x in v.items())
    return str(v).replace("|", "\\|").replace("\n", " ")


def scorecard_rows(scorecard_md, technique, title):
    """The header and the rows of the scorecard table that name ``technique`` (or ``""`` if none do)."""
    lines = [l for l in scorecard_md.splitlines() if l.strip().startswith("|")]
    if len(lines) < 3:
        return ""
    keys = {technique.lower(), technique.replace("_", " ").lower(), title.lower()}
    rows = [l for l in lines[2:] if any(k in l.lower() for k in keys)]
    return "\n".join(lines[:2] + rows) if rows else ""


def comparisons_table(data):
    """Markdown table of a ``figures/<technique>.json``'s comparisons (claim, arms, paired difference, verdict)."""
    rows = ["| claim | arm | baseline | mean difference | 95 % CI | claimed effect | verdict | source |",
            "|---|---|---|---|---|---|---|---|"]
    for c in data.get("comparisons") or []:
        rows.append("| " + " | ".join(_fmt(c.get(k)) for k in ("claim", "arm", "baseline", "mean_diff", "ci95",
                                                                   "claimed_effect", "verdict", "source")) + " |")
    return "\n".join(rows) if len(rows) > 2 else ""


READING = ("How a comparison is read: for each seed $s$ the technique's arm and its baseline start from the same "
           "weights and see the data in the same order; the mean difference is "
           "$\\bar d = \\frac{1}{S}\\sum_{s=1}^{S} (a_s - b_s)$ over the $S$ seeds, its 95 % confidence interval "
           "is that of the paired differences $a_s - b_s$, and the verdict is read from the interval.")


def technique_results(root, record, table_in_page=False):
    """Markdown of the "Results in this repository" section of a technique's page.

    ``record``: the technique's :class:`~numpycnn.techniques.technique.Technique`. ``table_in_page``: the page
    already includes ``figures/<technique>.md`` (an include block), so the section adds the scorecard row and the figures but not the measured tables a second time.
    """
    technique = record.name
    figures = Path(root, "figures")
    parts = ["## Results in this repository", "", READING, ""]
    found = False
    scorecard = figures / "scorecard.md"
    if scorecard.is_file():
        rows = scorecard_rows(scorecard.read_text(encoding="utf-8"), technique, record.title)
        if rows:
            parts += ["**Scorecard row** (from `figures/scorecard.md`, the README's table):", "", rows, ""]
            found = True
    js = figures / f"{technique}.json"
    if js.is_file() and table_in_page:
        found = True
        parts += [f"The measured tables are in the page above (`figures/{technique}.md`, from "
                  f"`figures/{technique}.json`).", ""]
    elif js.is_file():
        found = True
        try:
            data = json.loads(js.read_text(encoding="utf-8"))
        except ValueError as e:
            parts += [f"`figures/{technique}.json` could not be read ({e}).", ""]
        else:
            said = []
            if data.get("command"):
                said.append(f"command `{data['command']}`")
            if data.get("commit"):
                said.append(f"commit `{str(data['commit'])[:12]}`")
            if data.get("wall_minutes") is not None:
                said.append(f"{_fmt(data['wall_minutes'])} min of wall time")
            if said:
                parts += ["Measured by " + ", ".join(said) + f" (`figures/{technique}.json`).", ""]
            if data.get("arms"):
                arms = data["arms"]
                names = arms.keys() if isinstance(arms, dict) else [a.get("name", a) if isinstance(a, dict) else a
                                                                     for a in arms]
                parts += ["Arms: " + ", ".join(f"`{_fmt(n)}`" for n in names) + ".", ""]
            table = comparisons_table(data)
            if table:
                parts += [table, ""]
    md = figures / f"{technique}.md"
    if md.is_file() and not table_in_page:
        found = True
        parts += [md.read_text(encoding="utf-8").strip(), ""]
    pngs = sorted(figures.glob(f"{technique}_*.png")) + ([figures / f"{technique}.png"]
                                                          if (figures / f"{technique}.png").is_file() else [])
    for png in pngs:
        found = True
        parts += [f"![{png.stem.replace('_', ' ')}](../figures/{png.name})", ""]
    if not found:
        parts += [f"Not measured yet: no `figures/{technique}.json`, `figures/{technique}.md` or "
                  f"`figures/{technique}_*.png` existed when this book was built. The technique's experiment "
                  f"(`python -m numpycnn compare ...`, see the README) writes them; rebuild the book afterwards.", ""]
    return "\n".join(parts)


def _has_title(path):
    """True if the markdown file starts with a level-1 heading (a page, not a fragment included elsewhere)."""
    first = next((l for l in path.read_text(encoding="utf-8").splitlines() if l.strip()), "")
    return first.startswith("# ")


def _toctree(caption, entries):
    if not entries:
        return ""
    return "\n".join(["", "```{toctree}", f":caption: {caption}", ":hidden:", ":maxdepth: 1", "", *entries, "```", ""])


def stage_pages(root, src, tutorial_names):
    """Copy README (as index.md), docs/, benchmarks/*.md and figures/ into ``src``; add the technique results."""
    root, src = Path(root), Path(src)
    technique_names = techniques.names()
    docs = [p for p in sorted(Path(root, "docs").glob("*.md")) if _has_title(p)]   # not included fragments
    for page in docs:
        text = rewrite_links(page.read_text(encoding="utf-8"), "docs")
        entry = next((t for t in techniques.TECHNIQUES if t.name == page.stem), None)
        if entry:
            shown = f"figures/{page.stem}.md" in {m.group("path") for m in INCLUDE.finditer(text)}
            text = text.rstrip() + "\n\n" + technique_results(root, entry, table_in_page=shown)
        (src / "docs").mkdir(parents=True, exist_ok=True)
        (src / "docs" / page.name).write_text(text, encoding="utf-8")
    (src / "docs").mkdir(parents=True, exist_ok=True)
    for t in techniques.TECHNIQUES:     # a technique without a docs page still gets its page
        if not (src / "docs" / f"{t.name}.md").exists():
            (src / "docs" / f"{t.name}.md").write_text(
                f"# Technique {t.letter} — {t.title}\n\n" + technique_results(root, t), encoding="utf-8")
    bench = [p for p in sorted(Path(root, "benchmarks").glob("*.md")) if _has_title(p)]   # not included fragments
    for page in bench:
        (src / "benchmarks").mkdir(parents=True, exist_ok=True)
        (src / "benchmarks" / page.name).write_text(rewrite_links(page.read_text(encoding="utf-8"), "benchmarks"),
                                                    encoding="utf-8")
    if Path(root, "figures").is_dir():
        shutil.copytree(Path(root, "figures"), src / "figures", dirs_exist_ok=True)
    index = rewrite_links(Path(root, "README.md").read_text(encoding="utf-8"), "")
    index += _toctree("Tutorials", [f"tutorials/{n}" for n in tutorial_names])
    index += _toctree("The techniques", [f"docs/{t}" for t in technique_names])
    index += _toctree("Guides", [f"docs/{p.stem}" for p in docs if p.stem not in technique_names])
    index += _toctree("Performance", [f"benchmarks/{p.stem}" for p in bench])
    (src / "index.md").write_text(index, encoding="utf-8")


# -- the tutorials, executed ----------------------------------------------------------------
def _kernel_env(root, fast):
    env = dict(os.environ)
    env["NUMPYCNN_FAST"] = "1" if fast else "0"
    env["PYTHONPATH"] = os.pathsep.join([str(root)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.pop("MPLBACKEND", None)        # the kernel's own (inline) backend; the tutorials choose theirs
    return env


def drop_duplicate_saved_figures(nb):
    """Remove the book's saved-PNG outputs from cells that display a figure of their own."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = cell.get("outputs", [])
        own = [o for o in outputs if "image/png" in o.get("data", {}) and not o.get("metadata", {}).get(SAVED_FIGURE)]
        if own:
            cell.outputs = [o for o in outputs if not o.get("metadata", {}).get(SAVED_FIGURE)]
    return nb


def execute_tutorial(path, root, fast, timeout):
    """Run one tutorial in a fresh kernel (working directory: a new temporary folder); returns the notebook."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient
    nb = jupytext.read(path, fmt="py:percent")
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells.insert(0, nbformat.v4.new_code_cell(KERNEL_SETUP))
    with tempfile.TemporaryDirectory(prefix="numpycnn-book-") as cwd:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False,
                                resources={"metadata": {"path": cwd}})
        client.km = client.create_kernel_manager()
        client.km.transport = "ipc"              # socket files in cwd: the kernel listens on no network port
        client.km.ip = os.path.join(cwd, "kernel")
        client.execute(cwd=cwd, env=_kernel_env(root, fast))
    nb.cells.pop(0)
    drop_duplicate_saved_figures(nb)
    nb.nbformat, nb.nbformat_minor = 4, 5
    for i, cell in enumerate(nb.cells):          # stable ids: the same tutorial gives the same notebook
        cell["id"] = f"cell-{i}"
    nbformat.validate(nb)
    return nb


def _execute_to_file(path, root, fast, timeout, dest):
    import nbformat
    t0 = time.perf_counter()
    nb = execute_tutorial(path, root, fast, timeout)
    nbformat.write(nb, dest)
    return time.perf_counter() - t0


def tutorial_page(nb, name, fast):
    """The tutorial's page: the executed notebook with a first cell linking its downloads."""
    import nbformat
    page = copy.deepcopy(nb)
    mode = ("fast mode (`NUMPYCNN_FAST=1`: small data; run it yourself for the full numbers)" if fast
            else "full mode")
    note = (":::{note}\n"
            f"This page is `tutorials/{name}.py`, executed in {mode} when the book was built. Download it as "
            f"{{download}}`a notebook with these outputs <../notebooks/{name}.ipynb>` or as "
            f"{{download}}`the jupytext source <../notebooks/{name}.py>` (runs with plain `python`).\n:::")
    cell = nbformat.v4.new_markdown_cell(note)
    cell["id"] = "numpycnn-book-downloads"
    first_md = next((i for i, c in enumerate(page.cells) if c.cell_type == "markdown"), None)
    page.cells.insert(1 if first_md == 0 else 0, cell)        # below the tutorial's title
    return page


def execute_tutorials(root, src, fast, timeout, jobs=1):
    """Execute every tutorial into ``src/notebooks/NAME.ipynb`` and stage its page ``src/tutorials/NAME.ipynb``."""
    import nbformat
    paths = tutorials_of(root)
    (src / "notebooks").mkdir(parents=True, exist_ok=True)
    (src / "tutorials").mkdir(parents=True, exist_ok=True)
    failures = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(_execute_to_file, p, root, fast, timeout, src / "notebooks" / f"{p.stem}.ipynb"): p
                   for p in paths}
        for fut in concurrent.futures.as_completed(futures):
            try:
                fut.result()
            except Exception as e:     # noqa: BLE001 — reported with the tutorial's name below
                failures.append(f"{futures[fut].name}: {type(e).__name__}: {e}")
    if failures:
        raise RuntimeError("book: tutorials failed to execute:\n" + "\n".join(failures))
    for p in paths:
        shutil.copy2(p, src / "notebooks" / p.name)
        nb = nbformat.read(src / "notebooks" / f"{p.stem}.ipynb", as_version=4)
        nbformat.write(tutorial_page(nb, p.stem, fast), src / "tutorials" / f"{p.stem}.ipynb")
    return [p.stem for p in paths]


# -- MathJax, served by the site ------------------------------------------------------------
def stage_mathjax(static):
    """Copy MathJax 3 (TeX input, CommonHTML output and its fonts) into ``static/mathjax``."""
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("book: the docs extra is not installed (sphinx-mathjax-offline ships MathJax); "
                                  "run: pip install -e \".[docs]\"")
    mathjax = Path(list(spec.submodule_search_locations)[0], "static", "mathjax")
    for part in MATHJAX_PARTS:
        source, dest = mathjax / part, Path(static, "mathjax", part)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, dest, dirs_exist_ok=True)
        else:
            shutil.copy2(source, dest)


# -- the build ------------------------------------------------------------------------------
def build_book(root=None, out="site", fast=False, jobs=1, timeout=None, build_dir=None):
    """Build the course book into ``out``; returns a :class:`BookResult`.

    Parameters
    ----------
    root : path or None
        The repository (README.md, docs/, tutorials/, figures/); default :func:`repository_root`.
    out : path
        Folder of the site: new, empty, or a book built before (its pages are replaced; a folder holding anything
        else is refused, see :data:`BOOK_OUTPUTS`). Open ``out/index.html``.
    fast : bool
        Execute the tutorials with ``NUMPYCNN_FAST=1``.
    jobs : int
        Tutorials executed at the same time (each in its own kernel).
    timeout : float or None
        Seconds per cell (default 600 fast, 3600 full).
    build_dir : path or None
        Where the Sphinx project is staged (default ``<root>/build/book``; replaced).

    Raises
    ------
    RuntimeError
        A tutorial raised (its name and error are given) or Sphinx failed.
    """
    root = repository_root(root)                # the arguments first: a wrong folder is named before anything runs
    output_folder(out, "--out", "book", BOOK_OUTPUTS, "a course book built before")
    if build_dir is not None:               # a folder the user named: staged pages and doctrees only
        output_folder(build_dir, "--build-dir", "book", BUILD_OUTPUTS, "the book's staging folder")
    missing = [m for m in ("sphinx", "myst_nb", "sphinx_book_theme", "jupytext", "nbclient", "ipykernel")
               if importlib.util.find_spec(m) is None]
    if missing:
        raise ModuleNotFoundError(f"book: {', '.join(missing)} missing; install the docs extra: "
                                  f"pip install -e \".[docs]\"")
    from sphinx.application import Sphinx
    from sphinx.util.console import nocolor
    from sphinx.util.docutils import docutils_namespace
    t0 = time.perf_counter()
    out = Path(out).resolve()
    build = Path(build_dir).resolve() if build_dir else root / "build" / "book"
    timeout = timeout or (600 if fast else 3600)
    src = build / "src"
    remove_own(build, BUILD_OUTPUTS)            # the previous build's staging; nothing else there is touched
    remove_own(out, BOOK_OUTPUTS)               # the previous book's pages; nothing else in ``out`` is touched
    src.mkdir(parents=True)
    names = execute_tutorials(root, src, fast, timeout, jobs)
    stage_pages(root, src, names)
    stage_mathjax(src / "_static")
    (src / "conf.py").write_text(CONF_PY.format(version=__version__), encoding="utf-8")
    warnings = _WarningLog()
    nocolor()
    with docutils_namespace():
        app = Sphinx(str(src), str(src), str(out), str(build / "doctrees"), "html", status=None, warning=warnings,
                     freshenv=True, verbosity=0)
        app.build(force_all=True)
    if app.statuscode:
        raise RuntimeError("book: Sphinx failed:\n" + "\n".join(warnings.lines))
    result = BookResult.of(out, names, warnings.lines)
    notebooks = out / "notebooks"             # a stable address for every executed notebook, too
    notebooks.mkdir(exist_ok=True)
    for n in names:
        shutil.copy2(src / "notebooks" / f"{n}.ipynb", notebooks / f"{n}.ipynb")
    result.seconds = time.perf_counter() - t0
    return result


def _download(out, filename):
    hits = sorted(Path(out, "_downloads").glob(f"*/{filename}"))
    return hits[0] if hits else None


class _WarningLog:
    """A file-like sink for Sphinx's warnings that keeps them as lines."""

    def __init__(self):
        self.lines = []
        self._partial = ""

    def write(self, text):
        text = self._partial + text
        *done, self._partial = text.split("\n")
        self.lines += [html.unescape(l) for l in done if l.strip()]

    def flush(self):
        pass
