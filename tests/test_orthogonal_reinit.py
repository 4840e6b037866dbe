"""Technique E — orthogonality measure, drop, QR null-space re-initialisation: the exact checks of docs/claims.md, section E."""
import logging

import numpy as np
import pytest
import scipy.stats

import numpycnn as nc
from numpycnn.lab import builder
from numpycnn.techniques import orthogonal_reinit as E


def test_orthogonality_measure_is_zero_for_an_orthonormal_set():
    Q = scipy.stats.ortho_group.rvs(12, random_state=0)[:5]            # 5 orthonormal rows in 12-D
    np.testing.assert_allclose(E.orthogonality_measure(Q), 0, atol=1e-14)
    np.testing.assert_allclose(E.orthogonality_measure(3 * Q.reshape(5, 3, 2, 2)), 0, atol=1e-14)


def test_duplicated_filters_rank_first():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((8, 2, 3, 3))
    W[5] = W[2]                                                         # a duplicate pair
    O = E.orthogonality_measure(W)
    assert set(np.argsort(-O)[:2]) == {2, 5}
    dropped = E.rank_filters({"conv": O}, p=0.25)
    assert dropped["conv"].tolist() == [2, 5]


def test_ranking_of_hand_made_filters_follows_the_measure():
    s = 1 / np.sqrt(2)
    W = np.array([[1.0, 0, 0],          # e1:        |cos| with the others: 0, 1/√2, 0
                  [0, 2.0, 0],          # 2·e2:      0, 1/√2, 0
                  [s, s, 0],            # diagonal:  1/√2, 1/√2, 0  -> the most redundant
                  [0, 0, -3.0]])        # -3·e3:     orthogonal to all
    O = E.orthogonality_measure(W)
    np.testing.assert_allclose(O, [s / 4, s / 4, 2 * s / 4, 0], rtol=1e-15, atol=1e-16)
    assert E.rank_filters({"conv": O}, p=0.25)["conv"].tolist() == [2]
    assert E.rank_filters({"conv": O}, p=0.5)["conv"].tolist() == [0, 2]          # tie 0/1: the earlier one
    assert E.rank_filters({"conv": O}, p=1.0)["conv"].tolist() == [0, 1, 2]       # the cap keeps e3


def test_measure_is_invariant_to_rescaling_and_sign_flips():
    W = np.random.default_rng(2).standard_normal((6, 3, 3, 3))
    V = W.copy()
    V[0] *= -7.5
    V[3] *= 0.01
    np.testing.assert_allclose(E.orthogonality_measure(V), E.orthogonality_measure(W), rtol=1e-12)


@pytest.mark.parametrize("shape", [(4, 1, 3, 3), (7, 3, 2, 2), (5, 11)])
def test_vectorised_measure_equals_the_pairwise_loop(shape):
    W = np.random.default_rng(3).standard_normal(shape)
    W[0] = 0                                                            # a dropped (all-zero) filter too
    np.testing.assert_allclose(E.orthogonality_measure(W), E.orthogonality_measure_loop(W), rtol=1e-12, atol=1e-15)


def test_new_filters_are_orthogonal_to_kept_and_old_filters_and_to_each_other():
    rng = np.random.default_rng(4)
    kept, old = rng.standard_normal((10, 27)), rng.standard_normal((4, 27))
    V, mode = E.null_space_filters(kept, old, 4, np.random.default_rng(0))
    assert mode == "kept+old"
    assert np.abs(kept @ V.T).max() < 1e-10 * np.abs(kept).max()
    assert np.abs(old @ V.T).max() < 1e-10 * np.abs(old).max()
    np.testing.assert_allclose(V @ V.T, np.eye(4), atol=1e-12)


