"""The record of a technique: its names, where its pieces live, and its hooks into ``python -m numpycnn train``.

Each technique module ends with one ``TECHNIQUE = ...``, an instance of a subclass of :class:`Technique`
that overrides the hooks it needs; :data:`numpycnn.techniques.TECHNIQUES` collects them, and everything
that lists the techniques — ``train``'s options and builder, ``compare`` and ``compare all``, the
scorecard, the result tables, the book — reads that tuple. Adding a technique is one module with its
record (plus its experiment, tutorial and docs page, named in the record).
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Technique:
    """One technique.

    Parameters
    ----------
    letter : str — its letter in the README, the scorecard and the book (``"A"``); the techniques' order
    name : str — its name everywhere: the module ``numpycnn/techniques/<name>.py``, the experiment
        ``compare <name>``, the results ``figures/<name>.json``, the page ``docs/<name>.md``
    title : str — its title in the book (``"Branch supervision"``)
    summary : str — one line saying what it is
    aliases : tuple of str — short names ``compare`` accepts too (``("branch",)``)
    experiment : str — the module that tests its claims, ``main(argv) -> int``; named, not imported (the
        library never imports the lab)
    tutorial : str — its tutorial, a path from the repository root
    docs : str — its page, a path from the repository root

    The methods are the hooks: what ``python -m numpycnn train`` (:mod:`numpycnn.lab.builder`) calls on every
    technique, in letter order; each does nothing here, and a technique overrides the ones it needs
    (as a :class:`~numpycnn.callbacks.Callback` does). ``opts`` is the ``argparse.Namespace`` of every
    ``train`` option.
    """
    letter: str
    name: str
    title: str
    summary: str
    aliases: tuple = ()
    experiment: str = ""
    tutorial: str = ""
    docs: str = ""

    @property
    def module(self):
        """The library module, ``numpycnn.techniques.<name>``."""
        return f"numpycnn.techniques.{self.name}"

    def add_train_arguments(self, parser):
        """Add its ``--flags`` to the ``train`` parser (an argument group of its own)."""

    def prepare_model(self, opts, model, seed, data=None):
        """Change a freshly built model in place, before its optimizer is built (technique C's masks).

        ``seed`` is the model's seed; ``data`` (a :class:`~numpycnn.datasets.DataSplits`) may be None.
        """

    def optimizer_options(self, opts):
        """Keyword arguments its flags add to ``make_optimizer(opts.optimizer, model, ...)``; ``{}`` for none.

        Only the optimizer registry builds optimizers (:func:`numpycnn.optim.make_optimizer`): a technique
        with an optimizer registers it there (technique B's ``"direction"``) and uses this hook to pass its
        flags to it (``lr`` included, which replaces ``--lr``).
        """
        return {}

    def extra_callbacks(self, opts, model, data=None):
        """Training callbacks for ``model`` (technique A's branches, technique E's schedule); ``[]`` for none."""
        return []

    def build_trainer(self, opts, build, **trainer_kwargs):
        """A trainer of its own, or None to leave it to the others (technique D's m networks).

        ``build(seed)`` returns one model and its optimizer from ``opts``; ``trainer_kwargs`` are the
        :class:`~numpycnn.training.Trainer` options of ``opts`` (seed, batch size, progress, augmentation …).
        """
        return None
