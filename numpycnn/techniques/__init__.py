"""The five techniques, one module each (A–E); what each claims is in ``docs/claims.md``.

=====  ============================  ======================================================
A      :mod:`.branch_supervision`    branch supervision with gradient summation
B      :mod:`.gradient_direction`    the gradient-direction optimizer (unit-norm updates)
C      :mod:`.erdos_renyi`           Erdős–Rényi sparse construction
D      :mod:`.collaborative`         collaborative training of several networks
E      :mod:`.orthogonal_reinit`     filter orthogonality ranking and QR null-space re-initialisation
=====  ============================  ======================================================

Importing technique B's module registers its optimizer (``make_optimizer("direction", ...)``);
:mod:`numpycnn.lab.builder` imports all five (``import numpycnn`` imports none). A technique module plugs
into ``python -m numpycnn train`` through :mod:`numpycnn.lab.builder` by defining any of::

    add_train_arguments(parser)            its --flags
    prepare_model(opts, model, seed, data) change a freshly built model (technique C's masks); data may be None
    build_optimizer(opts, model)           an Optimizer (technique B's), or None to leave the choice to others
    extra_callbacks(opts, model, data)     a list of training Callbacks (technique A's branches, technique E)
    build_trainer(opts, build, **kwargs)   a Trainer of its own, or None (technique D: build(seed) returns one
                                           network and its optimizer from the same options)
"""
