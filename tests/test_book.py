"""The course book (``python -m numpycnn book``): built once per session in fast mode through the real command
line, checked as HTML and, where Chromium is installed, in a real headless browser."""
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from numpycnn.lab.commands import book

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("*.py"))


def _docs_extra_missing():
    import importlib.util
    return [m for m in ("sphinx", "myst_nb", "nbclient", "ipykernel", "sphinx_book_theme", "sphinx-mathjax-offline")
            if importlib.util.find_spec(m) is None]


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """The fast book of this repository, built once through the real command line (about a minute on 2 cores):
    ``(the finished process, the site folder)``."""
    missing = _docs_extra_missing()
    if missing:
        pytest.skip(f"the docs extra is not installed ({', '.join(missing)} missing): pip install -e \".[docs]\"")
    base = tmp_path_factory.mktemp("book")
    proc = subprocess.run([sys.executable, "-m", "numpycnn", "book", "--fast", "--out", str(base / "site"),
                           "--jobs", "2", "--build-dir", str(base / "build")],
                          cwd=base, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                          timeout=1800)
    return proc, base / "site"


@pytest.fixture(scope="session")
def site(built):
    """The pages of that book (:class:`numpycnn.lab.commands.book.BookResult`)."""
    proc, out = built
    assert proc.returncode == 0, proc.stderr[-3000:]
    return book.BookResult.of(out, [p.stem for p in TUTORIALS])


def test_python_dash_m_numpycnn_book_fast_builds_the_site_from_the_command_line(built):
    proc, out = built
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "built the course book" in proc.stdout and str(out / "index.html") in proc.stdout
    assert (out / "index.html").is_file()
    assert sorted(p.stem for p in (out / "notebooks").glob("*.ipynb")) == [p.stem for p in TUTORIALS]


