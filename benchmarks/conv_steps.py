"""Where the time of one convolution goes: each step of the fast kernel (numpycnn/fast_conv.py) timed on its own.

Usage::

    python benchmarks/conv_steps.py [--reps 25] [--threads 1]

For the four reference shapes of the performance issue, runs torch's conv forward+backward and then
numpycnn's steps one by one (same code as numpycnn/fast_conv.py, split so each line gets its own timer),
interleaved, and prints the median of each step in ms. Then times the alternatives that were tried
and not kept (benchmarks/README.md says why):

* ``bias, db separately``  ``out += b`` and ``db = dout.sum()`` as passes of their own instead of the ones row;
* ``im2col window copy``   the classic ``im2col(x)`` (copy of the 6-d window view) instead of ``im2col_per_image``;
* ``dW one GEMM``          dW as one GEMM over ``D^T`` and a transposed copy of ``cols`` instead of N products;
* ``dx full conv``         dx as a convolution of the zero-padded ``dout`` with the flipped filters;
* ``full width, all steps`` the whole forward + backward computed at every column of the padded width
                            (:func:`full_width_conv`): gathers and adds become long contiguous runs,
                            the GEMMs do ``(W + 2*pad) / OW`` times the work. Compare with the total.
"""
import argparse
import os
import sys
import time
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from numpycnn.fast_conv import (_col2im_from_gemm, _weights_by_offset, conv2d_backward_fast,  # noqa: E402
                                conv2d_forward_fast)
from numpycnn.im2col import im2col, im2col_per_image  # noqa: E402

SHAPES = [(64, 1, 28, 28, 6, 5, 0), (64, 6, 12, 12, 16, 5, 0), (64, 3, 32, 32, 32, 3, 1), (64, 32, 16, 16, 64, 3, 1)]


def steps(x, w, b, dout, pad, timer):
    """numpycnn's convolution forward + backward, one timer per step (stride 1)."""
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = dout.shape[2:]
    with timer("gather (im2col_per_image + ones row)"):
        cols = im2col_per_image(x, KH, KW, 1, pad, ones_row=True)
    with timer("forward GEMMs [W2|b] @ cols_n"):
        Wb = np.concatenate([w.reshape(F, -1), b.reshape(F, 1)], axis=1)
        (Wb @ cols).reshape(N, F, OH, OW)
    D = dout.reshape(N, F, -1)
    with timer("dW, db: GEMMs D_n @ cols_n.T + sum"):
        (D @ cols.transpose(0, 2, 1)).sum(axis=0)
    with timer("dx: GEMMs W2.T @ D_n + offset adds"):
        _col2im_from_gemm(D, _weights_by_offset(w), w.shape, 1, pad, out=np.empty(x.shape, x.dtype))


def full_width_conv(x, w, b, dout, pad):
    """Convolution forward + backward (stride 1) on the full padded width: ``(out, dx, dw, db)``.

    Flatten each padded channel to one row of length ``Hp*Wp`` (plus ``KW - 1`` zeros at the end).
    Kernel offset ``(i, j)`` then reads one contiguous run ``xflat[s : s + OH*Wp]``, ``s = i*Wp + j``,
    where ``im2col_per_image`` reads OH runs of OW pixels. The price: each row of the output gets
    ``Wp - OW`` extra columns that wrap into the next row; they are cropped from ``out``, and
    ``dout`` is zero there, so they add nothing to dw, db or dx.
    """
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    Hp, Wp = H + 2 * pad, W + 2 * pad
    OH, OW = Hp - KH + 1, Wp - KW + 1
    L = OH * Wp
    xflat = np.zeros((N, C, Hp * Wp + KW - 1), x.dtype)
    xflat[:, :, :Hp * Wp].reshape(N, C, Hp, Wp)[..., pad:pad + H, pad:pad + W] = x
    cols = np.empty((N, C, KH, KW, L), x.dtype)
    for i in range(KH):
        for j in range(KW):
            cols[:, :, i, j] = xflat[:, :, i * Wp + j:i * Wp + j + L]
    cols = cols.reshape(N, C * KH * KW, L)
    out = (w.reshape(F, -1) @ cols + b[:, None]).reshape(N, F, OH, Wp)[..., :OW].copy()
    Dfull = np.zeros((N, F, OH, Wp), dout.dtype)
    Dfull[..., :OW] = dout
    Dfull = Dfull.reshape(N, F, L)
    dw = (Dfull @ cols.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)
    db = dout.sum(axis=(0, 2, 3))
    G = (np.ascontiguousarray(w.transpose(2, 3, 1, 0)).reshape(KH * KW * C, F) @ Dfull).reshape(N, KH, KW, C, L)
    dflat = np.zeros_like(xflat)
    for i in range(KH):
        for j in range(KW):
            dflat[:, :, i * Wp + j:i * Wp + j + L] += G[:, i, j]
    dx = dflat[:, :, :Hp * Wp].reshape(N, C, Hp, Wp)[..., pad:pad + H, pad:pad + W].copy()
    return out, dx, dw, db