def test_reinitialised_filters_are_orthogonal_to_the_span_of_the_survivors_to_1e_12():
    rng = np.random.default_rng(14)
    kept = rng.standard_normal((9, 4, 3, 3))
    kept[8] = 2 * kept[0] - kept[3]                                     # a rank-deficient set of survivors
    kept = kept.reshape(9, -1)
    old = rng.standard_normal((5, 36))
    V, mode = E.null_space_filters(kept, old, 5, np.random.default_rng(1))
    U = scipy.linalg.orth(np.vstack([kept, old]).T)                     # orthonormal basis of their span (36, 13)
    assert mode == "kept+old" and U.shape[1] == 13
    assert np.abs(U.T @ V.T).max() < 1e-12                              # V has unit rows: an absolute bound

    # the same through the model, in float64: the written filters, scaled, against the kept ones
    model = nc.zoo.vanilla_cnn((1, 10, 10), width=12, seed=4, dtype=np.float64)
    opt = nc.optim.SGD(model, lr=0.1)
    dropped = E.rank_filters(E.layer_measures(model, ["conv2", "conv3"]), p=0.3)
    old_values, prior = E.drop_filters(model, opt, dropped)
    modes = E.reintroduce_filters(model, dropped, old_values, prior, lambda n: np.random.default_rng(2))
    for name, idx in dropped.items():
        flat = E.filter_matrix(model[name].params["W"])
        keep = np.setdiff1d(np.arange(flat.shape[0]), idx)
        U = scipy.linalg.orth(flat[keep].T)
        V = flat[idx] / np.linalg.norm(flat[idx], axis=1, keepdims=True)
        assert modes[name] == "kept+old" and len(idx) == 3
        assert np.abs(U.T @ V.T).max() < 1e-12, name
        np.testing.assert_allclose(V @ V.T, np.eye(len(idx)), atol=1e-12)


def test_fallbacks_are_taken_and_logged_when_the_complement_is_too_small(caplog):
    rng = np.random.default_rng(5)
    kept, old = rng.standard_normal((5, 9)), rng.standard_normal((3, 9))    # 3x3 gray filters: D = 9
    V, mode = E.null_space_filters(kept, old, 3, np.random.default_rng(0))  # 9 - 8 = 1 < 3: relax old values
    assert mode == "kept" and np.abs(kept @ V.T).max() < 1e-10 * np.abs(kept).max()
    V, mode = E.null_space_filters(rng.standard_normal((8, 9)), old, 3, np.random.default_rng(0))
    assert mode == "random" and np.allclose(np.linalg.norm(V, axis=1), 1)
    with pytest.raises(ValueError, match="relax"):
        E.null_space_filters(kept, old, 3, np.random.default_rng(0), relax=False)

    model = nc.zoo.vanilla_cnn((1, 12, 12), width=8, seed=0)
    opt = nc.optim.SGD(model, lr=0.1)
    dropped = E.rank_filters(E.layer_measures(model, ["conv1"]), p=0.3)   # 6 kept + 2 old span 8 of D = 9 dims
    old, prior = E.drop_filters(model, opt, dropped)
    with caplog.at_level(logging.WARNING, logger="numpycnn.techniques.orthogonal_reinit"):
        modes = E.reintroduce_filters(model, dropped, old, prior, lambda n: np.random.default_rng(0))
    assert modes["conv1"] == "kept" and "conv1" in caplog.text


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.99])
def test_number_dropped_is_floor_p_times_eligible_per_layer_and_global(p):
    rng = np.random.default_rng(6)
    measures = {"a": rng.random(8), "b": rng.random(20), "c": rng.random(3)}
    per_layer = E.rank_filters(measures, p=p, ranking="per-layer")
    for name, O in measures.items():
        assert len(per_layer[name]) == min(int(np.floor(p * O.size + 1e-9)), O.size - 1)
    glob = E.rank_filters(measures, p=p, ranking="global")
    assert sum(len(v) for v in glob.values()) == min(int(np.floor(p * 31 + 1e-9)), 31 - 3)
    assert all(len(glob[n]) <= measures[n].size - 1 for n in measures)        # the cap: every layer keeps one


def test_global_ranking_drops_the_largest_measures_across_layers():
    measures = {"a": np.array([0.9, 0.1, 0.8]), "b": np.array([0.2, 0.95, 0.3, 0.05])}
    dropped = E.rank_filters(measures, p=3 / 7, ranking="global")
    assert dropped["a"].tolist() == [0, 2] and dropped["b"].tolist() == [1]


@pytest.fixture(scope="module")
def digits():
    return nc.datasets.load_dataset("digits", seed=0, train_limit=400)


