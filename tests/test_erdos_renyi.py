"""Technique C — Erdős–Rényi sparse construction: σ exactly, masks, training stays sparse, report, SNIP, saving."""

import numpy as np
import pytest

import numpycnn as nc
from numpycnn.lab import builder
from numpycnn.lab.cli import main
from numpycnn.gradcheck import check_model
from numpycnn.techniques import erdos_renyi as C


def mlp():
    return nc.zoo.mlp((1, 28, 28), hidden=(300, 100), seed=0)


def test_worked_example_mlp_784_300_100_10_at_sparsity_0_9():
    p, sigma = C.connection_probabilities(mlp(), 0.9)
    assert sigma == pytest.approx(17.2641509, rel=1e-8)
    assert [p["fc1"], p["fc2"], p["fc3"]] == pytest.approx([0.0795678, 0.2301887, 1.0], abs=1e-7)
    expected = sum(p[n] * N for n, (_, N) in C.layer_ratios(mlp()).items())
    assert expected == pytest.approx(26_620, rel=1e-12)


@pytest.mark.parametrize("mode", ["er", "erk", "uniform"])
@pytest.mark.parametrize("sparsity", [0.3, 0.8, 0.95])
def test_sigma_solves_the_constraint_with_saturated_layers_exactly_one(mode, sparsity):
    model = nc.zoo.lenet5()
    ratios = C.layer_ratios(model, mode)
    N = sum(n for _, n in ratios.values())
    p, sigma = C.connection_probabilities(model, sparsity, mode)
    T = (1 - sparsity) * N
    assert abs(sum(p[n] * ratios[n][1] for n in p) - T) <= 1e-9 * T
    assert all(0 < v <= 1 for v in p.values())
    free = [n for n in p if p[n] < 1]
    for a in free:
        for b in free:
            assert p[a] / p[b] == pytest.approx(ratios[a][0] / ratios[b][0], rel=1e-12)
    assert all(p[n] == 1.0 for n in p if sigma * ratios[n][0] >= 1)


def test_layers_kept_dense_by_the_user_have_probability_one_and_too_many_is_refused():
    p, _ = C.connection_probabilities(nc.zoo.lenet5(), 0.5, dense=("conv1",))
    assert p["conv1"] == 1.0
    with pytest.raises(ValueError, match="lower the sparsity"):
        C.connection_probabilities(mlp(), 0.99, dense=("fc1",))


def test_bernoulli_counts_are_within_five_standard_deviations_and_exact_mode_is_exact():
    model = mlp()
    p, _ = C.connection_probabilities(model, 0.9)
    masks = C.sample_masks(model, p, np.random.default_rng(0))
    for n, M in masks.items():
        N, q = M.size, p[n]
        assert abs(M.sum() - N * q) <= 5 * np.sqrt(N * q * (1 - q)) + 1e-9
    exact = C.sample_masks(model, p, np.random.default_rng(0), sampling="exact")
    for n, M in exact.items():
        assert M.sum() == round(p[n] * M.size)


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "rmsprop", "adam", "direction"])
def test_masked_weights_and_their_optimizer_state_stay_exactly_zero_after_100_steps(name):
    data = nc.datasets.load_dataset("digits", seed=0, train_limit=400)
    model = nc.zoo.small_cnn(data.input_shape, width=8, seed=0)
    masks, _, _ = C.sparsify(model, 0.8, "er", np.random.default_rng(1))
    opt = nc.optim.make_optimizer(name, model, lr=0.01, weight_decay=1e-3) if name != "direction" \
        else nc.optim.make_optimizer(name, model)
    nc.Trainer(model, opt, batch_size=32, progress=False).fit(data.train, epochs=100, max_steps=100)
    for n, M in masks.items():
        W = model[n].params["W"]
        assert np.all(W[M == 0] == 0), n
        for arr in opt.state.get(f"{n}.W", {}).values():
            if np.ndim(arr):
                assert np.all(arr[M == 0] == 0), f"{name}: optimizer state of {n}"
        assert np.any(W[M == 1] != 0)


def test_gradcheck_passes_with_masks():
    model = nc.zoo.small_cnn((1, 8, 8), width=4, seed=0, dtype=np.float64)
    C.sparsify(model, 0.7, "er", np.random.default_rng(2))
    rng = np.random.default_rng(3)
    result = check_model(model, rng.standard_normal((3, 1, 8, 8)), rng.integers(0, 10, 3), max_entries=15)
    assert result.passed, str(result)