class _Page(HTMLParser):
    """The title, the images, the local links and any external resources of one HTML page."""

    def __init__(self):
        super().__init__()
        self.title, self.images, self.links, self.external, self._in_title = "", [], [], [], False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "title":
            self._in_title = True
        if tag == "img" and a.get("src"):
            self.images.append(a["src"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        url = a.get("src") if tag in ("img", "script") else a.get("href") if tag == "link" else None
        if url and (url.startswith(("http://", "https://", "//"))):
            self.external.append(url)

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def _parse(path):
    page = _Page()
    page.feed(Path(path).read_text(encoding="utf-8"))
    return page


def _local(page_path, url):
    """The file a relative URL of ``page_path`` points to (None for external links and anchors)."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not parts.path:
        return None
    return (Path(page_path).parent / unquote(parts.path)).resolve()


# -- HTML-level checks (always run with the docs extra) -------------------------------------
def test_every_tutorial_has_a_page_and_a_downloadable_executed_notebook(site):
    import nbformat
    assert sorted(site.tutorials) == [p.stem for p in TUTORIALS] and TUTORIALS
    for name, (page, notebook) in site.tutorials.items():
        assert page.is_file(), f"no page for tutorial {name}"
        assert notebook is not None and notebook.is_file(), f"tutorial {name}: no downloadable notebook"
        hrefs = [_local(page, h) for h in _parse(page).links]
        assert notebook.resolve() in hrefs, f"tutorial {name}: its page does not link its notebook"
        nb = nbformat.read(notebook, as_version=4)
        nbformat.validate(nb)
        assert sum(len(c.get("outputs", [])) for c in nb.cells if c.cell_type == "code") > 0, \
            f"tutorial {name}: the notebook has no outputs"
        assert not any("numpycnn_book_show_saved_pngs" in c.source for c in nb.cells), \
            f"tutorial {name}: the book's kernel setup cell was left in the notebook"


def test_every_image_a_page_references_exists(site):
    pages = sorted(site.out.rglob("*.html"))
    missing = [(str(p.relative_to(site.out)), src) for p in pages for src in _parse(p).images
               if _local(p, src) is not None and not _local(p, src).is_file()]
    assert missing == []


def test_tutorial_pages_show_the_figures_the_tutorials_save(site):
    with_figures = [n for n, (page, _) in site.tutorials.items()
                    if any("_images/" in src for src in _parse(page).images)]
    assert "01_convolution_by_hand" in with_figures, with_figures
    assert len(with_figures) >= len(site.tutorials) // 2, with_figures


def test_pages_load_nothing_from_the_network(site):
    external = {str(p.relative_to(site.out)): _parse(p).external for p in site.out.rglob("*.html")}
    assert {k: v for k, v in external.items() if v} == {}
    assert (site.out / "_static" / "mathjax" / "tex-chtml.js").is_file()


def test_every_technique_has_a_page_with_results_or_not_measured_yet(site):
    for _, technique, _ in book.TECHNIQUES:
        page = site.techniques[technique]
        assert page.is_file(), technique
        text = page.read_text(encoding="utf-8")
        assert "Results in this repository" in text, technique
        measured = any((ROOT / "figures").glob(f"{technique}*"))
        assert measured or "Not measured yet" in text, technique


def test_readme_links_to_tutorials_point_at_their_book_pages(site):
    hrefs = {_local(site.index, h) for h in _parse(site.index).links}
    for name in site.tutorials:
        if f"tutorials/{name}.py" in (ROOT / "README.md").read_text(encoding="utf-8"):
            assert (site.out / "tutorials" / f"{name}.html").resolve() in hrefs, name


# -- the staging functions, on made-up inputs -------------------------------------------------
def test_rewrite_links_sends_tutorial_sources_to_their_pages_and_leaves_other_links():
    text = "[t](tutorials/01_a.py) [u](../tutorials/02_b.py#x) [d](docs/x.md) [w](https://e.org/a.py)"
    assert book.rewrite_links(text, "") == ("[t](tutorials/01_a.ipynb) [u](../tutorials/02_b.py#x) [d](docs/x.md) "
                                            "[w](https://e.org/a.py)")
    assert book.rewrite_links("[u](../tutorials/02_b.py#x)", "docs") == "[u](../tutorials/02_b.ipynb#x)"


def test_technique_results_show_scorecard_row_comparisons_table_and_figures(tmp_path):
    figures = tmp_path / "figures"
    figures.mkdir()
    (figures / "scorecard.md").write_text("| technique | verdict |\n|---|---|\n| A — branch supervision | holds |\n"
                                          "| B — gradient direction | refuted |\n")
    (figures / "branch_supervision.json").write_text(json.dumps({
        "technique": "branch_supervision", "command": "python -m numpycnn compare branch", "commit": "abc123def4567",
        "wall_minutes": 12.5, "arms": ["plain", "branch"],
        "comparisons": [{"claim": "faster", "arm": "branch", "baseline": "plain", "mean_diff": 0.01234,
                         "ci95": [0.001, 0.02], "claimed_effect": 0.05, "source": "patent", "verdict": "holds"}]}))
    (figures / "branch_supervision.md").write_text("**Caption.** the table")
    (figures / "branch_supervision_curves.png").write_bytes(b"png")
    md = book.technique_results(tmp_path, "branch_supervision", "A", "Branch supervision")
    assert "| A — branch supervision | holds |" in md and "gradient direction" not in md
    assert "| faster | branch | plain | 0.0123 | [0.001, 0.02] | 0.05 | holds | patent |" in md
    assert "`python -m numpycnn compare branch`" in md and "`abc123def456`" in md and "12.5 min" in md
    assert "**Caption.** the table" in md and "](../figures/branch_supervision_curves.png)" in md
    assert "Not measured yet" not in md
    empty = book.technique_results(tmp_path, "collaborative", "D", "Collaborative training")
    assert "Not measured yet" in empty
    in_page = book.technique_results(tmp_path, "branch_supervision", "A", "Branch supervision", table_in_page=True)
    assert "**Caption.** the table" not in in_page and "| faster | branch |" not in in_page   # not twice
    assert "| A — branch supervision | holds |" in in_page and "branch_supervision_curves.png" in in_page


def test_saved_figure_outputs_are_dropped_where_the_cell_shows_its_own_figure():
    import nbformat
    saved = nbformat.v4.new_output("display_data", data={"image/png": "AAAA"}, metadata={book.SAVED_FIGURE: True})
    own = nbformat.v4.new_output("display_data", data={"image/png": "BBBB"})
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("a", outputs=[saved, own]),
                                         nbformat.v4.new_code_cell("b", outputs=[saved])])
    book.drop_duplicate_saved_figures(nb)
    assert nb.cells[0].outputs == [own] and nb.cells[1].outputs == [saved]


# -- in a real browser -------------------------------------------------------------------------
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)

#: appended to a page served with ?probe: once the page (and MathJax, if the page uses it) has finished,
#: writes what rendered into <pre id="numpycnn-probe">, which --dump-dom then prints
PROBE = """<script>
(function () {
  function report(extra) {
    var imgs = Array.prototype.slice.call(document.images);
    var r = {
      title: document.title,
      h1: (document.querySelector("h1") || {textContent: ""}).textContent,
      figures_loaded: imgs.filter(function (i) {
        return /_images\\//.test(i.getAttribute("src") || "") && i.complete && i.naturalWidth > 0 && i.naturalHeight > 0;
      }).length,
      broken: imgs.filter(function (i) { return i.complete && i.naturalWidth === 0; })
                  .map(function (i) { return i.getAttribute("src"); }),
      mathjax: !!(window.MathJax && window.MathJax.version),
      math: document.querySelectorAll("mjx-container").length,
      math_errors: document.querySelectorAll("mjx-merror, .MathJax_Error, .katex-error").length,
      error_text: /Math input error|Math Processing Error|ParseError: KaTeX/.test(document.body.innerText)
    };
    for (var k in extra) { r[k] = extra[k]; }
    var pre = document.createElement("pre");
    pre.id = "numpycnn-probe";
    pre.textContent = JSON.stringify(r);
    document.body.appendChild(pre);
  }
  window.addEventListener("load", function () {
    if (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise) {
      window.MathJax.startup.promise.then(function () { report({}); },
                                          function (e) { report({mathjax_failed: String(e)}); });
    } else {
      report({});
    }
  });
})();
</script>"""


class _ProbeHandler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        parts = urlsplit(self.path)
        if parts.query == "probe" and parts.path.endswith(".html"):
            path = Path(self.directory) / unquote(parts.path).lstrip("/")
            body = path.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(site):
    """The site served on 127.0.0.1 (a free port) while the browser tests run."""
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium): the browser checks are skipped; "
                    "the HTML-level checks above still ran")
    handler = functools.partial(_ProbeHandler, directory=str(site.out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _chromium(*args):
    with tempfile.TemporaryDirectory(prefix="numpycnn-chromium-") as profile:
        proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                               "--disable-background-networking", "--disable-component-update", "--disable-sync",
                               f"--user-data-dir={profile}", "--window-size=1280,1600", *args],
                              capture_output=True, text=True, timeout=120)
    return proc


def _rendered(url):
    proc = _chromium("--virtual-time-budget=20000", "--dump-dom", url + "?probe")
    m = re.search(r'<pre id="numpycnn-probe"[^>]*>(.*?)</pre>', proc.stdout, re.S)
    assert m, f"the page did not finish loading in Chromium: {proc.stderr[-1500:]}"
    import html
    return json.loads(html.unescape(m.group(1)))


def _screenshot(url, path):
    proc = _chromium("--virtual-time-budget=20000", f"--screenshot={path}", url)
    assert Path(path).is_file(), proc.stderr[-1500:]
    import matplotlib.image
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100 and pixels.std() > 0.01, "the screenshot is blank"


@pytest.mark.parametrize("page", ["index.html", "tutorials/01_convolution_by_hand.html",
                                  "docs/gradient_direction.html"])
def test_page_renders_in_headless_chromium(served, site, page, tmp_path):
    url = f"{served}/{page}"
    _screenshot(url, tmp_path / "page.png")
    r = _rendered(url)
    assert "numpycnn" in r["title"] and r["h1"].strip(), r
    assert r["broken"] == [], r
    assert r["math_errors"] == 0 and not r["error_text"] and "mathjax_failed" not in r, r
    if page.startswith("tutorials/"):
        assert r["figures_loaded"] >= 1, r
    if page.startswith("docs/"):                      # a technique page: its equations are typeset by MathJax
        assert r["mathjax"] and r["math"] >= 1, r