@pytest.mark.parametrize("make_opt", [lambda m: nc.optim.Momentum(m, lr=0.05, momentum=0.9),
                                      lambda m: nc.optim.Adam(m, lr=3e-3, weight_decay=1e-3)],
                         ids=["momentum", "adam"])
def test_during_s2_dropped_weights_biases_and_optimizer_state_stay_exactly_zero(digits, make_opt):
    model = nc.zoo.vanilla_cnn(digits.input_shape, width=8, seed=0)
    opt = make_opt(model)
    repr_cb = E.RePr(s1=3, s2=6, n_cycles=1, p=0.3)

    class Watch(nc.Callback):
        name = "watch"
        checked = 0

        def on_step_end(self, trainer):
            if repr_cb.phase != "S2":
                return
            for layer_name, idx in repr_cb.dropped.items():
                layer = model[layer_name]
                assert np.all(layer.params["W"][idx] == 0) and np.all(layer.params["b"][idx] == 0)
                if trainer.step > repr_cb.phase_start:             # a sub-network step: no update reached them
                    assert np.all(layer.grads["W"][idx] == 0) and np.all(layer.grads["b"][idx] == 0)
                for key in ("W", "b"):
                    for arr in opt.state.get(f"{layer_name}.{key}", {}).values():
                        if np.ndim(arr):
                            assert np.all(arr[idx] == 0), f"{layer_name}.{key} optimizer state"
            Watch.checked += 1

    nc.Trainer(model, opt, callbacks=[repr_cb, Watch()], batch_size=32, progress=False).fit(
        digits.train, epochs=1, max_steps=9)
    assert Watch.checked == 6      # checked right after the drop (step 3) and after S2 steps 4..8; step 9 re-introduces
    assert repr_cb.phase == "done" and len(repr_cb.log) == 1


def test_dropped_filters_produce_exactly_zero_output_and_receive_zero_gradients(digits):
    model = nc.zoo.vanilla_cnn(digits.input_shape, width=8, seed=5)
    opt = nc.optim.SGD(model, lr=0.1)
    dropped = E.rank_filters(E.layer_measures(model, model.conv_layers()), p=0.3)
    E.drop_filters(model, opt, dropped)
    for name, idx in dropped.items():
        model[name].params["W"][idx] = 1.0                 # even if something wrote into a dropped filter
        model[name].params["b"][idx] = 1.0
    outputs = {}
    for name in dropped:
        model.add_forward_hook(name, lambda h, name=name: outputs.__setitem__(name, h.copy()))
    x, y = digits.train.x[:16], digits.train.y[:16]
    loss = nc.losses.SoftmaxCrossEntropy()
    loss.forward(model.forward(x), y)
    model.backward(loss.backward())
    for name, idx in dropped.items():
        assert len(idx) == 2
        assert np.all(outputs[name][:, idx] == 0), f"{name}: a dropped filter's feature map must be exactly 0"
        assert np.abs(np.delete(outputs[name], idx, axis=1)).max() > 0
        assert np.all(model[name].grads["W"][idx] == 0) and np.all(model[name].grads["b"][idx] == 0)


def test_perturbing_a_dropped_filter_leaves_the_logits_unchanged(digits):
    model = nc.zoo.vanilla_cnn(digits.input_shape, width=8, seed=1)
    opt = nc.optim.SGD(model, lr=0.1)
    dropped = E.rank_filters(E.layer_measures(model, model.conv_layers()), p=0.3)
    E.drop_filters(model, opt, dropped)
    x = digits.test.x[:16]
    before = model.forward(x)
    layer, idx = "conv2", dropped["conv2"]
    model[layer].params["W"][idx] += 123.0
    model[layer].params["b"][idx] += 5.0            # positive: a ReLU would pass it on
    np.testing.assert_array_equal(model.forward(x), before)


