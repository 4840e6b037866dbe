"""The five techniques, one module each (A–E); what each claims is in ``docs/claims.md``.

=====  ============================  ======================================================
A      :mod:`.branch_supervision`    branch supervision with gradient summation
B      :mod:`.gradient_direction`    the gradient-direction optimizer (unit-norm updates)
C      :mod:`.erdos_renyi`           Erdős–Rényi sparse construction
D      :mod:`.collaborative`         collaborative training of several networks
E      :mod:`.orthogonal_reinit`     filter orthogonality ranking and QR null-space re-initialisation
=====  ============================  ======================================================

Importing this package imports all five, so technique B's optimizer is registered
(``make_optimizer("direction", ...)``). A technique module may plug into
``python -m numpycnn train`` (through :mod:`numpycnn.builder`) by defining any of::

    add_train_arguments(parser)                 # its --flags
    prepare_model(opts, model, seed, data)      # change a freshly built model (e.g. masks); data may be None
    build_optimizer(opts, model)                # return an Optimizer, or None to leave the choice to others
    extra_callbacks(opts, model, data)          # return a list of training Callbacks
    build_trainer(opts, build, callbacks, **trainer_kwargs)
                                                # return a Trainer (subclass), or None; build(seed) -> (model, optimizer)
"""
from . import branch_supervision, collaborative, erdos_renyi, gradient_direction, orthogonal_reinit

#: the technique modules in the order A–E
TECHNIQUES = (branch_supervision, gradient_direction, erdos_renyi, collaborative, orthogonal_reinit)
