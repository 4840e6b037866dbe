"""The lab: what is built *around* the library — commands, experiments, the course's tools.

``numpycnn/`` outside this folder is the teaching library: the kernels, layers, losses, optimizers,
the model, the training loop and the five techniques — what a student reads and what trains.
``numpycnn/lab/`` is everything else the project ships:

* :mod:`~numpycnn.lab.cli` and :mod:`~numpycnn.lab.commands` — ``python -m numpycnn`` and its sub-commands;
* :mod:`~numpycnn.lab.builder` — command-line options in, a model, optimizer and trainer out;
* :mod:`~numpycnn.lab.experiments` — the reproduction protocol and each technique's experiment
  (``python -m numpycnn compare NAME``);
* :mod:`~numpycnn.lab.assignment` — student copies, the autograder, Gradescope packaging, the guide;
* :mod:`~numpycnn.lab.results` — reading the experiments' JSON for tutorials and docs;
* :mod:`~numpycnn.lab.gradcheck_table` — the gradient-check table of ``python -m numpycnn gradcheck``.

The rule, checked by ``tests/test_import_graph.py``: **the library never imports the lab** (the one
door is ``numpycnn/__main__.py``, which runs the command line). The lab imports the library freely.
"""
from pathlib import Path

#: the library's package folder (``numpycnn/``) and the repository root above it
PACKAGE_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = PACKAGE_DIR.parent
