"""The five techniques, one module each (A–E). See ``../shared/spec/techniques.md``.

A technique module may plug into ``python -m numpycnn train`` by defining any of::

    add_train_arguments(parser)        # its --flags
    prepare_model(args, setup)         # change the model (e.g. masks)
    build_optimizer(args, setup)       # return an Optimizer, or None to leave the choice to others
    extra_callbacks(args, setup)       # return a list of training Callbacks
    build_trainer(args, setup)         # return a Trainer (subclass), or None

``setup`` is a :class:`numpycnn.cli.TrainSetup` holding the data, model, optimizer, callbacks.
"""
TECHNIQUE_MODULES = []