def test_reintroduced_filters_are_written_into_the_layer_and_differ_from_the_old_values(digits):
    model = nc.zoo.vanilla_cnn(digits.input_shape, width=8, seed=2)
    opt = nc.optim.SGD(model, lr=0.1)
    dropped = E.rank_filters(E.layer_measures(model, ["conv2", "conv3"]), p=0.3)
    old, prior = E.drop_filters(model, opt, dropped)
    modes = E.reintroduce_filters(model, dropped, old, prior, lambda n: np.random.default_rng(7))
    for name, idx in dropped.items():
        W = model[name].params["W"]
        assert "W" not in model[name].masks and modes[name] == "kept+old"
        assert not np.allclose(W[idx], old[name])
        keep = np.setdiff1d(np.arange(W.shape[0]), idx)
        flat = W.reshape(W.shape[0], -1).astype(np.float64)
        cos = flat[idx] @ flat[keep].T
        assert np.abs(cos).max() < 1e-5 * np.linalg.norm(flat, axis=1).max() ** 2   # float32 weights
        np.testing.assert_allclose(np.linalg.norm(flat[idx], axis=1).mean(),
                                   np.linalg.norm(flat[keep], axis=1).mean(), rtol=1e-5)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse-before-the-drop"])
def test_checkpoint_in_the_middle_of_s2_resumes_bit_identically(digits, tmp_path, sparse):
    """Also with technique C's masks under the drop masks: the checkpoint carries the prior masks to restore."""
    def trainer():
        model = nc.zoo.vanilla_cnn(digits.input_shape, width=6, seed=3)
        if sparse:
            from numpycnn.techniques.erdos_renyi import sparsify
            sparsify(model, 0.5, "er", np.random.default_rng(0))
        return nc.Trainer(model, nc.optim.Adam(model, lr=3e-3), callbacks=[E.RePr(s1=4, s2=5, n_cycles=2, seed=1)],
                          seed=3, batch_size=32, progress=False)
    straight = trainer()
    straight.fit(digits.train, epochs=2)
    first = trainer()
    first.fit(digits.train, epochs=2, max_steps=6)                  # inside the first S2 phase
    assert first.callbacks[0].phase == "S2"
    assert bool(first.callbacks[0].prior) == sparse
    first.save_checkpoint(tmp_path / "c.npz")
    resumed = trainer().load_checkpoint(tmp_path / "c.npz")
    resumed.fit(digits.train, epochs=2)
    for (n, a, _), (_, b, _) in zip(straight.model.named_parameters(), resumed.model.named_parameters()):
        assert np.array_equal(a, b), n
    assert resumed.callbacks[0].log == straight.callbacks[0].log
    for name in straight.model.conv_layers():             # the sparse masks are back after the last cycle
        np.testing.assert_array_equal(resumed.model[name].masks.get("W", 1), straight.model[name].masks.get("W", 1))


def test_the_schedule_works_with_sigmoid_networks_and_logs_each_cycle(digits):
    model = nc.zoo.vanilla_cnn(digits.input_shape, width=8, activation_name="sigmoid", seed=0)
    cb = E.RePr(s1=2, s2=2, n_cycles=2, ranking="global", exclude_first=True, monitor=digits.val)
    nc.Trainer(model, nc.optim.Adam(model, lr=3e-3), callbacks=[cb], batch_size=32, progress=False).fit(
        digits.train, epochs=1, max_steps=10)
    assert [e["cycle"] for e in cb.log] == [1, 2]
    for entry in cb.log:
        assert "conv1" not in entry["dropped"]
        assert set(entry["O_before"]) == set(entry["O_after"]) == {"conv2", "conv3"}
        assert entry["dip"] == pytest.approx(entry["acc_after_reintroduce"] - entry["acc_before_reintroduce"])


@pytest.mark.parametrize("kwargs, word", [
    ({"s1": 0, "s2": 1}, "s1"), ({"s1": 1, "s2": 0}, "s2"), ({"s1": 1, "s2": 1, "p": 0.0}, "p"),
    ({"s1": 1, "s2": 1, "p": 1.5}, "p"), ({"s1": 1, "s2": 1, "ranking": "best"}, "ranking"),
    ({"s1": 1.5, "s2": 1}, "s1"), ({"s1": 1, "s2": 1, "n_cycles": -1}, "n_cycles"),
    ({"s1": 1, "s2": 1, "min_keep": 0}, "min_keep"), ({"s1": 1, "s2": 1, "rtol": 2.0}, "rtol"),
    ({"s1": 1, "s2": 1, "rtol": "1e-10"}, "rtol"), ({"s1": 1, "s2": 1, "seed": -3}, "seed"),
    ({"s1": 1, "s2": 1, "monitor": [1, 2]}, "monitor"), ({"s1": True, "s2": 1}, "s1"),
])
def test_bad_arguments_raise_errors_naming_the_argument(kwargs, word):
    with pytest.raises((ValueError, TypeError), match=rf"^RePr: {word}\b"):
        E.RePr(**kwargs)