def alternatives(x, w, b, dout, pad, timer):
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = dout.shape[2:]
    with timer("alt: bias, db separately"):
        out = w.reshape(F, -1) @ im2col_per_image(x, KH, KW, 1, pad)
        out += 1.0
        dout.sum(axis=(0, 2, 3))
    with timer("alt: im2col window copy"):
        im2col(x, KH, KW, 1, pad)
    cols = im2col_per_image(x, KH, KW, 1, pad)
    with timer("alt: dW one GEMM"):
        DT = np.ascontiguousarray(dout.transpose(1, 0, 2, 3)).reshape(F, -1)
        DT @ np.ascontiguousarray(cols.transpose(0, 2, 1)).reshape(-1, C * KH * KW)
    with timer("alt: dx full conv"):
        q = KH - 1 - pad
        dpad = np.pad(dout, ((0, 0), (0, 0), (q, q), (q, q)))
        conv2d_forward_fast(dpad, np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)), np.zeros(C, x.dtype))
    with timer("alt: full width, all steps"):
        full_width_conv(x, w, b, dout, pad)


def check_full_width(x, w, b, dout, pad):
    """The full-width alternative computes the same convolution as numpycnn (float64, before timing)."""
    x, w, b, dout = (a.astype(np.float64) for a in (x, w, b, dout))
    out, cache = conv2d_forward_fast(x, w, b, 1, pad)
    dx, dw, db = conv2d_backward_fast(dout, cache)
    for name, ours, alt in zip(("out", "dx", "dw", "db"), (out, dx, dw, db), full_width_conv(x, w, b, dout, pad)):
        np.testing.assert_allclose(alt, ours, rtol=1e-10, atol=1e-9, err_msg=f"full-width {name}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=25)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    import torch
    from threadpoolctl import threadpool_limits
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    with threadpool_limits(a.threads):
        for (N, C, H, W, F, k, pad) in SHAPES:
            acc = defaultdict(list)

            class timer:
                def __init__(self, name):
                    self.name = name

                def __enter__(self):
                    self.t = time.perf_counter()

                def __exit__(self, *exc):
                    acc[self.name].append(time.perf_counter() - self.t)

            x = rng.standard_normal((N, C, H, W), dtype=np.float32)
            w = rng.standard_normal((F, C, k, k), dtype=np.float32)
            b = rng.standard_normal(F, dtype=np.float32)
            dout = rng.standard_normal((N, F, H + 2 * pad - k + 1, W + 2 * pad - k + 1), dtype=np.float32)
            xt, wt, bt = (torch.tensor(v, requires_grad=True) for v in (x, w, b))
            dt = torch.tensor(dout)
            check_full_width(x, w, b, dout, pad)
            for r in range(a.reps + 3):                       # 3 warm-up rounds, dropped below
                xt.grad = wt.grad = bt.grad = None
                with timer("torch conv2d forward+backward"):
                    torch.nn.functional.conv2d(xt, wt, bt, padding=pad).backward(dt)
                steps(x, w, b, dout, pad, timer)
                alternatives(x, w, b, dout, pad, timer)
            med = {name: 1e3 * np.median(t[3:]) for name, t in acc.items()}
            ours = sum(v for n, v in med.items() if not n.startswith(("torch", "alt")))
            print(f"\n{N},{C},{H},{W} -> {F}, {k}, {pad}   (T = {a.threads}, median of {a.reps}, ms)")
            for name, v in med.items():
                print(f"  {name:40s} {v:7.2f}")
            print(f"  {'numpycnn steps, total':40s} {ours:7.2f}   ratio to torch {ours / med['torch conv2d forward+backward']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
