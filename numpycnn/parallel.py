"""Data-parallel training steps: each of T processes computes the gradients of 1/T of the batch.

Why processes, not threads
--------------------------
A LeNet-5 step is hundreds of NumPy calls on a few thousand numbers each (a 5x5 convolution's slice
copies, 16 x 151 x 64 products). NumPy releases the GIL *inside* each call, but every call takes it
back at its end; two threads doing such calls spend their time handing the GIL to each other
(measured on the 2-core machine: two threads each doing 200 multiplies of 20 000 numbers took 1.4x
*longer* than one thread doing both shares; benchmarks/README.md). A process has a GIL of its own.

The step (:meth:`Workers.compute_gradients`), with the batch split into T contiguous shards
``x_0 .. x_{T-1}`` of sizes ``n_0 .. n_{T-1}`` (``N = sum n_t``)::

    main process                                      worker t = 1 .. T-1 (a copy of the network)
    write the parameters and x_t, y_t to shared memory -> copy the parameters in
    forward / backward on x_0 (one thread)               forward / backward on x_t (one thread)
                                                          write its gradients g_t, logits, loss L_t
    g = sum_t (n_t / N) g_t,   L = sum_t (n_t / N) L_t,   logits = the shards' logits in order

The loss is a mean over the batch, so the gradient of the whole batch is the sizes-weighted mean of the
shards' gradients — equal to one process's up to float rounding (the sum over the batch is taken in
shards, then added). Data order, initial weights and the optimizer are unchanged, so a run at T = 2
follows a run at T = 1 to within that rounding, not bit for bit (tests/test_parallel.py).

When it is used
---------------
:meth:`numpycnn.training.Trainer.compute_gradients` uses it instead of tutorial 3's step
(:meth:`~numpycnn.training.Trainer.forward_backward`) when the number of threads was set
(``numpycnn.threads.set_threads(T)``, ``limit(T)`` or ``NUMPYCNN_THREADS``; not when it only follows
BLAS's configuration, so that unless asked, ``Trainer`` gives the same bits as a hand-written loop),
is above 1, the trainer allows it (``Trainer.data_parallel``, False for a trainer that changes the
step) and :func:`eligible` holds: softmax cross-entropy without options (a plain mean over the batch), no
callbacks of the user's (they may read a layer's cache or the loss's state, which only the main process's
shard fills), and a network of layers that compute each sample on its own (:data:`PER_SAMPLE_LAYERS`:
no BatchNorm, no Dropout) with no masks, no hooks and the fast implementation of every Conv2D and MaxPool2D
(:func:`numpycnn.layers.use_implementation`). Anything else trains in one process, as before.
The worker processes are started at the first such step — each a fresh ``python`` running
:func:`serve` (about a second, once per trainer; unlike ``multiprocessing``'s ``spawn`` it never re-runs
the user's script, so scripts need no ``if __name__ == "__main__"``) — and stopped when the trainer is
garbage collected or the interpreter exits. The arrays travel through a memory-mapped file (in
``/dev/shm`` where it exists); the pipes carry one short line per step.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import traceback
import weakref

import numpy as np

from . import threads
from .layers import AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sigmoid, Tanh, implementation_of
from .losses import SoftmaxCrossEntropy
from .model import Sequential

#: layer types whose forward and backward treat every sample of a batch on its own
PER_SAMPLE_LAYERS = (AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sigmoid, Tanh)


def eligible(trainer, x):
    """Whether ``trainer``'s step on the batch ``x`` can be split over processes (see the module docstring).

    :class:`~numpycnn.training.Trainer` asks only when its ``data_parallel`` is True (a trainer whose step
    differs from :meth:`~numpycnn.training.Trainer.forward_backward` sets it False).
    """
    model = trainer.model
    return (threads.is_set() and threads.get_threads() > 1 and x.shape[0] >= 2
            and not trainer.callbacks and type(trainer.loss) is SoftmaxCrossEntropy and trainer.loss.plain
            and isinstance(model, Sequential) and not model.forward_hooks and not model.backward_hooks
            and all(type(layer) in PER_SAMPLE_LAYERS and not layer.masks for layer in model.layers.values())
            and all(implementation_of(layer) == "fast" for layer in model.layers.values()
                    if isinstance(layer, (Conv2D, MaxPool2D))))


class _Shared:
    """One worker's shared block (a memory-mapped file), viewed as arrays: ``params`` and ``grads`` (one
    array per parameter, in ``named_parameters`` order), ``x``, ``y``, ``logits`` of up to ``rows`` samples
    and ``loss``."""

    def __init__(self, path, shapes, dtype, sample_shape, classes, rows, create=False):
        dtype = np.dtype(dtype)
        layout = [("p", s, dtype) for s in shapes] + [("g", s, dtype) for s in shapes] + [
            ("x", (rows,) + tuple(sample_shape), dtype), ("y", (rows,), np.dtype(np.int64)),
            ("logits", (rows, classes), dtype), ("loss", (1,), np.dtype(np.float64))]
        offsets, offset = [], 0
        for _, shape, dt in layout:
            offsets.append(offset)
            offset += -(-int(np.prod(shape)) * dt.itemsize // 8) * 8       # every array 8-byte aligned
        self.memory = np.memmap(path, dtype=np.uint8, mode="w+" if create else "r+", shape=(offset,))
        self.params, self.grads = [], []
        for (kind, shape, dt), at in zip(layout, offsets):
            view = self.memory[at:at + int(np.prod(shape)) * dt.itemsize].view(dt).reshape(shape)
            if kind == "p":
                self.params.append(view)
            elif kind == "g":
                self.grads.append(view)
            else:
                setattr(self, kind, view)                # self.x, self.y, self.logits, self.loss


def serve():
    """A worker process's main loop (run as ``python -c "from numpycnn.parallel import serve; serve()"``).

    Reads its setup as one JSON line on stdin, rebuilds the network, then for every line ``n`` computes
    the gradients of the ``n`` samples in the shared block and answers ``ok`` (or ``error`` and the
    traceback as JSON) on stdout. Stops at the end of stdin.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # Ctrl-C is the main process's: it finishes the step
    threads.set_threads(1)
    setup = json.loads(sys.stdin.readline())
    dtype = np.dtype(setup["dtype"])
    model = Sequential.from_config(setup["config"], dtype=dtype)
    loss = SoftmaxCrossEntropy()
    shared = _Shared(setup["path"], [tuple(s) for s in setup["shapes"]], dtype, setup["sample_shape"],
                     setup["classes"], setup["rows"])
    params = [p for _, p, _ in model.named_parameters()]
    out, sys.stdout = sys.stdout, sys.stderr          # stdout is the protocol's; anything printed goes to stderr
    for line in sys.stdin:
        n = int(line)
        try:
            for p, src in zip(params, shared.params):
                np.copyto(p, src)
            logits = model.forward(shared.x[:n], check=False)
            shared.loss[0] = loss.forward(logits, shared.y[:n])
            model.backward(loss.backward(), input_grad=False)
            for dst, (_, _, g) in zip(shared.grads, model.named_parameters()):
                np.copyto(dst, g)
            shared.logits[:n] = logits
            out.write("ok\n")
        except Exception:                                # handed to the main process, which raises it
            out.write("error " + json.dumps(traceback.format_exc()) + "\n")
        out.flush()


