"""Seeing what a trained network sees: the gradient with respect to the input, and occlusion maps.

Training back-propagates the loss from the logits to the weights and stops at the first layer.
Carried one layer further, the same backward pass gives the gradient with respect to the **input
image** — how much each pixel would move a class score (a *saliency map*, Simonyan et al., 2014),
or the loss (the *fast gradient sign method*, Goodfellow et al., 2015). Occlusion (Zeiler & Fergus,
2014) asks the same question without a gradient: cover a patch and see how far the probability of
the class falls.

::

    input_gradient(model, x, t, of="score")   dx_n = ∂z_{n,t_n} / ∂x_n                   (N, C, H, W)
    input_gradient(model, x, t, of="loss")    dx_n = ∂(−log softmax(z_n)_{t_n}) / ∂x_n     (N, C, H, W)
    occlusion_map(model, x, t, size, stride)  p_t(x_n) − p_t(x_n with one size×size patch covered)   (N, OH, OW)

Both run the network in **evaluation mode** (Dropout is the identity, BatchNorm uses its running
statistics), so an image's result depends on that image alone and not on the others in its batch;
and both leave the model as they found it: every layer's mode, its buffers (running statistics,
Dropout's draw counter) and its parameter gradients.
"""
import numpy as np

from .errors import ShapeError, describe
from .functional import onehot, softmax
from .im2col import conv_output_size
from .validate import check_labels, choice, integer

#: what :func:`input_gradient` differentiates
OF = ("score", "loss")
#: images per forward pass in :func:`occlusion_map` (the same as ``Sequential.predict_logits``)
OCCLUSION_BATCH = 64


def _targets(target, logits, where):
    """``target`` (one class for every image, or one per image) as ``(N,)`` int64 labels checked against ``logits``."""
    N = logits.shape[0]
    if isinstance(target, (bool, np.bool_)) or not isinstance(target, (int, np.integer, np.ndarray, list, tuple)):
        raise TypeError(f"{where}: target must be a class index or an array of N class indices; got "
                        f"{describe(target)}")
    t = np.asarray(target)
    if t.ndim == 0:
        t = np.full(N, t)
    return check_labels(logits, t, f"{where}: target")


def input_gradient(model, x, target, of="score"):
    """The gradient of a class score (or of the loss) with respect to the input images.

    Parameters
    ----------
    model : Sequential
        Run in evaluation mode here; each layer's mode is restored afterwards.
    x : ndarray (N, *model.input_shape), floating point
        The images (never written to; cast to the model's dtype).
    target : int or array-like of ints (N,)
        The class ``t_n`` of each image: the score to explain (``of="score"``) or the label of the
        loss (``of="loss"``). One int means the same class for every image.
    of : {"score", "loss"}
        ``"score"``: the class score ``z_{n,t_n}``, the logit before the softmax (what a saliency
        map explains). ``"loss"``: the cross-entropy ``−log softmax(z_n)_{t_n}`` (what an attack
        increases).

    Returns
    -------
    dx : ndarray of x's shape, the model's dtype
        Row ``n`` is the gradient of image ``n``'s own score or loss with respect to that image.

    Notes
    -----
    With ``z = model(x)`` the logits ``(N, K)``, the quantity differentiated is a sum over the
    batch, one term per image::

        of="score":  s = Σ_n z_{n,t_n}                  ∂s/∂z = onehot(t)
        of="loss":   s = Σ_n −log softmax(z_n)_{t_n}     ∂s/∂z = softmax(z) − onehot(t)

        dx = model.backward(∂s/∂z)                       (N, *input_shape)

    In evaluation mode no layer mixes images, so ``∂s/∂x_n`` is the gradient of image ``n``'s
    term alone — the same for a batch of one. The loss is summed, not averaged as in training, so
    the gradient of an image does not depend on the batch size. The model's hooks are not run
    (they could add a gradient of something else, as technique A's branch does), and the
    parameter gradients that the backward pass computes on the way are thrown away: the model's
    ``grads`` afterwards are the arrays they were before.

    Examples
    --------
    >>> saliency = np.abs(input_gradient(model, x, model.predict(x))).max(axis=1)   # (N, H, W)
    >>> x_adv = x + 0.1 * np.sign(input_gradient(model, x, y, of="loss"))           # FGSM
    """
    where = "input_gradient"
    of = choice(of, "of", where, OF)
    x = model.check_input(x)
    saved = [(name, g) for name, _, g in model.named_parameters()]
    hooks = model.forward_hooks, model.backward_hooks
    model.forward_hooks, model.backward_hooks = {}, {}
    try:
        with model.evaluation_mode():
            z = model.forward(x, check=False)
            t = _targets(target, z, where)
            ### BEGIN SOLUTION
            dz = onehot(t, z.shape[1], dtype=z.dtype)
            if of == "loss":
                dz = softmax(z) - dz
            dx = model.backward(dz)
            ### END SOLUTION
    finally:
        model.forward_hooks, model.backward_hooks = hooks
        for name, g in saved:                      # backward rebinds grads[key]: put the old arrays back
            lname, key = name.split(".", 1)
            model[lname].grads[key] = g
    return dx


