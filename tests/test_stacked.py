"""Stacked training (sparsevae.training.stacked): K models at once, each the run it would be alone.

"Equal" below means equal up to float rounding: the stacked loss runs as batched matrix products,
which sum in another order than one model's, so weights agree to about 1e-6 after a few epochs
(ATOL), not bit for bit.
"""

from __future__ import annotations

import copy
import json

import pytest
import torch

import sparsevae
from sparsevae.errors import ConfigError, RunDirectoryError
from sparsevae.training import TrainConfig, Trainer, TrainingInterrupted, read_metrics
from sparsevae.training.stacked import StackedTrainer

ATOL = 1e-5
SHAPE = (1, 6, 6)


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.rand(90, *SHAPE, generator=generator).round(), torch.rand(
        30, *SHAPE, generator=generator
    ).round()


def build(kind: str, seed: int = 0, **options) -> sparsevae.SparseVAEModel:
    torch.manual_seed(seed)
    return sparsevae.build_model(kind, input_shape=SHAPE, latent_dim=5, hidden=[12], **options)


def configs(**common) -> list[TrainConfig]:
    """Two runs that differ in seed and learning rate."""
    base = {"epochs": 3, "batch_size": 16, "device": "cpu", **common}
    return [TrainConfig(seed=1, lr=1e-3, **base), TrainConfig(seed=7, lr=4e-3, **base)]


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        torch.testing.assert_close(sa[name], sb[name], atol=ATOL, rtol=0, msg=name)


def train_alone(models, cfgs, x, tx=None) -> list[list[dict]]:
    return [Trainer(m, c, progress=False).fit(x, tx) for m, c in zip(models, cfgs, strict=True)]


