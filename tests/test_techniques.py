"""The registry of techniques: one record per technique, and everything that lists the techniques reads it —
so a sixth technique is one record (plus its modules), picked up by compare, the scorecard, the book and
the builder without another edit."""
import dataclasses
import importlib
import json
import re
import sys
import types
from pathlib import Path

import pytest

from numpycnn import techniques
from numpycnn.callbacks import Callback
from numpycnn.datasets import load_dataset
from numpycnn.lab import builder
from numpycnn.lab.commands import COMMANDS, book, compare
from numpycnn.lab.experiments import protocol
from numpycnn.lab.results import load_result
from numpycnn.techniques import Technique

ROOT = Path(__file__).resolve().parents[1]


def test_the_records_are_in_letter_order_with_unique_letters_names_and_aliases():
    letters = [t.letter for t in techniques.TECHNIQUES]
    assert letters == sorted(letters) == ["A", "B", "C", "D", "E"]
    names = techniques.names()
    aliases = [a for t in techniques.TECHNIQUES for a in t.aliases]
    assert len(set(names + aliases)) == len(names) + len(aliases)


@pytest.mark.parametrize("technique", techniques.TECHNIQUES, ids=lambda t: t.name)
def test_every_record_names_modules_and_files_that_exist(technique):
    module = importlib.import_module(technique.module)
    assert module.TECHNIQUE is technique
    assert callable(importlib.import_module(technique.experiment).main)
    assert (ROOT / technique.tutorial).is_file() and (ROOT / technique.docs).is_file()
    assert techniques.find(technique.name) is technique
    assert all(techniques.find(a) is technique for a in technique.aliases)


def test_the_package_docstring_table_matches_the_records():
    rows = re.findall(r"^([A-Z])\s+:mod:`\.(\w+)`\s+(.+?)\s*$", techniques.__doc__, re.M)
    assert rows == [(t.letter, t.name, t.summary) for t in techniques.TECHNIQUES]


def test_the_default_hooks_do_nothing():
    plain = Technique("Z", "plain", "Plain", "nothing")
    assert plain.optimizer_options(None) == {} and plain.extra_callbacks(None, None) == []
    assert plain.build_trainer(None, None) is None and plain.prepare_model(None, None, 0) is None


def test_no_alias_is_also_the_name_of_a_command():
    commands = {command.NAME for command in COMMANDS}
    assert not commands & {a for t in techniques.TECHNIQUES for a in t.aliases}


def test_an_unknown_name_is_refused_naming_names_and_aliases():
    with pytest.raises(ValueError, match=r"unknown technique 'nope'.*'orthogonal_reinit'.*repr = orthogonal_reinit"):
        techniques.find("nope")


# -- a sixth technique ------------------------------------------------------------------------
class Marker(Callback):
    name = "sixth_marker"


class Sixth(Technique):
    """A dummy technique F: one flag, and a hook of each kind that shows it was called."""

    def add_train_arguments(self, parser):
        parser.add_argument_group("technique F: a dummy").add_argument("--sixth", action="store_true")

    def prepare_model(self, opts, model, seed, data=None):
        if opts.sixth:
            model.metadata = {**model.metadata, "prepared_by": "sixth"}

    def optimizer_options(self, opts):
        return {"lr": 0.123} if opts.sixth else {}

    def extra_callbacks(self, opts, model, data=None):
        return [Marker()] if opts.sixth else []


SIXTH = Sixth(letter="F", name="sixth", title="A sixth technique", summary="a dummy", aliases=("six",),
              experiment="fake_experiments.sixth", tutorial="tutorials/11_sixth.py", docs="docs/sixth.md")


@pytest.fixture
def six(monkeypatch):
    """The registry with F appended; every experiment module (F's too) a fake whose main records its name."""
    ran = []
    registry = []
    for t in techniques.TECHNIQUES + (SIXTH,):
        fake = types.ModuleType(f"fake_experiments.{t.name}")
        fake.main = lambda argv, name=t.name: ran.append((name, argv)) or 0
        monkeypatch.setitem(sys.modules, fake.__name__, fake)
        registry.append(dataclasses.replace(t, experiment=fake.__name__))
    monkeypatch.setattr(techniques, "TECHNIQUES", tuple(registry))
    return ran


def test_compare_all_and_compare_help_pick_up_a_sixth_technique(six):
    compare.run(types.SimpleNamespace(name="all", rest=["--quick"]))
    assert six == [(n, ["--quick"]) for n in ("branch_supervision", "gradient_direction", "erdos_renyi",
                                               "collaborative", "orthogonal_reinit", "sixth")]
    compare.run(types.SimpleNamespace(name="six", rest=[]))
    assert six[-1] == ("sixth", [])
    parser = protocol.parser("x", "x")          # any parser: compare's arguments added to it
    compare.add_arguments(parser)
    assert re.search(r"orthogonal_reinit,\s+sixth;", parser.format_help()) and "repr, six" in parser.format_help()


def test_the_scorecard_orders_and_letters_a_sixth_technique(six, tmp_path):
    for name in ("sixth", "branch_supervision"):
        claim = protocol.Claim(f"{name} helps", "new", "old", published=1.0, conversion="threshold (ours)",
                               source="test (ours)", primary=True)
        rec = {"technique": name, "command": f"python -m numpycnn compare {name}", "protocol": protocol.PROTOCOL_VERSION,
               "comparisons": protocol.adjust([protocol.compare(claim, [0.8, 0.82], [0.79, 0.8])])}
        (tmp_path / f"{name}.json").write_text(protocol.dumps(rec))
    protocol.write_scorecard(str(tmp_path))
    rows = [line for line in (tmp_path / "scorecard.md").read_text().splitlines() if re.match(r"\| [A-Z] \|", line)]
    assert [row[:5] for row in rows] == ["| A |", "| F |"] and "sixth helps" in rows[1]
    (tmp_path / "sixth.json").write_text(json.dumps({"comparisons": []}))
    assert load_result("sixth", tmp_path) == {"comparisons": []}          # the results' list knows it too


def test_the_book_gives_a_sixth_technique_its_page_and_lists_it(six, tmp_path):
    root, src = tmp_path / "repo", tmp_path / "src"
    (root / "docs").mkdir(parents=True)
    (root / "tutorials").mkdir()
    (root / "README.md").write_text("# numpycnn\n")
    book.stage_pages(root, src, [])
    assert (src / "docs" / "sixth.md").read_text().startswith("# Technique F — A sixth technique")
    toctree = (src / "index.md").read_text().split(":caption: The techniques")[1].split("```")[0]
    assert toctree.split() == [":hidden:", ":maxdepth:", "1", *(f"docs/{n}" for n in techniques.names())]
    assert "docs/sixth" in toctree


def test_the_builder_calls_a_sixth_techniques_hooks(six):
    data = load_dataset("digits", seed=0, train_limit=200)
    opts = builder.options(sixth=True, max_steps=1, no_progress=True)          # its flag is a train option
    model, optimizer = builder.build(opts, data.input_shape, data.num_classes, data=data)
    assert model.metadata["prepared_by"] == "sixth" and optimizer.lr == 0.123
    trainer = builder.make_trainer(opts, data)
    assert any(isinstance(c, Marker) for c in trainer.callbacks)
    plain = builder.options(max_steps=1)
    assert not any(isinstance(c, Marker) for c in builder.make_trainer(plain, data).callbacks)