def test_snip_saliency_is_abs_g_times_w_normalised_and_keeps_exactly_kappa():
    data = nc.datasets.load_dataset("digits", seed=0)
    model = nc.zoo.small_cnn(data.input_shape, width=8, seed=0)
    x, y = data.train.x[:64], data.train.y[:64]
    masks, saliency = C.snip_masks(model, x, y, 0.8)
    loss = nc.losses.SoftmaxCrossEntropy()
    loss.forward(model.forward(x), y)
    model.backward(loss.backward())
    raw = {n: np.abs(model[n].grads["W"].astype(np.float64) * model[n].params["W"]) for n in masks}
    total = sum(v.sum() for v in raw.values())
    for n in masks:
        np.testing.assert_allclose(saliency[n], raw[n] / total, rtol=1e-12)
    N = sum(M.size for M in masks.values())
    assert sum(int(M.sum()) for M in masks.values()) == round(0.2 * N)
    threshold = min(saliency[n][masks[n] == 1].min() for n in masks)
    assert all(saliency[n][masks[n] == 0].max(initial=0) <= threshold for n in masks)


def test_structure_report_counts_equal_hand_counts():
    model = mlp()
    masks, p, _ = C.sparsify(model, 0.9, "er", np.random.default_rng(0))
    rows = C.structure_report(model, p)
    assert [r["layer"] for r in rows] == ["fc1", "fc2", "fc3", "total"]
    for r in rows[:-1]:
        assert r["dense"] == masks[r["layer"]].size and r["active"] == int(masks[r["layer"]].sum())
        assert r["dense_bytes"] == 4 * r["dense"] and r["sparse_macs"] == r["active"]
    assert rows[-1]["active"] == sum(r["active"] for r in rows[:-1])
    conv = nc.zoo.lenet5()
    C.sparsify(conv, 0.5, "erk", np.random.default_rng(0))
    row = C.structure_report(conv)[0]
    assert row["dense_macs"] == 6 * 1 * 25 * 28 * 28
    assert "total" in C.format_report(C.structure_report(conv))


def test_sparse_save_and_load_gives_identical_outputs_and_stores_only_active_weights(tmp_path):
    model = mlp()
    C.sparsify(model, 0.9, "er", np.random.default_rng(0))
    C.save_sparse_model(tmp_path / "s.npz", model)
    loaded = C.load_sparse_model(tmp_path / "s.npz")
    x = np.random.default_rng(1).standard_normal((5, 1, 28, 28)).astype(np.float32)
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))
    nc.model.save_model(tmp_path / "d.npz", model)
    assert (tmp_path / "s.npz").stat().st_size < 0.5 * (tmp_path / "d.npz").stat().st_size


def test_mask_selection_reports_every_candidate_and_returns_the_best():
    data = nc.datasets.load_dataset("digits", seed=0, train_limit=400)
    make = lambda: nc.zoo.small_cnn(data.input_shape, width=4, seed=0)  # noqa: E731
    masks, results = C.select_masks(make, data, 0.5, K=3, steps=10)
    assert [r["candidate"] for r in results] == [0, 1, 2]
    # the returned masks are the best candidate's: re-sampling that candidate gives the same masks
    best = max(results, key=lambda r: r["val_acc"])["candidate"]
    again, _, _ = C.sparsify(make(), 0.5, "er", np.random.default_rng([0, best]))
    assert all(np.array_equal(masks[n], again[n]) for n in masks)


@pytest.mark.parametrize("sparsity", [-0.1, 1.0, 1.5])
def test_sparsity_outside_0_1_is_refused_naming_it(sparsity):
    with pytest.raises(ValueError, match="sparsity"):
        C.connection_probabilities(mlp(), sparsity)


def test_bad_mode_sampling_and_generator_are_refused():
    with pytest.raises(ValueError, match="mode"):
        C.sparsify(mlp(), 0.5, mode="random")
    with pytest.raises(ValueError, match="sampling"):
        C.sample_masks(mlp(), {"fc1": 0.5}, np.random.default_rng(0), sampling="poisson")
    with pytest.raises(TypeError, match="Generator"):
        C.sample_masks(mlp(), {"fc1": 0.5}, rng=3)


def test_train_flags_sparsify_the_model_before_training(capsys):
    args = builder.train_parser().parse_args(["--sparsity", "0.8", "--sparse-mode", "er", "--dense-layers", "fc2"])
    model, _ = builder.build(args, (1, 8, 8), 10)
    out = capsys.readouterr().out
    assert "σ =" in out and "total" in out
    rows = C.structure_report(model)
    assert rows[-1]["density"] == pytest.approx(0.2, abs=0.03)


