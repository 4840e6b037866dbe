"""Optimizers with update rules identical to ``torch.optim``.

Each optimizer is built from a model (anything with ``named_parameters()``) and,
at every ``step()``, reads the current ``(name, param, grad)`` triples and updates
the parameters **in place**. Per-parameter state lives in ``state[name]`` (a dict
of arrays of the parameter's shape) and is saved with checkpoints via
``state_dict()`` / ``load_state_dict()``.

Weight decay is L2 added to the gradient, as in torch: ``g <- g + wd * x`` — except for
:class:`AdamW`, whose decay is decoupled from the gradient: ``x <- (1 - lr * wd) * x`` before the Adam
step. ``maximize=True`` (every optimizer, as in torch) climbs instead: ``g <- -g`` first.

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

torch's options (the plain rules above are the course's exercises; each option is a method of its own,
which ``update`` hands over to when the option is set)::

    SGD dampening d   b <- mu * b + (1 - d) * g   (b = g at t = 1)
    RMSprop centered  a <- alpha * a + (1 - alpha) * g;  the denominator is sqrt(v - a^2) + eps
    RMSprop momentum  c <- mu * c + g / denominator  (c = 0 at first);  x <- x - lr * c
    Adam amsgrad      vmax <- max(vmax, v);  sqrt(vmax) takes the place of sqrt(v)
    AdamW             x <- (1 - lr * wd) * x, then Adam without L2 in the gradient

Every piece of state (``t``, the hyper-parameters, the schedule and each parameter's arrays, under torch's
names) is in :meth:`Optimizer.state_dict`, so a resumed run continues bit for bit.
"""
import json
import math

import numpy as np

from .schedules import Schedule, schedule_from_config
from .validate import choice, flag, number


