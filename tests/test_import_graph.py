"""The package's import graph, read from the source with ``ast``: no circles, no upward imports, imports at the top;
and no module longer than a reader can hold (:data:`MAX_LINES`).

The floors are stated here as data, from the ground up; a module may import from its own floor or
below, never above. Every ``import`` statement counts, wherever it stands in the file, so a circle
hidden inside a function is found too.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "numpycnn"

#: floor -> module names (a package name covers its submodules); ground floor first. Floors 1–9 are the
#: teaching library; the lab (``numpycnn.lab``: commands, experiments, course tools) stands above it.
FLOORS = [
    ["numpycnn.errors", "numpycnn.functional", "numpycnn.init"],                # no numpycnn imports
    ["numpycnn.validate", "numpycnn.storage", "numpycnn.im2col", "numpycnn.schedules", "numpycnn.augment",
     "numpycnn.threads"],                                                         # checks, files, the sliding windows, threads
    ["numpycnn.conv", "numpycnn.fast_conv", "numpycnn.pooling", "numpycnn.fast_pooling", "numpycnn.losses",
     "numpycnn.optim", "numpycnn.datasets"],                                      # functional cores, losses, data
    ["numpycnn.layer_base"],                                                     # the layer contract, the switch
    ["numpycnn.conv_layer", "numpycnn.pool_layers"],                             # Conv2D; the pooling layers
    ["numpycnn.layers", "numpycnn.normalization", "numpycnn.dropout", "numpycnn.residual",
     "numpycnn.gradcheck"],                                                       # layers; gradient checks
    ["numpycnn.model"],                                                          # the container, model files
    ["numpycnn.parallel"],                                                       # data-parallel training steps
    ["numpycnn.zoo", "numpycnn.export", "numpycnn.callbacks", "numpycnn.training", "numpycnn.plots",
     "numpycnn.predict", "numpycnn.interpret"],                                   # what uses models
    ["numpycnn.techniques"],                                                     # the five techniques
    ["numpycnn"],                                                                # the package's face
    # ---- the lab: never imported by the library (test_the_library_never_imports_the_lab) ----
    ["numpycnn.lab", "numpycnn.lab.results"],                                    # the lab's paths; reading results
    ["numpycnn.lab.builder", "numpycnn.lab.gradcheck_table"],                    # options -> model; the check table
    ["numpycnn.lab.experiments", "numpycnn.lab.assignment"],                     # experiments, course tools
    ["numpycnn.lab.commands", "numpycnn.lab.cli", "numpycnn.__main__"],          # the command line
]
LAB = "numpycnn.lab"
#: the one library module allowed to import the lab: the front door ``python -m numpycnn``
LAB_DOORS = ("numpycnn.__main__",)

#: imports allowed inside functions: an optional dependency (torch), a NumPy-version shim, and the two slow
#: imports that only drawing a figure or showing a progress bar needs (``import numpycnn`` stays light)
LOCAL_IMPORTS_ALLOWED = {"torch", "numpy._core.multiarray", "numpy.core.multiarray", "matplotlib.figure", "tqdm.auto",
                         "IPython.display", "jupytext", "nbformat", "nbclient", "sphinx.application",
                         "sphinx.util.console", "sphinx.util.docutils"}   # the book's tools: the docs extra
#: folders whose local imports belong to their owners' rewrite (the grader's checks, the experiments)
LOCAL_IMPORTS_NOT_CHECKED = ("numpycnn.lab.assignment", "numpycnn.lab.experiments")


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def floor_of(module):
    best = None
    for level, names in enumerate(FLOORS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and (best is None or len(name) > len(best[1])):
                best = (level, name)
    assert best is not None, f"{module} stands on no floor: add it to FLOORS"
    return best[0]


def imports(module):
    """``[(imported numpycnn module, line, inside a function)]`` of one module."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    local_lines = {n.lineno for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module
            # ``from pkg import sub`` imports the submodule pkg.sub when there is one
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for target in targets:
            found.append((target, node.lineno, node.lineno in local_lines))
    return found


def graph():
    edges = {}
    for module in MODULES:
        edges[module] = sorted({t for t, _, _ in imports(module) if t in MODULES and t != module})
    return edges


def test_every_module_stands_on_a_floor():
    for module in MODULES:
        floor_of(module)


def test_no_module_imports_from_a_higher_floor():
    upward = [f"{m} (floor {floor_of(m) + 1}) imports {t} (floor {floor_of(t) + 1})"
              for m, targets in graph().items() for t in targets if floor_of(t) > floor_of(m)]
    assert upward == []


def test_the_import_graph_has_no_circles():
    edges, state, circles = graph(), {}, []

    def visit(node, path):
        state[node] = "open"
        for nxt in edges[node]:
            if state.get(nxt) == "open":
                circles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for module in edges:
        if module not in state:
            visit(module, [module])
    assert circles == []


@pytest.mark.parametrize("module", [m for m in MODULES if not m.startswith(LOCAL_IMPORTS_NOT_CHECKED)])
def test_imports_stand_at_the_top_of_the_module(module):
    local = [f"line {line}: {target}" for target, line, inside in imports(module)
             if inside and target not in LOCAL_IMPORTS_ALLOWED]
    assert local == [], f"{module} hides imports inside functions"


def test_the_reader_resolves_relative_imports_to_the_modules_they_name():
    edges = graph()
    assert "numpycnn.im2col" in edges["numpycnn.conv"] and "numpycnn.fast_conv" in edges["numpycnn.conv_layer"]
    assert "numpycnn.conv_layer" in edges["numpycnn.layers"]
    assert "numpycnn.datasets.idx" in edges["numpycnn.datasets.discovery"]
    assert floor_of("numpycnn.techniques.collaborative") > floor_of("numpycnn.training")


def test_the_library_never_imports_the_lab():
    library = [m for m in MODULES if not (m == LAB or m.startswith(LAB + ".")) and m not in LAB_DOORS]
    crossing = [f"{m} imports {t}" for m in library for t, _, _ in imports(m) if t == LAB or t.startswith(LAB + ".")]
    assert crossing == []


def test_the_boundary_rule_sees_an_import_of_the_lab(tmp_path, monkeypatch):
    """The rule above reads real import statements: a library module importing the lab would be caught."""
    fake = tmp_path / "numpycnn" / "layers.py"
    fake.parent.mkdir()
    fake.write_text("from .lab import builder\nfrom .lab.experiments import protocol\n")
    monkeypatch.setitem(MODULES, "numpycnn.layers", fake)
    targets = [t for t, _, _ in imports("numpycnn.layers")]
    assert any(t.startswith(LAB) for t in targets)


#: the longest a module of the package may be: beyond it, split the module by job into rooms of their own
MAX_LINES = 600


def too_long(paths, limit=MAX_LINES):
    """``["path (N lines)"]`` for each file of ``paths`` longer than ``limit`` lines."""
    found = []
    for path in paths:
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > limit:
            found.append(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} ({n} lines)")
    return found


def test_no_module_of_the_package_is_longer_than_600_lines():
    assert too_long(MODULES.values()) == []


def test_the_length_rule_names_a_long_module_and_its_length(tmp_path):
    long = tmp_path / "long.py"
    long.write_text("x = 1\n" * (MAX_LINES + 1))
    short = tmp_path / "short.py"
    short.write_text("x = 1\n" * MAX_LINES)
    assert too_long([long, short]) == [f"{long} ({MAX_LINES + 1} lines)"]