def test_sparsity_command_prints_the_report(capsys, tmp_path):
    assert main(["sparsity", "--model", "mlp", "--sparsity", "0.9", "--figure", str(tmp_path / "r.png")]) == 0
    out = capsys.readouterr().out
    assert "σ = 17.2642" in out and "total" in out and (tmp_path / "r.png").exists()


def test_checkpoint_resume_keeps_the_masks_and_is_bit_identical(tmp_path):
    data = nc.datasets.load_dataset("digits", seed=0, train_limit=300)

    def trainer():
        model = nc.zoo.small_cnn(data.input_shape, width=4, seed=2)
        C.sparsify(model, 0.7, "er", np.random.default_rng(5))
        return nc.Trainer(model, nc.optim.Adam(model, lr=3e-3), seed=2, batch_size=32, progress=False)
    straight = trainer()
    straight.fit(data.train, epochs=2)
    first = trainer()
    first.fit(data.train, epochs=2, max_steps=6)
    first.save_checkpoint(tmp_path / "c.npz")
    resumed = trainer().load_checkpoint(tmp_path / "c.npz")
    resumed.fit(data.train, epochs=2)
    for (n, a, _), (_, b, _) in zip(straight.model.named_parameters(), resumed.model.named_parameters()):
        assert np.array_equal(a, b), n
    for name in C.masked_layers(resumed.model):
        assert np.array_equal(resumed.model[name].masks["W"], straight.model[name].masks["W"])


def test_consistency_gradient_matches_central_differences_and_weight_zero_changes_nothing():
    from numpycnn.gradcheck import numerical_gradient, relative_error
    model = nc.zoo.small_cnn((1, 8, 8), width=2, seed=0, dtype=np.float64)
    C.sparsify(model, 0.5, "er", np.random.default_rng(0))
    u = np.random.default_rng(1).standard_normal((4, 1, 8, 8))
    cons = C.ConsistencyTraining(u, weight=2.0, noise=0.3)
    cons.consistency_backward(model, u, np.random.default_rng(7))
    analytic = {n: g.copy() for n, _, g in model.named_parameters()}
    rng = np.random.default_rng(7)
    a = u + 0.3 * rng.standard_normal(u.shape)
    b = u + 0.3 * rng.standard_normal(u.shape)
    p_b = nc.losses.softmax(model.forward(b))

    def L():
        p_a = nc.losses.softmax(model.forward(a))
        return 2.0 * np.sum((p_a - p_b) ** 2) / len(u)

    for name, p, _ in model.named_parameters():
        idx = [tuple(rng.integers(0, s) for s in p.shape) for _ in range(5)]
        numeric = numerical_gradient(L, p, indices=idx)
        sel = tuple(np.array(i) for i in zip(*idx))
        assert relative_error(analytic[name][sel], numeric[sel]) < 1e-6, name


def test_semi_supervised_training_keeps_masks_and_adds_the_consistency_gradient():
    data = nc.datasets.load_dataset("digits", seed=0, train_limit=400)
    model = nc.zoo.small_cnn(data.input_shape, width=4, seed=0)
    masks, _, _ = C.sparsify(model, 0.7, "er", np.random.default_rng(0))
    cons = C.ConsistencyTraining(data.train.x, weight=1.0, noise=0.2, batch_size=32)
    nc.Trainer(model, nc.optim.Adam(model, lr=3e-3), callbacks=[cons], batch_size=32, progress=False).fit(
        data.train, epochs=1, max_steps=10)
    assert len(cons.losses) == 10 and all(np.isfinite(cons.losses))
    assert all(np.all(model[n].params["W"][M == 0] == 0) for n, M in masks.items())
    with pytest.raises(ValueError, match="weight"):
        C.ConsistencyTraining(data.train.x, weight=-1)

