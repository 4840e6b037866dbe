"""Learning-rate schedules: the factor by which an optimizer's base learning rate is multiplied.

A schedule is a pure function of ``t``, the number of updates already done (0 for the first
update), so a resumed run continues it exactly from the optimizer's saved ``t``::

    lr_t = base_lr · f(t)

=================  ==============================================  ==================================================
schedule           f(t)                                            PyTorch equivalent
=================  ==============================================  ==================================================
``constant``       1                                               (none)
``step``           γ^⌊t / step_size⌋                               ``StepLR(step_size, γ)``
``multistep``      γ^(number of milestones ≤ t)                    ``MultiStepLR(milestones, γ)``
``exponential``    max(γ^t, floor)                                 ``ExponentialLR(γ)`` (floor 0)
``cosine``         floor + (1 − floor)·(1 + cos(π·min(t, T)/T))/2  ``CosineAnnealingLR(T, eta_min = floor·base_lr)``
=================  ==============================================  ==================================================

Technique B's step decay ``α_t = α0·(1 − β)^t`` is ``exponential`` with ``γ = 1 − β`` (and, in its
"above" reading, ``floor = threshold / α0``): :class:`~numpycnn.techniques.gradient_direction.GradientDirection`
uses this schedule, and any other optimizer can be given the same decay shape
(``make_schedule("exponential", gamma=1 - beta)``) — the control that separates the direction
(unit-norm steps) from the annealing.

Attach a schedule with ``Optimizer(..., schedule=...)`` (or ``optimizer.schedule = ...``); the optimizer
sets ``lr = base_lr · f(t)`` before each update. Unlike PyTorch's cosine schedule, ``cosine`` stays at
its floor after ``T`` updates instead of rising again.
"""
import math

from .validate import choice, count, number


class Schedule:
    """Base class: ``schedule(t)`` is the factor applied to the base learning rate at update ``t``."""

    name = "schedule"

    def __call__(self, t):
        raise NotImplementedError

    def config(self):
        """JSON-able arguments (saved with the optimizer's hyper-parameters)."""
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    """``f(t) = 1``."""

    name = "constant"

    def __call__(self, t):
        return 1.0


class StepDecay(Schedule):
    """``f(t) = gamma ** (t // step_size)`` — multiply the rate by ``gamma`` every ``step_size`` updates."""

    name = "step"

    def __init__(self, step_size, gamma=0.1):
        self.step_size = count(step_size, "step_size", "StepDecay", meaning="updates between decays")
        self.gamma = number(gamma, "gamma", "StepDecay", low=0, high=1, low_open=True)

    def __call__(self, t):
        return self.gamma ** (t // self.step_size)

    def config(self):
        return {"step_size": self.step_size, "gamma": self.gamma}


class MultiStep(Schedule):
    """``f(t) = gamma ** (number of milestones <= t)`` — e.g. ×0.1 at 50 % and again at 75 % of a run."""

    name = "multistep"

    def __init__(self, milestones, gamma=0.1):
        ms = [count(int(m), "milestones", "MultiStep", meaning="update numbers") for m in milestones]
        if ms != sorted(ms) or len(set(ms)) != len(ms):
            raise ValueError(f"MultiStep: milestones must be increasing update numbers; got {list(milestones)}")
        self.milestones = ms
        self.gamma = number(gamma, "gamma", "MultiStep", low=0, high=1, low_open=True)

    def __call__(self, t):
        return self.gamma ** sum(t >= m for m in self.milestones)

    def config(self):
        return {"milestones": self.milestones, "gamma": self.gamma}


class Exponential(Schedule):
    """``f(t) = max(gamma ** t, floor)`` — technique B's decay ``(1 − β)^t`` with ``gamma = 1 − β``."""

    name = "exponential"

    def __init__(self, gamma, floor=0.0):
        self.gamma = number(gamma, "gamma", "Exponential", low=0, high=1, low_open=True)
        self.floor = number(floor, "floor", "Exponential", low=0, high=1)

    def __call__(self, t):
        return max(self.gamma ** t, self.floor)

    def config(self):
        return {"gamma": self.gamma, "floor": self.floor}


class Cosine(Schedule):
    """``f(t) = floor + (1 − floor)·(1 + cos(π·min(t, T)/T))/2`` — from 1 down to ``floor`` in ``T`` updates."""

    name = "cosine"

    def __init__(self, total_steps, floor=0.0):
        self.total_steps = count(total_steps, "total_steps", "Cosine", meaning="updates until the floor")
        self.floor = number(floor, "floor", "Cosine", low=0, high=1)

    def __call__(self, t):
        t = min(t, self.total_steps)
        return self.floor + (1.0 - self.floor) * (1.0 + math.cos(math.pi * t / self.total_steps)) / 2.0

    def config(self):
        return {"total_steps": self.total_steps, "floor": self.floor}


SCHEDULES = {"constant": Constant, "step": StepDecay, "multistep": MultiStep, "exponential": Exponential,
             "cosine": Cosine}


def make_schedule(name, **kwargs):
    """A schedule by name (see ``SCHEDULES``) with its arguments, e.g. ``make_schedule("cosine", total_steps=3000)``."""
    choice(name, "schedule", "make_schedule", sorted(SCHEDULES))
    try:
        return SCHEDULES[name](**kwargs)
    except TypeError as e:
        raise TypeError(f"schedule {name!r}: {e}") from None


def schedule_from_config(config):
    """Rebuild a schedule from ``{"name": ..., **config()}`` (as saved in checkpoints)."""
    config = dict(config)
    return make_schedule(config.pop("name"), **config)


def decay_to(ratio, steps):
    """The per-update factor ``γ`` with ``γ**steps == ratio``: the exponential decay that ends at ``ratio``
    after ``steps`` updates (e.g. technique B's ``α_T/α0`` of the text within a shorter run)."""
    ratio = number(ratio, "ratio", "decay_to", low=0, high=1, low_open=True)
    steps = count(steps, "steps", "decay_to")
    return ratio ** (1.0 / steps)
