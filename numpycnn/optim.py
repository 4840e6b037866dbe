"""Optimizers with update rules identical to ``torch.optim``.

Each optimizer is built from a model (anything with ``named_parameters()``) and,
at every ``step()``, reads the current ``(name, param, grad)`` triples and updates
the parameters **in place**. Per-parameter state lives in ``state[name]`` (a dict
of arrays of the parameter's shape) and is saved with checkpoints via
``state_dict()`` / ``load_state_dict()``.

Weight decay is L2 added to the gradient, as in torch: ``g <- g + wd * x``.

A learning-rate schedule (:mod:`numpycnn.schedules`) can be attached: before update ``t`` (0-based)
the optimizer sets ``lr = base_lr * schedule(t)``; ``t``, ``base_lr`` and the schedule are saved with
the optimizer, so a resumed run continues the schedule exactly.

Update rules (``g`` gradient, ``t`` step count starting at 1)::

    SGD       x <- x - lr * g
    Momentum  b <- mu * b + g   (b = g at t = 1);  x <- x - lr * b
              Nesterov: x <- x - lr * (g + mu * b)
    RMSprop   v <- a * v + (1 - a) * g^2;          x <- x - lr * g / (sqrt(v) + eps)
    Adam      m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
              x <- x - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
"""
import json
import math

import numpy as np

from .schedules import Schedule, schedule_from_config
from .validate import choice, number