def test_layer_ratios_follow_the_er_and_erk_formulas_for_dense_and_conv_layers():
    model = nc.zoo.lenet5()                              # conv1 1->6 5x5, conv2 6->16 5x5, fc 400->120->84->10
    er, erk = C.layer_ratios(model, "er"), C.layer_ratios(model, "erk")
    assert er["conv2"] == ((6 + 16) / (6 * 16), 16 * 6 * 25)
    assert erk["conv2"] == ((6 + 16 + 5 + 5) / (6 * 16 * 5 * 5), 16 * 6 * 25)
    dense = [n for n in er if model[n].params["W"].ndim == 2][0]
    n_out, n_in = model[dense].params["W"].shape
    assert er[dense][0] == erk[dense][0] == (n_in + n_out) / (n_in * n_out)
    assert all(r == 1.0 for r, _ in C.layer_ratios(model, "uniform").values())
    with pytest.raises(ValueError, match=r"^layer_ratios: mode must be one of \['er', 'erk', 'uniform'\]; got 'random'"):
        C.layer_ratios(model, "random")


def test_report_rows_give_density_as_a_fraction_and_the_table_prints_kib():
    model = mlp()
    _, p, _ = C.sparsify(model, 0.9, "er", np.random.default_rng(0))
    rows = C.structure_report(model, p)
    for r in rows:
        assert r["density"] == pytest.approx(r["active"] / r["dense"], rel=1e-12), r["layer"]
    table = C.format_report(rows)
    fc1 = next(line for line in table.splitlines() if line.split()[:1] == ["fc1"])
    assert f"{rows[0]['dense_bytes'] / 1024:.1f}" in fc1.split() and f"{p['fc1']:.4f}" in fc1.split()


