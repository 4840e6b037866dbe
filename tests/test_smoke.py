"""Fast end-to-end checks that the core fits together (run before every commit)."""

import numpycnn as nc
from numpycnn.lab.gradcheck_table import gradcheck_table


def test_every_layer_passes_the_gradcheck_table():
    assert gradcheck_table(seed=0, verbose=False)


def test_small_cnn_learns_digits_in_a_few_epochs():
    data = nc.datasets.load_dataset("digits", seed=0)
    model = nc.zoo.small_cnn(data.input_shape, seed=0)
    trainer = nc.Trainer(model, nc.optim.Adam(model, lr=3e-3), batch_size=32, progress=False)
    trainer.fit(data.train, data.val, epochs=3)
    assert model.evaluate(data.test.x, data.test.y)["accuracy"] > 0.85
