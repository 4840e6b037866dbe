"""Docstrings name only what exists: every repository path (``numpycnn/conv.py``, ``tests/...``, ``docs/...md``)
and every dotted name (``numpycnn.layers.Conv2D``, ``:meth:`Trainer.forward_backward```) written in a docstring
under ``numpycnn/``.

Read with ``ast`` (module, class and function docstrings); a path is looked up in the repository, a dotted
name is imported and followed attribute by attribute. A Sphinx role's target without the ``numpycnn.``
prefix (``:func:`windows```, ``:meth:`Trainer.fit```, ``:mod:`.fast_conv```) is looked up in the module the
docstring belongs to, then in the package it stands in, then among the package's modules.
"""
import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "numpycnn"

#: a repository path: a top-level folder, then at least one more part, ending in a file type the repository holds
PATH = re.compile(r"(?<![\w./-])((?:numpycnn|tests|docs|benchmarks|tutorials|figures|tools)/[\w./-]*\w"
                  r"\.(?:py|md|json|png|npz|txt|cfg|toml))(?![\w/])")
#: a dotted name of the package: ``numpycnn.x`` or longer
DOTTED = re.compile(r"(?<![\w./-])(numpycnn(?:\.\w+)+)")
#: a Sphinx cross-reference: ``:func:`name```, ``:class:`~numpycnn.x.Y```, ``:mod:`.sibling```
ROLE = re.compile(r":(?:func|meth|class|mod|data|attr|exc):`~?([\w.]+)`")


def docstrings(path):
    """``[(line, text, owner)]``: the module's docstring and those of its classes and functions; ``owner`` is
    the qualified name of the class a docstring stands in (``"Trainer"`` for ``Trainer.fit``'s), or ``""``."""
    found = []

    def visit(node, owner):
        text = ast.get_docstring(node, clean=False)
        if text:
            found.append((getattr(node, "lineno", 1), text, owner))
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{owner}.{child.name}".lstrip("."))
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, owner)

    visit(ast.parse(path.read_text(encoding="utf-8")), "")
    return found


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(dotted):
    """The object a dotted name ``numpycnn.a.b.C.m`` names, or None: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return None
            obj = getattr(obj, attr)
        return obj
    return None


def _package_modules():
    return [module_name(p) for p in sorted(PACKAGE.rglob("*.py"))]


def resolve_role(target, module, owner=""):
    """A role's target as Sphinx would find it from class ``owner`` of ``module``: absolute, relative (``.x``),
    in the class, the module, its package, or one of the package's modules by its last name
    (``:mod:`fast_conv```)."""
    if target.startswith("numpycnn."):
        return resolve(target) is not None
    if target.startswith("."):
        package = module if (PACKAGE / Path(*module.split(".")[1:]) / "__init__.py").exists() else \
            module.rpartition(".")[0]
        return resolve(package + target) is not None
    package = module.rpartition(".")[0]
    candidates = [f"{module}.{owner}" if owner else "", module, package] + _package_modules()
    if any(resolve(f"{base}.{target}") is not None for base in candidates if base):
        return True
    return any(m.endswith("." + target.split(".")[0]) and resolve(m + target[len(target.split(".")[0]):])
               for m in _package_modules())


def problems(module, text, line=1, owner=""):
    """What a docstring of ``module`` (in class ``owner``) names that does not exist, one sentence each."""
    found = []
    for path in PATH.findall(text):
        if not (ROOT / path).exists():
            found.append(f"{module} (line {line}): path {path} does not exist")
    for dotted in DOTTED.findall(text):
        if resolve(dotted) is None:
            found.append(f"{module} (line {line}): {dotted} does not exist")
    for target in ROLE.findall(text):
        if not resolve_role(target, module, owner):
            found.append(f"{module} (line {line}): the reference {target!r} names nothing")
    return found


def test_every_path_and_name_a_docstring_of_the_package_gives_exists():
    found = [p for path in sorted(PACKAGE.rglob("*.py")) for line, text, owner in docstrings(path)
             for p in problems(module_name(path), text, line, owner)]
    assert found == []


@pytest.mark.parametrize("planted, what", [
    ("The loops are in numpycnn/no_such_module.py.", "path numpycnn/no_such_module.py"),
    ("Checked by tests/test_no_such_file.py.", "path tests/test_no_such_file.py"),
    ("See docs/no_such_page.md.", "path docs/no_such_page.md"),
    ("Use numpycnn.layers.NoSuchLayer.", "numpycnn.layers.NoSuchLayer"),
    ("Use numpycnn.no_such_module.", "numpycnn.no_such_module"),
    ("Calls :func:`no_such_function`.", "'no_such_function'"),
    ("Calls :meth:`Conv2D.no_such_method`.", "'Conv2D.no_such_method'"),
])
def test_a_planted_wrong_path_or_name_is_reported(planted, what):
    found = problems("numpycnn.layers", f"A docstring.\n\n{planted}\n")
    assert len(found) == 1 and what in found[0], found


def test_paths_and_names_that_exist_are_not_reported():
    text = ("numpycnn/conv.py, tests/test_conv.py, docs/claims.md, numpycnn.layers.Conv2D.forward, "
            ":func:`use_implementation`, :meth:`Conv2D.forward`, :mod:`numpycnn.fast_conv`, "
            ":func:`~numpycnn.im2col.windows`, figures/<technique>.json")
    assert problems("numpycnn.layers", text) == []