def test_the_report_figure_draws_dense_and_active_weights_per_layer():
    model = mlp()
    _, p, _ = C.sparsify(model, 0.9, "er", np.random.default_rng(0))
    rows = C.structure_report(model, p)
    ax = C.report_figure(rows).axes[0]
    heights = [patch.get_height() for patch in ax.patches]
    assert heights == [r["dense"] for r in rows[:-1]] + [r["active"] for r in rows[:-1]]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["dense weights", "active weights"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["fc1", "fc2", "fc3"]


@pytest.mark.parametrize("where", ["connection_probabilities", "snip_masks"])
def test_a_sparsity_of_one_is_refused_by_name(where):
    x, y = np.zeros((2, 1, 28, 28)), np.array([0, 1])
    call = {"connection_probabilities": lambda: C.connection_probabilities(mlp(), 1.0),
            "snip_masks": lambda: C.snip_masks(mlp(), x, y, 1.0)}[where]
    with pytest.raises(ValueError, match=rf"^{where}: sparsity must be a number in \[0, 1\) \(the fraction of absent weights\); got 1.0$"):
        call()


def test_the_consistency_loss_is_weight_times_the_squared_distance_of_the_two_predictions_per_image():
    model = nc.zoo.small_cnn((1, 8, 8), width=2, seed=0, dtype=np.float64)
    u = np.random.default_rng(1).standard_normal((4, 1, 8, 8))
    L = C.ConsistencyTraining(u, weight=2.0, noise=0.3).consistency_backward(model, u, np.random.default_rng(7))
    rng = np.random.default_rng(7)
    a, b = u + 0.3 * rng.standard_normal(u.shape), u + 0.3 * rng.standard_normal(u.shape)
    d = nc.losses.softmax(model.forward(a)) - nc.losses.softmax(model.forward(b))
    assert L == pytest.approx(2.0 * np.sum(d ** 2) / 4, rel=1e-12)


def test_consistency_training_takes_flat_or_image_batches_and_refuses_anything_else():
    assert C.ConsistencyTraining(np.zeros((5, 64))).unlabelled.shape == (5, 64)
    assert C.ConsistencyTraining(np.zeros((5, 1, 8, 8))).weight == 1.0
    for bad in (np.zeros(5), np.zeros((0, 64)), [[0.0]]):
        with pytest.raises((ValueError, TypeError), match="^ConsistencyTraining: unlabelled"):
            C.ConsistencyTraining(bad)


def test_snip_and_mask_candidate_flags_sparsify_from_the_training_data(capsys):
    data = nc.datasets.load_dataset("digits", seed=0, train_limit=300)
    snip = builder.train_parser().parse_args(["--sparsity", "0.9", "--sparse-mode", "snip", "--seed", "2"])
    model = builder.make_trainer(snip, data).model
    fresh = builder.make_trainer(builder.train_parser().parse_args(["--seed", "2"]), data).model
    want, _ = C.snip_masks(fresh, data.train.x[:256], data.train.y[:256], 0.9)
    for name, mask in want.items():
        np.testing.assert_array_equal(model[name].masks["W"], mask, err_msg=name)
    cands = builder.train_parser().parse_args(["--sparsity", "0.8", "--mask-candidates", "2", "--mask-steps", "3",
                                               "--seed", "2"])
    model = builder.make_trainer(cands, data).model
    out = capsys.readouterr().out
    assert "mask candidates (validation accuracy after 3 iterations): #0:" in out and "#1:" in out
    assert C.structure_report(model)[-1]["density"] == pytest.approx(0.2, abs=0.03)
    with pytest.raises(ValueError, match="^--sparse-mode snip and --mask-candidates measure or train on data"):
        builder.build(snip, data.input_shape, 10)


def test_a_dense_layer_name_that_is_not_a_sparsifiable_layer_is_refused_naming_both():
    with pytest.raises(ValueError, match=r"^solve_sigma: dense layers \['nope'\] are not sparsifiable layers \['fc1', 'fc2', 'fc3'\]"):
        C.connection_probabilities(mlp(), 0.9, dense=("nope",))


def test_mask_selection_returns_the_best_candidates_own_draw():
    data = nc.datasets.load_dataset("digits", seed=0, train_limit=300)

    def make():
        return nc.zoo.mlp(data.input_shape, hidden=(32,), seed=0)
    masks, results = C.select_masks(make, data, 0.8, K=3, steps=5, seed=7, dense=("fc2",))
    best = max(results, key=lambda r: r["val_acc"])["candidate"]
    want, _, _ = C.sparsify(make(), 0.8, "er", np.random.default_rng([7, best]), dense=("fc2",))
    for name in want:
        np.testing.assert_array_equal(masks[name], want[name], err_msg=name)
    assert np.all(masks["fc2"] == 1)
    with pytest.raises(ValueError, match=r"^select_masks: K \(number of mask candidates\) must be a positive integer"):
        C.select_masks(make, data, 0.8, K=0)


def test_sparsify_is_reproducible_by_default_and_passes_the_sampling_on():
    a, _, _ = C.sparsify(mlp(), 0.9)
    b, _, _ = C.sparsify(mlp(), 0.9)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    exact, p, _ = C.sparsify(mlp(), 0.9, sampling="exact", rng=np.random.default_rng(3))
    for name, mask in exact.items():
        assert int(mask.sum()) == round(p[name] * mask.size), name


def test_a_loaded_sparse_model_keeps_its_dtype_and_metadata(tmp_path):
    model = nc.zoo.mlp((1, 28, 28), hidden=(300, 100), seed=0, dtype=np.float64)
    model.metadata = {"dataset": "fashion-mnist", "note": "kept"}
    C.sparsify(model, 0.9, "er", np.random.default_rng(0))
    C.save_sparse_model(tmp_path / "s.npz", model)
    loaded = C.load_sparse_model(tmp_path / "s.npz")
    assert loaded.dtype == np.float64 and all(p.dtype == np.float64 for _, p, _ in loaded.named_parameters())
    assert loaded.metadata["note"] == "kept" and loaded.metadata["dataset"] == "fashion-mnist"


def test_the_report_of_a_model_never_sparsified_shows_every_weight_active_under_its_header():
    rows = C.structure_report(mlp())
    assert all(r["density"] == 1.0 for r in rows)
    lines = C.format_report(rows).splitlines()
    assert lines[0].split() == ["layer", "weights", "active", "density", "p(l)", "dense", "KiB", "CSR", "KiB",
                                "MACs", "dense", "MACs", "sparse"]
    assert set(lines[-2]) == {"-"} and lines[-1].startswith("total")


def test_the_train_flags_sparsify_reproducibly_from_the_seed_and_report_the_probabilities(capsys):
    args = builder.train_parser().parse_args(["--sparsity", "0.9", "--seed", "4"])
    m1, _ = builder.build(args, (1, 8, 8), 10)
    m2, _ = builder.build(args, (1, 8, 8), 10)
    for name in C.masked_layers(m1):
        np.testing.assert_array_equal(m1[name].masks["W"], m2[name].masks["W"])
    _, p, _ = C.sparsify(builder.build(builder.train_parser().parse_args(["--seed", "4"]), (1, 8, 8), 10)[0], 0.9)
    out = capsys.readouterr().out
    first = C.masked_layers(m1)[0]
    rows = [line.split() for line in out.splitlines() if line.split()[:1] == [first]]
    assert rows and all(row[4] == f"{p[first]:.4f}" for row in rows)      # the p(l) column


def test_sparsity_zero_keeps_every_connection():
    p, sigma = C.connection_probabilities(mlp(), 0.0)
    assert all(v == 1.0 for v in p.values()) and sigma > 0