class Workers:
    """``T - 1`` worker processes that, with the calling process, compute a training step's gradients.

    Parameters
    ----------
    model : Sequential
        The network; each worker builds a copy from ``model.config()`` and receives the parameters'
        current values at every step (so rebinding or loading parameters in the main process is fine).
    T : int >= 2
        Processes in all, the calling one included.
    rows : int
        The largest batch a step will split (the trainer's batch size).
    """

    def __init__(self, model, T, rows):
        self.T, self.rows, self.model = T, rows, model
        self.names = [name for name, _, _ in model.named_parameters()]
        self.shapes = shapes = [p.shape for _, p, _ in model.named_parameters()]
        per_worker = -(-rows // T) + 1
        folder = "/dev/shm" if os.path.isdir("/dev/shm") else None
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        path_before = [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([package_root] + path_before)}   # this numpycnn
        self.shared, self.processes, self.paths = [], [], []
        for _ in range(T - 1):
            fd, path = tempfile.mkstemp(prefix="numpycnn-", suffix=".shm", dir=folder)
            os.close(fd)
            self.paths.append(path)
            self.shared.append(_Shared(path, shapes, model.dtype, model.input_shape, model.num_classes, per_worker,
                                       create=True))
            proc = subprocess.Popen([sys.executable, "-c", "from numpycnn.parallel import serve; serve()"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True, bufsize=1)
            proc.stdin.write(json.dumps({"config": model.config(), "dtype": np.dtype(model.dtype).name, "path": path,
                                         "shapes": [list(s) for s in shapes], "sample_shape": list(model.input_shape),
                                         "classes": model.num_classes, "rows": per_worker}) + "\n")
            self.processes.append(proc)
        self._finalizer = weakref.finalize(self, Workers._stop, self.processes, self.paths)

    def fits(self, model, T, rows):
        """Whether these workers can run a step of ``model`` with ``T`` processes and ``rows`` samples."""
        return (model is self.model and T == self.T and rows <= self.rows
                and [p.shape for _, p, _ in model.named_parameters()] == self.shapes
                and all(p.poll() is None for p in self.processes))

    def compute_gradients(self, x, y, loss):
        """Forward, loss and backward over the whole batch, split over the processes.

        Fills every layer's ``grads`` as one process would (up to rounding) and leaves ``loss`` holding the
        main process's shard. Returns ``(loss value, logits (N, K))``.
        """
        N = x.shape[0]
        (lo, hi), *rest = threads.shards(N, self.T)
        params = [p for _, p, _ in self.model.named_parameters()]
        for shared, proc, (a, b) in zip(self.shared, self.processes, rest):
            for dst, p in zip(shared.params, params):
                np.copyto(dst, p)
            shared.x[:b - a] = x[a:b]
            shared.y[:b - a] = y[a:b]
            try:
                proc.stdin.write(f"{b - a}\n")
            except OSError:                              # the worker is gone (killed, out of memory)
                self._fail("the process ended")
        try:
            with threads.limit(1):                       # this process is one of the T: one core for it
                logits0 = self.model.forward(x[lo:hi], check=False)
                value = (hi - lo) / N * loss.forward(logits0, y[lo:hi])
                self.model.backward(loss.backward(), input_grad=False)
        finally:                                         # read every answer, even if this shard failed
            answers = [proc.stdout.readline() for proc in self.processes]
        for answer in answers:
            if answer != "ok\n":
                self._fail(json.loads(answer[6:]) if answer.startswith("error ") else "the process ended")
        for k, name in enumerate(self.names):
            layer, key = self.model.layer_of(name), name.rsplit(".", 1)[1]
            g = layer.grads[key] * layer.grads[key].dtype.type((hi - lo) / N)    # g = sum_t (n_t / N) g_t
            for shared, (a, b) in zip(self.shared, rest):
                g += shared.grads[k] * g.dtype.type((b - a) / N)
            layer.grads[key] = g
        logits = [logits0]
        for shared, (a, b) in zip(self.shared, rest):
            value += (b - a) / N * float(shared.loss[0])
            logits.append(np.array(shared.logits[:b - a]))
        return value, np.concatenate(logits)

    def _fail(self, detail):
        self.close()
        raise RuntimeError(f"a numpycnn worker process failed computing its share of the batch:\n{detail}\n"
                           f"(the next step starts new workers; numpycnn.threads.set_threads(1) trains in one process)")

    def close(self):
        """Stop the worker processes (also done when this object is garbage collected)."""
        self._finalizer()

    @staticmethod
    def _stop(processes, paths):
        for proc in processes:
            try:
                proc.stdin.close()                       # end of input: the worker's loop ends
            except OSError:
                pass
        for proc in processes:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
            proc.stdout.close()
        for path in paths:
            try:
                os.remove(path)
            except OSError:                              # pragma: no cover - Windows keeps mapped files
                pass