def occlusion_map(model, x, target, size, stride=1, fill=None):
    """How far the probability of a class falls when a square patch of the image is covered, at every position.

    Parameters
    ----------
    model : Sequential on images ``(C, H, W)``; run in evaluation mode (each layer's mode is restored)
    x : ndarray (N, C, H, W), floating point — never written to
    target : int or array-like of ints (N,) — the class ``t_n`` whose probability is watched
    size : int >= 1 — the patch is ``size × size`` pixels (all channels), ``size <= min(H, W)``
    stride : int >= 1 — the patch moves by this many pixels
    fill : float or None — the value of the covered pixels; None: each image's minimum (its
        background for Fashion-MNIST and MNIST, whatever the normalisation — as in
        :class:`numpycnn.augment.Augment`)

    Returns
    -------
    ndarray (N, OH, OW), the model's dtype, with ``OH = (H − size) // stride + 1`` (and ``OW`` alike)

    Notes
    -----
    With ``p_t(·) = softmax(model(·))_t`` and ``x^(i,j)`` the image with rows ``i·stride …
    i·stride + size − 1`` and columns ``j·stride … j·stride + size − 1`` set to ``fill``::

        out[n, i, j] = p_{t_n}(x_n) − p_{t_n}(x_n^(i,j))

    Large values mark the patches the class depends on; negative ones, patches whose removal makes
    the class more likely. It needs ``OH·OW`` forward passes per image and no gradient.
    """
    where = "occlusion_map"
    x = model.check_input(x)
    if x.ndim != 4:
        raise ShapeError(f"{where}: x must be a batch of images (N, C, H, W); got {describe(x)}")
    N, C, H, W = x.shape
    size = integer(size, "size", where)
    stride = integer(stride, "stride", where)
    if size > min(H, W):
        raise ValueError(f"{where}: size must be at most the image's height and width {min(H, W)}; got {size}")
    OH, OW = conv_output_size(H, size, stride, 0), conv_output_size(W, size, stride, 0)
    p = softmax(model.predict_logits(x))
    t = _targets(target, p, where)
    values = x.reshape(N, -1).min(axis=1) if fill is None else np.full(N, float(fill))
    out = np.empty((N, OH, OW), dtype=p.dtype)
    for n in range(N):
        covered = np.repeat(x[n:n + 1], OH * OW, axis=0)            # one copy per patch position
        for k, (i, j) in enumerate(np.ndindex(OH, OW)):
            covered[k, :, i * stride:i * stride + size, j * stride:j * stride + size] = values[n]
        p_covered = softmax(model.predict_logits(covered, batch_size=OCCLUSION_BATCH))[:, t[n]]
        out[n] = (p[n, t[n]] - p_covered).reshape(OH, OW)
    return out