class Optimizer:
    """Base class. Subclasses implement :meth:`update` for one parameter."""

    state_keys = ()
    #: AdamW's decay ``x <- (1 - lr * wd) * x`` instead of L2 in the gradient (see :meth:`step`)
    decoupled_weight_decay = False

    def __init__(self, model, lr, weight_decay=0.0, schedule=None, maximize=False):
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
        self.maximize = flag(maximize, "maximize", type(self).__name__)
        self.t = 0
        self.state = {}

    def apply_schedule(self):
        """``lr = base_lr * schedule(t)`` for the update about to be made (no-op without a schedule)."""
        if self.schedule is not None:
            self.lr = self.base_lr * self.schedule(self.t)

    def step(self):
        """Apply one update to every parameter of the model.

        Per parameter: ``g = -g`` with ``maximize``; then the weight decay — ``g = g + wd * p`` (L2), or
        ``p *= 1 - lr * wd`` (decoupled, :class:`AdamW`); then :meth:`update`.
        """
        self.apply_schedule()
        self.t += 1
        for name, p, g in self.model.named_parameters():
            if self.maximize:
                g = -g
            if self.weight_decay:
                if self.decoupled_weight_decay:
                    p *= 1 - self.lr * self.weight_decay
                else:
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
        return {"lr": self.lr, "base_lr": self.base_lr, "weight_decay": self.weight_decay, "maximize": self.maximize}

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
    schedule : numpycnn.schedules.Schedule or None
    dampening : float in [0, 1], default 0
        With momentum, the fraction of each new gradient held back: ``b = μ b + (1 − dampening) g``.
    maximize : bool, default False
        Climb the objective (``g <- -g``).
    """

    def __init__(self, model, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0, schedule=None, *,
                 dampening=0.0, maximize=False):
        super().__init__(model, lr, weight_decay, schedule, maximize)
        where = type(self).__name__
        self.momentum = number(momentum, "momentum", where, low=0)
        self.dampening = number(dampening, "dampening", where, low=0, high=1,
                                meaning="the fraction of each gradient the momentum holds back")
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0:
            raise ValueError(f"{where}: nesterov=True needs momentum > 0")
        if self.nesterov and self.dampening:
            raise ValueError(f"{where}: nesterov=True needs dampening 0 (as in torch); got dampening={dampening}")

    def update(self, p, g, st):
        """``p -= lr * g``; with momentum ``μ``: ``b = g`` at the first step, then ``b = μ b + g``
        (``st["momentum_buffer"]``), and the step uses ``b`` (or ``g + μ b`` with Nesterov)."""
        if self.dampening and self.momentum:            # torch's option, not the exercise below
            return self._update_dampened(p, g, st)
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

    def _update_dampened(self, p, g, st):
        """Momentum with dampening ``d``: ``b = g`` at the first step, then ``b = μ b + (1 − d) g``; ``p -= lr b``."""
        if "momentum_buffer" not in st:
            st["momentum_buffer"] = g.copy()
        else:
            st["momentum_buffer"] *= self.momentum
            st["momentum_buffer"] += (1 - self.dampening) * g
        p -= self.lr * st["momentum_buffer"]

    def hyperparameters(self):
        return {**super().hyperparameters(), "momentum": self.momentum, "nesterov": self.nesterov,
                "dampening": self.dampening}


class Momentum(SGD):
    """SGD with classical momentum (``momentum=0.9`` by default) or Nesterov momentum."""

    def __init__(self, model, lr=0.01, momentum=0.9, nesterov=False, weight_decay=0.0, schedule=None, *,
                 dampening=0.0, maximize=False):
        super().__init__(model, lr, momentum, nesterov, weight_decay, schedule, dampening=dampening,
                         maximize=maximize)


class RMSprop(Optimizer):
    """RMSprop — ``torch.optim.RMSprop``: ``x <- x - lr g / (sqrt(v) + eps)``.

    Parameters
    ----------
    model, lr, alpha, eps, weight_decay, schedule
        As torch's (``alpha`` the decay of the squared-gradient average ``v``).
    momentum : float >= 0, default 0
        ``c = μ c + g / (sqrt(v) + eps)`` (``c = 0`` at first), and the step is ``lr c``.
    centered : bool, default False
        Divide by an estimate of the gradient's standard deviation instead: ``sqrt(v − a²) + eps``
        with ``a = α a + (1 − α) g`` the gradient's running mean.
    maximize : bool, default False
    """

    def __init__(self, model, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, schedule=None, *, momentum=0.0,
                 centered=False, maximize=False):
        super().__init__(model, lr, weight_decay, schedule, maximize)
        self.alpha = float(alpha)
        self.eps = float(eps)
        if not 0 <= self.alpha < 1:
            raise ValueError(f"RMSprop: alpha must be in [0, 1); got {alpha}")
        self.momentum = number(momentum, "momentum", "RMSprop", low=0)
        self.centered = flag(centered, "centered", "RMSprop")

    def update(self, p, g, st):
        """``v = α v + (1 − α) g²`` (``st["square_avg"]``, starting at 0); ``p -= lr g / (√v + eps)``."""
        if self.centered or self.momentum:               # torch's options, not the exercise below
            return self._update_with_options(p, g, st)
        ### BEGIN SOLUTION
        if "square_avg" not in st:
            st["square_avg"] = np.zeros_like(p)
        v = st["square_avg"]
        v *= self.alpha
        v += (1 - self.alpha) * g * g
        p -= self.lr * g / (np.sqrt(v) + self.eps)
        ### END SOLUTION

    def _update_with_options(self, p, g, st):
        """RMSprop with ``centered`` (``st["grad_avg"]``) and/or ``momentum`` (``st["momentum_buffer"]``), as torch."""
        if "square_avg" not in st:
            st["square_avg"] = np.zeros_like(p)
        v = st["square_avg"]
        v *= self.alpha
        v += (1 - self.alpha) * g * g
        if self.centered:
            a = st.setdefault("grad_avg", np.zeros_like(p))
            a *= self.alpha
            a += (1 - self.alpha) * g
            denom = np.sqrt(v - a * a) + self.eps
        else:
            denom = np.sqrt(v) + self.eps
        if self.momentum:
            c = st.setdefault("momentum_buffer", np.zeros_like(p))
            c *= self.momentum
            c += g / denom
            p -= self.lr * c
        else:
            p -= self.lr * g / denom

    def hyperparameters(self):
        return {**super().hyperparameters(), "alpha": self.alpha, "eps": self.eps, "momentum": self.momentum,
                "centered": self.centered}


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) — ``torch.optim.Adam`` with bias correction, L2 weight decay.

    Parameters
    ----------
    model, lr, betas, eps, weight_decay, schedule
        As torch's.
    amsgrad : bool, default False
        AMSGrad (Reddi et al., 2018): divide by the running *maximum* of ``v``
        (``st["max_exp_avg_sq"]``), so the step size never grows back.
    maximize : bool, default False
    """

    def __init__(self, model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, schedule=None, *,
                 amsgrad=False, maximize=False):
        super().__init__(model, lr, weight_decay, schedule, maximize)
        self.beta1, self.beta2 = float(betas[0]), float(betas[1])
        self.eps = float(eps)
        for nm, b in (("betas[0]", self.beta1), ("betas[1]", self.beta2)):
            if not 0 <= b < 1:
                raise ValueError(f"{type(self).__name__}: {nm} must be in [0, 1); got {b}")
        self.amsgrad = flag(amsgrad, "amsgrad", type(self).__name__)

    def update(self, p, g, st):
        """``m = β1 m + (1 − β1) g``, ``v = β2 v + (1 − β2) g²`` (``st["exp_avg"]``, ``st["exp_avg_sq"]``,
        starting at 0); ``p -= lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + eps)`` with ``t = self.t``."""
        if self.amsgrad:                                 # torch's option, not the exercise below
            return self._update_amsgrad(p, g, st)
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

    def _update_amsgrad(self, p, g, st):
        """Adam with ``vmax = max(vmax, v)`` (``st["max_exp_avg_sq"]``, starting at 0) in place of ``v``
        in the denominator, as torch's ``amsgrad=True``."""
        if "exp_avg" not in st:
            st["exp_avg"] = np.zeros_like(p)
            st["exp_avg_sq"] = np.zeros_like(p)
            st["max_exp_avg_sq"] = np.zeros_like(p)
        m, v, vmax = st["exp_avg"], st["exp_avg_sq"], st["max_exp_avg_sq"]
        m *= self.beta1
        m += (1 - self.beta1) * g
        v *= self.beta2
        v += (1 - self.beta2) * g * g
        np.maximum(vmax, v, out=vmax)
        step_size = self.lr / (1 - self.beta1 ** self.t)
        denom = np.sqrt(vmax) / math.sqrt(1 - self.beta2 ** self.t) + self.eps
        p -= step_size * (m / denom)

    def hyperparameters(self):
        return {**super().hyperparameters(), "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter, 2019) — ``torch.optim.AdamW``: Adam with decoupled weight decay.

    Parameters
    ----------
    model, lr, betas, eps, schedule, amsgrad, maximize
        As :class:`Adam`'s.
    weight_decay : float >= 0, default 0.01
        ``λ``: every step first shrinks the parameters, ``x <- (1 − lr·λ) x``, and the Adam step that
        follows sees the gradient alone — with L2 (:class:`Adam`'s ``weight_decay``) the decay would be
        divided by ``sqrt(v)`` like the gradient, so parameters with large gradients would hardly decay.
    """

    decoupled_weight_decay = True

    def __init__(self, model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, schedule=None, *,
                 amsgrad=False, maximize=False):
        super().__init__(model, lr, betas, eps, weight_decay, schedule, amsgrad=amsgrad, maximize=maximize)


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
register_optimizer("adamw", AdamW)


def make_optimizer(name, model, lr=None, **kwargs):
    """Build a registered optimizer by name (see ``OPTIMIZERS``): ``sgd``, ``momentum``, ``nesterov``,
    ``rmsprop``, ``adam``, ``adamw``, and those the techniques register once imported (``direction``, technique B:
    :mod:`numpycnn.techniques.gradient_direction`).

    ``lr`` None keeps the optimizer's own default learning rate.
    """
    choice(name, "optimizer", "make_optimizer", sorted(OPTIMIZERS))
    if lr is not None:
        kwargs["lr"] = lr
    return OPTIMIZERS[name](model, **kwargs)