class Optimizer:
    """Base class. Subclasses implement :meth:`update` for one parameter."""

    state_keys = ()

    def __init__(self, model, lr, weight_decay=0.0, schedule=None):
        if not hasattr(model, "named_parameters"):
            raise TypeError(f"{type(self).__name__}: model must have named_parameters(); got {type(model).__name__}")
        self.model = model
        self.lr = number(lr, "lr", type(self).__name__, low=0, low_open=True)
        self.base_lr = self.lr
        self.weight_decay = number(weight_decay, "weight_decay", type(self).__name__, low=0)
        if schedule is not None and not isinstance(schedule, Schedule):
            raise TypeError(f"{type(self).__name__}: schedule must be a numpycnn.schedules.Schedule; "
                            f"got {type(schedule).__name__}")
        self.schedule = schedule
        self.t = 0
        self.state = {}

    def apply_schedule(self):
        """``lr = base_lr * schedule(t)`` for the update about to be made (no-op without a schedule)."""
        if self.schedule is not None:
            self.lr = self.base_lr * self.schedule(self.t)

    def step(self):
        """Apply one update to every parameter of the model."""
        self.apply_schedule()
        self.t += 1
        for name, p, g in self.model.named_parameters():
            if self.weight_decay:
                g = g + self.weight_decay * p
            st = self.state.setdefault(name, {})
            self.update(p, g, st)

    def update(self, p, g, st):
        """Update one parameter **in place**.

        Parameters
        ----------
        p : ndarray — the parameter; write the new value into it (``p -= ...``), never rebind it
        g : ndarray — its gradient, with the L2 term already added (``g + weight_decay * p``) by :meth:`step`
        st : dict — this parameter's state, the same dict at every step (empty at the first);
            keep running averages in it under torch's names (``"momentum_buffer"``, ``"square_avg"``,
            ``"exp_avg"``, ``"exp_avg_sq"``). ``self.t`` is the step number, already incremented (1 at
            the first step).
        """
        raise NotImplementedError

    def mask_state(self, name, mask):
        """Multiply every per-parameter state array of ``name`` by ``mask`` (techniques C and E:
        masked or dropped positions keep exactly zero state)."""
        for key, arr in self.state.get(name, {}).items():
            self.state[name][key] = arr * mask

    # -- persistence ----------------------------------------------------------------
    def hyperparameters(self):
        return {"lr": self.lr, "base_lr": self.base_lr, "weight_decay": self.weight_decay}

    def state_dict(self):
        """Flat dict: ``"t"``, hyper-parameters, the schedule (JSON text) and ``"<param>/<key>"`` arrays."""
        out = {"t": np.array(self.t)}
        if self.schedule is not None:
            out["schedule"] = np.array(json.dumps({"name": self.schedule.name, **self.schedule.config()}))
        for k, v in self.hyperparameters().items():
            out[f"hp/{k}"] = np.array(v)
        for name, st in self.state.items():
            for key, arr in st.items():
                out[f"{name}/{key}"] = arr
        return out

    def load_state_dict(self, state):
        self.t = int(state["t"])
        self.state = {}
        if "schedule" in state:
            self.schedule = schedule_from_config(json.loads(str(state["schedule"])))
        for full, arr in state.items():
            if full in ("t", "schedule"):
                continue
            if full.startswith("hp/"):
                name = full[3:]
                setattr(self, name, type(getattr(self, name))(arr.item()) if hasattr(self, name) else arr.item())
                continue
            name, key = full.rsplit("/", 1)
            self.state.setdefault(name, {})[key] = np.array(arr)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={v}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum — ``torch.optim.SGD``.

    Parameters
    ----------
    model : object with ``named_parameters()``
    lr : float
    momentum : float, default 0
    nesterov : bool
    weight_decay : float
    """

    def __init__(self, model, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0, schedule=None):
        super().__init__(model, lr, weight_decay, schedule)
        self.momentum = number(momentum, "momentum", type(self).__name__, low=0)
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0:
            raise ValueError(f"{type(self).__name__}: nesterov=True needs momentum > 0")

    def update(self, p, g, st):
        """``p -= lr * g``; with momentum ``μ``: ``b = g`` at the first step, then ``b = μ b + g``
        (``st["momentum_buffer"]``), and the step uses ``b`` (or ``g + μ b`` with Nesterov)."""
        ### BEGIN SOLUTION
        if self.momentum:
            if "momentum_buffer" not in st:
                st["momentum_buffer"] = g.copy()
            else:
                st["momentum_buffer"] *= self.momentum
                st["momentum_buffer"] += g
            buf = st["momentum_buffer"]
            g = g + self.momentum * buf if self.nesterov else buf
        p -= self.lr * g
        ### END SOLUTION

    def hyperparameters(self):
        return {**super().hyperparameters(), "momentum": self.momentum, "nesterov": self.nesterov}


class Momentum(SGD):
    """SGD with classical momentum (``momentum=0.9`` by default) or Nesterov momentum."""

    def __init__(self, model, lr=0.01, momentum=0.9, nesterov=False, weight_decay=0.0, schedule=None):
        super().__init__(model, lr, momentum, nesterov, weight_decay, schedule)


class RMSprop(Optimizer):
    """RMSprop — ``torch.optim.RMSprop`` (no centering, no momentum): ``x <- x - lr g / (sqrt(v) + eps)``."""

    def __init__(self, model, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, schedule=None):
        super().__init__(model, lr, weight_decay, schedule)
        self.alpha = float(alpha)
        self.eps = float(eps)
        if not 0 <= self.alpha < 1:
            raise ValueError(f"RMSprop: alpha must be in [0, 1); got {alpha}")

    def update(self, p, g, st):
        """``v = α v + (1 − α) g²`` (``st["square_avg"]``, starting at 0); ``p -= lr g / (√v + eps)``."""
        ### BEGIN SOLUTION
        if "square_avg" not in st:
            st["square_avg"] = np.zeros_like(p)
        v = st["square_avg"]
        v *= self.alpha
        v += (1 - self.alpha) * g * g
        p -= self.lr * g / (np.sqrt(v) + self.eps)
        ### END SOLUTION

    def hyperparameters(self):
        return {**super().hyperparameters(), "alpha": self.alpha, "eps": self.eps}


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) — ``torch.optim.Adam`` with bias correction, L2 weight decay."""

    def __init__(self, model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, schedule=None):
        super().__init__(model, lr, weight_decay, schedule)
        self.beta1, self.beta2 = float(betas[0]), float(betas[1])
        self.eps = float(eps)
        for nm, b in (("betas[0]", self.beta1), ("betas[1]", self.beta2)):
            if not 0 <= b < 1:
                raise ValueError(f"Adam: {nm} must be in [0, 1); got {b}")

    def update(self, p, g, st):
        """``m = β1 m + (1 − β1) g``, ``v = β2 v + (1 − β2) g²`` (``st["exp_avg"]``, ``st["exp_avg_sq"]``,
        starting at 0); ``p -= lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + eps)`` with ``t = self.t``."""
        ### BEGIN SOLUTION
        if "exp_avg" not in st:
            st["exp_avg"] = np.zeros_like(p)
            st["exp_avg_sq"] = np.zeros_like(p)
        m, v = st["exp_avg"], st["exp_avg_sq"]
        m *= self.beta1
        m += (1 - self.beta1) * g
        v *= self.beta2
        v += (1 - self.beta2) * g * g
        bias_correction1 = 1 - self.beta1 ** self.t
        bias_correction2 = 1 - self.beta2 ** self.t
        step_size = self.lr / bias_correction1
        denom = np.sqrt(v) / math.sqrt(bias_correction2) + self.eps
        p -= step_size * (m / denom)
        ### END SOLUTION

    def hyperparameters(self):
        return {**super().hyperparameters(), "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}


def nesterov(model, **kwargs):
    """``Momentum(model, nesterov=True, **kwargs)``: the optimizer behind the name ``"nesterov"``."""
    return Momentum(model, nesterov=True, **kwargs)


#: name -> factory ``f(model, **kwargs)`` returning an Optimizer; filled by :func:`register_optimizer`
#: (the classic methods below; a technique registers its own when its module is imported, e.g. technique B's
#: ``"direction"`` by ``import numpycnn.techniques.gradient_direction``)
OPTIMIZERS = {}


def register_optimizer(name, factory):
    """Make ``make_optimizer(name, model, lr=..., **kwargs)`` build ``factory(model, lr=..., **kwargs)``.

    Parameters
    ----------
    name : str — the name on the command line (``--optimizer NAME``) and in :func:`make_optimizer`
    factory : callable ``(model, **kwargs) -> Optimizer``; it receives ``lr`` only when one is given,
        so its own default learning rate applies otherwise

    Registering the same factory again (also from a second copy of its module, as the assignment
    grader loads a student's file) keeps the first; another factory under a taken name is an error.
    """
    if not callable(factory):
        raise TypeError(f"register_optimizer: factory for {name!r} must be callable; got {type(factory).__name__}")
    old = OPTIMIZERS.get(name)
    if old is None:
        OPTIMIZERS[name] = factory
        return factory
    if (old.__module__, old.__qualname__) != (factory.__module__, factory.__qualname__):
        raise ValueError(f"register_optimizer: the name {name!r} is taken by {old.__module__}.{old.__qualname__}")
    return old


register_optimizer("sgd", SGD)
register_optimizer("momentum", Momentum)
register_optimizer("nesterov", nesterov)
register_optimizer("rmsprop", RMSprop)
register_optimizer("adam", Adam)


def make_optimizer(name, model, lr=None, **kwargs):
    """Build a registered optimizer by name (see ``OPTIMIZERS``): ``sgd``, ``momentum``, ``nesterov``,
    ``rmsprop``, ``adam``, and those the techniques register once imported (``direction``, technique B:
    :mod:`numpycnn.techniques.gradient_direction`).

    ``lr`` None keeps the optimizer's own default learning rate.
    """
    choice(name, "optimizer", "make_optimizer", sorted(OPTIMIZERS))
    if lr is not None:
        kwargs["lr"] = lr
    return OPTIMIZERS[name](model, **kwargs)