@pytest.mark.parametrize("call, message", [
    (lambda: E.rank_filters({"a": np.ones(4)}, p=0), r"p must be a number in \(0, 1\].*got 0"),
    (lambda: E.rank_filters({"a": np.ones(4)}, p="0.3"), r"p must be a number.*'0.3'"),
    (lambda: E.rank_filters({"a": np.ones(4)}, ranking="layer"), r"ranking must be one of.*'layer'"),
    (lambda: E.rank_filters({"a": np.ones(4)}, min_keep=0), r"min_keep must be an integer >= 1; got 0"),
    (lambda: E.null_space_filters(np.ones((2, 5)), np.ones((1, 5)), -1, np.random.default_rng(0)),
     r"^null_space_filters: n_new must be an integer >= 0; got -1"),
    (lambda: E.null_space_filters(np.ones((2, 5)), np.ones((1, 4)), 1, np.random.default_rng(0)),
     r"old must hold filters of the same size D = 5.*\(1, 4\)"),
    (lambda: E.null_space_filters(np.ones((2, 5)), np.ones((1, 5)), 1, np.random.default_rng(0), rtol=0),
     r"^null_space_filters: rtol must be a number in \(0, 1\) \(the QR rank tolerance\); got 0"),
    (lambda: E.null_space_filters(np.ones((2, 5)), np.ones(7), 1, np.random.default_rng(0)),
     r"old must hold filters of the same size D = 5"),
])
def test_bad_inputs_to_the_functions_name_the_argument_and_the_value(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_old_filters_may_come_in_their_conv_shape():
    V, mode = E.null_space_filters(np.eye(6)[:2], np.eye(6)[2:3].reshape(1, 1, 6), 1, np.random.default_rng(0))
    assert V.shape == (1, 6) and mode == "kept+old"
    np.testing.assert_allclose(V[:, :3], 0, atol=1e-12)


def test_bad_filters_and_generators_are_rejected_clearly():
    with pytest.raises(ValueError, match="W must be conv weights"):
        E.orthogonality_measure(np.zeros((2, 3, 4)))
    with pytest.raises(TypeError, match="floating"):
        E.orthogonality_measure(np.ones((3, 4), dtype=int))
    with pytest.raises(TypeError, match="Generator"):
        E.null_space_filters(np.ones((2, 5)), np.ones((1, 5)), 1, rng=0)
    model = nc.zoo.vanilla_cnn((1, 12, 12), width=4)
    with pytest.raises(ValueError, match="not conv layers"):
        E.RePr(1, 1, layers=["fc"]).eligible_layers(model)


def test_train_flags_add_the_repr_callback(digits):
    args = builder.train_parser().parse_args(["--repr", "--repr-s1", "7", "--repr-s2", "3", "--repr-n", "2",
                                              "--repr-p", "0.25", "--repr-ranking", "global"])
    trainer = builder.make_trainer(args, digits)
    cb = [c for c in trainer.callbacks if isinstance(c, E.RePr)]
    assert len(cb) == 1 and (cb[0].s1, cb[0].s2, cb[0].n_cycles, cb[0].p, cb[0].ranking) == (7, 3, 2, 0.25, "global")


def test_reintroduction_leaves_every_kept_filter_and_its_bias_bit_identical(digits):
    model = nc.zoo.vanilla_cnn(digits.input_shape, width=8, seed=3)
    rng = np.random.default_rng(0)
    for name in model.conv_layers():
        model[name].params["b"] = rng.standard_normal(model[name].params["b"].shape).astype(np.float32)
    opt = nc.optim.SGD(model, lr=0.1)
    dropped = E.rank_filters(E.layer_measures(model, model.conv_layers()), p=0.3)
    old, prior = E.drop_filters(model, opt, dropped)
    before = {n: (model[n].params["W"].copy(), model[n].params["b"].copy()) for n in dropped}
    E.reintroduce_filters(model, dropped, old, prior, lambda n: np.random.default_rng(7))
    for name, idx in dropped.items():
        keep = np.setdiff1d(np.arange(model[name].params["W"].shape[0]), idx)
        np.testing.assert_array_equal(model[name].params["W"][keep], before[name][0][keep])
        np.testing.assert_array_equal(model[name].params["b"][keep], before[name][1][keep])
        np.testing.assert_array_equal(model[name].params["b"][idx], 0)


def _trained_vanilla(digits, steps=30, **repr_kwargs):
    model = nc.zoo.vanilla_cnn(digits.input_shape, width=8, seed=4)
    opt = nc.optim.Adam(model, lr=3e-3)
    cb = E.RePr(s1=10, s2=5, n_cycles=1, p=0.3, ranking="global", exclude_first=True, **repr_kwargs)
    trainer = nc.Trainer(model, opt, callbacks=[cb], seed=0, batch_size=32, progress=False)
    return model, opt, cb, trainer


def test_function_preserving_reintroduction_leaves_the_logits_exactly_unchanged(digits):
    model, opt, cb, trainer = _trained_vanilla(digits, reintroduce="function-preserving")
    x = digits.val.x[:64]
    seen = {}

    class Around(nc.Callback):                 # logits just before and just after the re-introduction step
        name = "around"

        def on_step_end(self, trainer):
            if cb.phase == "S2" and cb.t - cb.phase_start == cb.s2 - 1:
                seen["before"] = model.forward(x).copy()
    trainer.callbacks.insert(0, Around())
    trainer.fit(digits.train, epochs=100, max_steps=15)
    assert cb.log and cb.log[0]["reintroduce_step"] == 15
    np.testing.assert_array_equal(model.forward(x), seen["before"])
    for name, idx in {n: np.array(i) for n, i in cb.log[0]["dropped"].items()}.items():
        consumer, kind, shape = E.consumer_of(model, name)
        W = model[consumer].params["W"]
        cols = W[:, idx] if kind == "conv" else W.reshape(W.shape[0], shape[0], -1)[:, idx]
        assert np.all(cols == 0)
        if kind == "conv":
            assert np.all(opt.state[f"{consumer}.W"]["exp_avg"][:, idx] == 0)


def test_keep_reintroduction_changes_the_logits_the_function_preserving_one_does_not(digits):
    x = digits.val.x[:64]
    out = {}
    for mode in E.REINTRODUCTIONS:
        model, opt, cb, trainer = _trained_vanilla(digits, reintroduce=mode)
        trainer.fit(digits.train, epochs=100, max_steps=14)          # the last S2 step is next
        before = model.forward(x).copy()
        cb._reintroduce(trainer)
        out[mode] = np.abs(model.forward(x) - before).max()
    assert out["function-preserving"] == 0 and out["keep"] > 1e-3


def test_random_selection_drops_as_many_filters_per_layer_as_the_ranking_but_other_ones():
    rng = np.random.default_rng(0)
    measures = {"conv2": rng.random(16), "conv3": rng.random(16)}
    ranked = E.rank_filters(measures, p=0.3, ranking="global")
    random = E.random_drop_set(ranked, {"conv2": 16, "conv3": 16}, np.random.default_rng(1))
    assert {n: len(i) for n, i in random.items()} == {n: len(i) for n, i in ranked.items()}
    assert any(set(random[n]) != set(ranked[n]) for n in ranked)
    for n, idx in random.items():
        assert len(set(idx.tolist())) == len(idx) and idx.max() < 16


def test_consumer_of_finds_the_next_conv_or_the_dense_after_flatten(digits):
    model = nc.zoo.vanilla_cnn((1, 28, 28), width=8, seed=0)
    assert E.consumer_of(model, "conv1")[:2] == ("conv2", "conv")
    name, kind, shape = E.consumer_of(model, "conv3")
    assert (name, kind) == ("fc", "dense") and shape == model.shapes["pool3"]


def test_bad_selection_and_reintroduction_names_are_rejected():
    with pytest.raises(ValueError, match="selection"):
        E.RePr(10, 5, selection="best")
    with pytest.raises(ValueError, match="reintroduce"):
        E.RePr(10, 5, reintroduce="zero")


def test_the_complement_of_one_filter_is_every_direction_orthogonal_to_it():
    a = np.random.default_rng(2).standard_normal((1, 6))
    B = E.complement_basis(a)
    assert B.shape == (6, 5)
    np.testing.assert_allclose(a @ B, 0, atol=1e-12)
    np.testing.assert_allclose(B.T @ B, np.eye(5), atol=1e-12)
    np.testing.assert_array_equal(E.complement_basis(np.zeros((0, 4))), np.eye(4))


def test_a_layer_already_sparse_keeps_its_mask_through_the_drop_and_gets_it_back_after_reintroduction(digits):
    from numpycnn.techniques.erdos_renyi import sparsify
    model = nc.zoo.vanilla_cnn(digits.input_shape, width=8, seed=0)
    sparsify(model, 0.5, "er", np.random.default_rng(0))
    opt = nc.optim.SGD(model, lr=0.1)
    sparse = {n: model[n].masks["W"].copy() for n in ("conv2", "conv3")}
    dropped = {"conv2": np.array([1, 4]), "conv3": np.array([0])}
    old, prior = E.drop_filters(model, opt, dropped)
    for name, idx in dropped.items():
        np.testing.assert_array_equal(prior[name], sparse[name])
        want = sparse[name].copy()
        want[idx] = 0
        np.testing.assert_array_equal(model[name].masks["W"], want)          # drop mask x the sparse mask
    E.reintroduce_filters(model, dropped, old, prior, lambda name: np.random.default_rng(1))
    for name in dropped:
        np.testing.assert_array_equal(model[name].masks["W"], sparse[name])   # the sparse mask is back


def test_hold_dropped_at_zero_also_zeroes_the_optimizer_state_of_dropped_filters(digits):
    model = nc.zoo.vanilla_cnn(digits.input_shape, width=8, seed=0)
    opt = nc.optim.Momentum(model, lr=0.05)
    dropped = {"conv2": np.array([2, 5])}
    E.drop_filters(model, opt, dropped)
    for key in ("W", "b"):                                  # an optimizer whose state did not start at zero
        opt.state.setdefault(f"conv2.{key}", {})["momentum_buffer"] = np.ones_like(model["conv2"].params[key])
    E.hold_dropped_at_zero(model, opt, dropped)
    for key in ("W", "b"):
        buf = opt.state[f"conv2.{key}"]["momentum_buffer"]
        assert np.all(buf[[2, 5]] == 0) and np.all(np.delete(buf, [2, 5], axis=0) == 1), key


def test_exclude_first_leaves_out_exactly_the_first_conv_layer(digits):
    model = nc.zoo.vanilla_cnn(digits.input_shape, width=8, seed=0)
    convs = model.conv_layers()
    assert E.RePr(3, 3, exclude_first=True).eligible_layers(model) == convs[1:]
    assert E.RePr(3, 3).eligible_layers(model) == convs
    assert E.RePr(3, 3, layers=convs[1:2], exclude_first=True).eligible_layers(model) == convs[1:2]


def test_zero_cycles_is_a_plain_run_even_on_a_model_with_nothing_to_drop(digits):
    cb = E.RePr(3, 3, n_cycles=0)
    assert cb.phase == "done"
    model = nc.zoo.mlp(digits.input_shape, hidden=(8,), seed=0)        # no conv layer at all
    nc.Trainer(model, nc.optim.SGD(model, lr=0.1), callbacks=[cb], batch_size=32, progress=False).fit(
        digits.train, epochs=1, max_steps=4)
    assert cb.log == []
    with pytest.raises(ValueError, match="^RePr"):
        nc.Trainer(model, nc.optim.SGD(model, lr=0.1), callbacks=[E.RePr(3, 3, n_cycles=1)], batch_size=32,
                   progress=False).fit(digits.train, epochs=1, max_steps=4)


def test_the_random_control_is_reproducible_and_the_log_records_each_cycle(digits):
    from numpycnn.datasets import Dataset
    logs = []
    for _ in range(2):
        model = nc.zoo.vanilla_cnn(digits.input_shape, width=8, seed=0)
        cb = E.RePr(s1=3, s2=3, n_cycles=2, p=0.25, selection="random", seed=4,
                    monitor=Dataset(digits.val.x[:50], digits.val.y[:50]))
        nc.Trainer(model, nc.optim.SGD(model, lr=0.05), callbacks=[cb], batch_size=32, progress=False).fit(
            digits.train, epochs=5, max_steps=12)
        logs.append(cb.log)
    assert logs[0] == logs[1] and [e["cycle"] for e in logs[0]] == [1, 2]
    for entry in logs[0]:
        assert {"dropped", "modes", "acc_before_drop", "acc_after_drop", "dip"} <= set(entry)
        assert set(entry["modes"]) == set(entry["dropped"]) and entry["acc_before_drop"] is not None


def test_train_flags_give_repr_its_monitor_seed_and_exclusion(digits):
    args = builder.train_parser().parse_args(["--repr", "--repr-exclude-first", "--seed", "9"])
    (cb,) = [c for c in builder.make_trainer(args, digits).callbacks if isinstance(c, E.RePr)]
    assert cb.exclude_first is True and cb.seed == 9 and cb.verbose is True
    np.testing.assert_array_equal(cb.monitor.x, digits.val.x[:500])
    np.testing.assert_array_equal(cb.monitor.y, digits.val.y[:500])
    with pytest.raises(SystemExit):
        builder.train_parser().parse_args(["--repr", "--repr-reintroduce", "sometimes"])


def test_verbose_repr_prints_each_drop_and_reintroduction(digits, capsys):
    from numpycnn.datasets import Dataset
    model = nc.zoo.vanilla_cnn(digits.input_shape, width=8, seed=0)
    cb = E.RePr(s1=3, s2=3, n_cycles=1, p=0.25, verbose=True, monitor=Dataset(digits.val.x[:50], digits.val.y[:50]))
    nc.Trainer(model, nc.optim.SGD(model, lr=0.05), callbacks=[cb], batch_size=32, progress=False).fit(
        digits.train, epochs=2, max_steps=6)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("RePr cycle")]
    assert len(lines) == 2
    assert lines[0].startswith("RePr cycle 1: step 3: dropped conv1: 2/8, conv2: 2/8")
    assert "(ranking per-layer); monitor accuracy " in lines[0]
    assert lines[1].startswith("RePr cycle 1: step 6: re-introduced (conv1: kept")   # conv1 (9-D filters) falls back
    assert "conv2: kept+old" in lines[1]
    assert "mean O conv1: " in lines[1] and " -> " in lines[1] and "; monitor accuracy " in lines[1]