# The options of the second model differ where its kind lets them (per_model_options).
CASES = {
    "ae": ({}, {}),
    "dae": ({}, {}),
    "sparse-ae": ({"l1": 0.1}, {"l1": 0.4, "l1_warmup": 0.5}),
    "vae": ({}, {}),
    "beta-vae": ({"beta": 2.0}, {"beta": 6.0}),
    "vsc": ({"alpha": 0.2}, {"alpha": 0.6, "sharpness_end": 120.0}),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_stacked_weights_equal_solo_runs(kind, data):
    """Own seed (data order, noise), α/β/l1 and their schedules, learning rate, weight average,
    test evaluation: every run's weights and history equal its solo run's."""
    x, tx = data
    first, second = CASES[kind]
    options = {"sharpness_schedule": "linear"} if kind == "vsc" else {}
    models = [build(kind, 3, **options, **first), build(kind, 4, **options, **second)]
    alone = [copy.deepcopy(m) for m in models]
    cfgs = configs(ema_decay=0.9)
    solo = train_alone(alone, cfgs, x, tx)
    stacked = StackedTrainer(models, cfgs, progress=False).fit(x, tx)
    for a, b, ha, hb in zip(alone, models, solo, stacked, strict=True):
        assert_same_weights(a, b)
        assert not b.training
        for ra, rb in zip(ha, hb, strict=True):
            keys = [k for k in ra if k != "seconds"]
            assert [rb[k] for k in keys] == pytest.approx([ra[k] for k in keys], rel=1e-5)
    # The two runs are different runs, not one run twice.
    assert not torch.allclose(models[0].decoder.net[0].weight, models[1].decoder.net[0].weight)


def test_gradient_clipping_and_kl_warmup_are_per_run(data):
    x, _ = data
    models = [build("vsc", 1, alpha=0.3), build("vsc", 2, alpha=0.3)]
    alone = [copy.deepcopy(m) for m in models]
    cfgs = [
        TrainConfig(epochs=2, batch_size=16, seed=s, grad_clip=0.5, kl_warmup_epochs=w)
        for s, w in ((1, 0.0), (2, 1.5))
    ]
    train_alone(alone, cfgs, x)
    StackedTrainer(models, cfgs, progress=False).fit(x)
    for a, b in zip(alone, models, strict=True):
        assert_same_weights(a, b)


def test_run_directories_load_and_resume_like_solo_runs(data, tmp_path):
    """Each run writes its own directory: it loads, and a stack resumed from them ends where
    uninterrupted solo runs do; one of them also resumes alone with the solo trainer."""
    x, _ = data
    cfgs = configs(ema_decay=0.9)
    dirs = [tmp_path / "a", tmp_path / "b"]
    # (A constant sharpness: a schedule spans the planned epochs, which the resume changes.)
    models = [
        build("vsc", s, alpha=a, sharpness_schedule="constant") for s, a in ((1, 0.2), (2, 0.5))
    ]
    alone = [copy.deepcopy(m) for m in models]
    train_alone(alone, cfgs, x)
    short = [TrainConfig(**{**c.__dict__, "epochs": 2}) for c in cfgs]
    StackedTrainer(models, short, run_dirs=dirs, progress=False).fit(x)
    for d in dirs:
        assert [r["epoch"] for r in read_metrics(d)] == [1, 2]
        assert sparsevae.load(d).kind == "vsc"
        assert json.loads((d / "config.json").read_text())["training"]["epochs"] == 2
    again = [build("vsc", 9, alpha=a, sharpness_schedule="constant") for a in (0.2, 0.5)]
    StackedTrainer(again, cfgs, run_dirs=dirs, progress=False).fit(x, resume=True)
    for a, b, d in zip(alone, again, dirs, strict=True):
        assert_same_weights(a, b)
        assert_same_weights(a, sparsevae.load(d))
        assert [r["epoch"] for r in read_metrics(d)] == [1, 2, 3]
    # A stacked run's checkpoint is an ordinary one: the solo trainer resumes it too.
    longer = TrainConfig(**{**cfgs[1].__dict__, "epochs": 4})
    Trainer(
        build("vsc", 9, alpha=0.5, sharpness_schedule="constant"),
        longer,
        run_dir=dirs[1],
        progress=False,
    ).fit(x, resume=True)
    assert [r["epoch"] for r in read_metrics(dirs[1])] == [1, 2, 3, 4]


def test_interrupted_stack_resumes_exactly(data, tmp_path, monkeypatch):
    x, _ = data
    cfgs = configs(ema_decay=0.9)
    dirs = [tmp_path / "a", tmp_path / "b"]
    models = [build("vae", 1), build("vae", 2, beta=1.0)]
    alone = [copy.deepcopy(m) for m in models]
    train_alone(alone, cfgs, x)
    stack = StackedTrainer(models, cfgs, run_dirs=dirs, progress=False)
    step, calls = StackedTrainer.step, []

    def ctrl_c_after_eight(self, *args):
        calls.append(1)
        if len(calls) == 8:  # epoch 2, batch 2 of 6: Ctrl-C arrives during this step
            self._ctrl_c.requested = True
        return step(self, *args)

    monkeypatch.setattr(StackedTrainer, "step", ctrl_c_after_eight)
    with pytest.raises(TrainingInterrupted) as caught:
        stack.fit(x)
    assert (caught.value.epoch, caught.value.batch) == (1, 2)
    monkeypatch.setattr(StackedTrainer, "step", step)
    resumed = [build("vae", 5), build("vae", 5)]
    StackedTrainer(resumed, cfgs, run_dirs=dirs, progress=False).fit(x, resume=True)
    for a, b, d in zip(alone, resumed, dirs, strict=True):
        assert_same_weights(a, b)
        assert [r["epoch"] for r in read_metrics(d)] == [1, 2, 3]


def test_runs_saved_at_different_points_are_not_resumed_together(data, tmp_path):
    x, _ = data
    dirs = [tmp_path / "a", tmp_path / "b"]
    for d, epochs in zip(dirs, (1, 2), strict=True):
        Trainer(build("ae"), TrainConfig(epochs=epochs), run_dir=d, progress=False).fit(x)
    cfgs = [TrainConfig(epochs=3, seed=s) for s in (0, 1)]
    with pytest.raises(RunDirectoryError, match="different points"):
        StackedTrainer([build("ae"), build("ae")], cfgs, run_dirs=dirs).fit(x, resume=True)


@pytest.mark.parametrize(
    "models,cfgs,match",
    [
        (lambda: [build("ae"), build("vae")], None, "one kind of model"),
        (lambda: [build("vsc"), build("vsc", latent_dim_extra=True)], None, "differ in"),
        (lambda: [build("cauchy-vae"), build("cauchy-vae")], None, "cannot be trained in a stack"),
        (
            lambda: [build("ae"), build("ae")],
            [TrainConfig(), TrainConfig(epochs=2)],
            "share epochs",
        ),
        (lambda: [build("ae")], [TrainConfig(nan_policy="skip")], "skip is per run"),
    ],
)
def test_models_that_cannot_share_a_stack_are_refused(models, cfgs, match, monkeypatch):
    def build_other(kind, seed=0, latent_dim_extra=False, **options):
        return sparsevae.build_model(
            kind, input_shape=SHAPE, latent_dim=7 if latent_dim_extra else 5, hidden=[12]
        )

    monkeypatch.setitem(globals(), "build", build_other)
    built = models()
    with pytest.raises(ConfigError, match=match):
        StackedTrainer(built, cfgs or [TrainConfig() for _ in built])


def test_noise_outside_the_noise_module_is_an_error_in_a_stack():
    """A random call the stack cannot give each model its own draws for fails loudly."""
    from torch.func import vmap

    from sparsevae.noise import per_model_noise, standard_normal

    generators = [torch.Generator().manual_seed(s) for s in (3, 4)]
    with per_model_noise(generators):
        draws = vmap(lambda x: standard_normal((2,), x), randomness="error")(torch.zeros(2, 1))
        with pytest.raises(RuntimeError, match="random"):
            vmap(lambda x: torch.randn(2), randomness="error")(torch.zeros(2, 1))
    alone = [torch.randn(2, generator=torch.Generator().manual_seed(s)) for s in (3, 4)]
    assert torch.equal(draws, torch.stack(alone))