def test_a_layer_with_nothing_dropped_is_skipped_and_the_next_one_is_still_reintroduced(digits):
    model = nc.zoo.vanilla_cnn(digits.input_shape, width=8, seed=0)
    opt = nc.optim.SGD(model, lr=0.1)
    dropped = {"conv1": np.array([], dtype=np.int64), "conv2": np.array([3])}
    old, prior = E.drop_filters(model, opt, dropped)
    modes = E.reintroduce_filters(model, dropped, old, prior, lambda name: np.random.default_rng(0))
    assert list(modes) == ["conv2"] and np.all(model["conv2"].masks.get("W", 1) == 1)
    assert np.any(model["conv2"].params["W"][3] != 0)


def test_repr_keeps_at_least_one_filter_per_layer_by_default():
    assert E.RePr(3, 3).min_keep == 1


def test_phases_are_the_iteration_intervals_in_which_the_sub_network_trains(digits):
    """``RePr.phases()``: update t trains the sub-network exactly when start < t <= end for one (start, end)."""
    model = nc.zoo.vanilla_cnn(digits.input_shape, width=4, seed=0)
    repr_cb = E.RePr(s1=3, s2=2, n_cycles=2, p=0.3)
    phase_after = []                                       # the phase RePr left after each update

    class Watch(nc.Callback):
        name = "watch"

        def on_step_end(self, trainer):
            phase_after.append((trainer.step, repr_cb.phase))

    nc.Trainer(model, nc.optim.SGD(model, lr=0.01), callbacks=[repr_cb, Watch()], batch_size=32,
               progress=False).fit(digits.train, epochs=1, max_steps=12)
    sub_network_updates = {t + 1 for t, phase in phase_after if phase == "S2"}
    assert repr_cb.phases() == [(3, 5), (8, 10)]
    assert sub_network_updates == {t for start, end in repr_cb.phases() for t in range(start + 1, end + 1)}
