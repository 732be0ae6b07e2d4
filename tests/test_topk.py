"""The k-sparse (TopK) autoencoder: exactly k active elements chosen per input, AuxK, schedules."""

import pytest
import torch

import sparsevae
from sparsevae.errors import ConfigError
from sparsevae.models.topk import top_k

SHAPE = (1, 8, 8)


def model(**options):
    torch.manual_seed(0)
    options = {"input_shape": SHAPE, "latent_dim": 12, "hidden": [16], "k": 3, **options}
    return sparsevae.TopKAutoencoder(**options)


def test_top_k_keeps_the_k_largest_after_relu():
    pre = torch.tensor([[3.0, -1.0, 2.0, 0.5], [-3.0, -2.0, -1.0, 4.0]])
    assert torch.equal(top_k(pre, 2), torch.tensor([[3.0, 0, 2.0, 0], [0, 0, 0, 4.0]]))


def test_code_has_at_most_k_non_zeros_chosen_per_input():
    m = model().eval()
    x = torch.rand(50, *SHAPE)
    code = m.encode(x)
    assert ((code != 0).sum(1) <= 3).all() and (code >= 0).all()
    scores, values = m.pre_activations(x)  # chosen by the normalised, holding the raw values
    chosen = scores.topk(3, dim=1).indices
    expected = torch.zeros_like(values).scatter(1, chosen, torch.relu(values.gather(1, chosen)))
    assert torch.equal(code, expected)
    normalized = model(values="normalized").eval()
    scores, values = normalized.pre_activations(x)
    assert torch.equal(values, scores) and torch.equal(normalized.encode(x), top_k(scores, 3))
    # different inputs use different elements: a choice per input, not a global one
    assert len({tuple(row.nonzero().flatten().tolist()) for row in code}) > 1


def test_latents_count_as_dead_after_dead_after_examples_without_activity():
    m = model(dead_after=100, select="raw", values="raw").train()
    with torch.no_grad():
        m.to_code.bias[:4] = -1e3  # four latents that can never win
    for _ in range(3):
        m.loss(torch.rand(40, *SHAPE))
    dead = m.dead_latents()
    assert dead[:4].all() and int(m.since_active[0]) == 120
    assert not dead[4:].all()  # the winners were active within the last 100 examples


def test_aux_loss_is_zero_without_dead_latents_and_revives_them_otherwise():
    m = model(dead_after=10**9, select="raw", values="raw").train()
    out = m.loss(torch.rand(20, *SHAPE))
    assert out.terms["aux"] == 0 and torch.equal(out.loss, out.terms["recon"])
    m = model(dead_after=1000, aux_k=2, select="raw", values="raw").train()
    with torch.no_grad():
        m.since_active[:4] = 1000  # four dead latents
    m.zero_grad()
    out = m.loss(torch.rand(20, *SHAPE))
    assert out.terms["aux"] > 0
    assert torch.isclose(out.loss, out.terms["recon"] + out.terms["aux"] / 32)
    m.zero_grad()
    out.terms["aux"].backward()
    grad = m.to_code.weight.grad.abs().sum(1)
    assert (grad[4:] == 0).all() and (grad[:4] > 0).any()  # only the dead latents learn from it


def test_normalised_pre_activations_let_every_latent_win_for_some_inputs():
    x = torch.rand(200, *SHAPE)
    for pre_norm in (False, True):
        scale = "normalized" if pre_norm else "raw"
        m = model(select=scale, values=scale).train()
        with torch.no_grad():
            m.to_code.bias[:4] = -1e3  # four latents far below the others for every input
        used = (m.encode(x) != 0).any(0)
        assert bool(used.all()) == pre_norm  # without the norm those four never win
        assert bool(used[:4].any()) == pre_norm


def test_k_schedule_falls_from_k_start_to_k_over_the_first_half():
    m = model(k=3, k_start=11)
    assert m.update_schedules(0.0).values == {"k": 11.0}
    assert m.update_schedules(0.25).values == {"k": 7.0}
    assert m.update_schedules(0.5).values == {"k": 3.0} and m.k == 3
    assert m.update_schedules(0.9).values == {"k": 3.0}
    assert model().update_schedules(0.3).values == {}


def test_linear_decoder_has_unit_norm_atoms_and_is_affine():
    m = model(linear_decoder=True, likelihood="gaussian").eval()
    atoms = m.decoder.atoms()
    assert atoms.shape == (64, 12)
    assert torch.allclose(atoms.norm(dim=0), torch.ones(12))
    z = torch.rand(5, 12)
    expected = (z @ atoms.T + m.decoder.bias).view(5, *SHAPE)
    assert torch.allclose(m.decode(z), expected, atol=1e-6)


@pytest.mark.parametrize(
    "options,match",
    [({"k": 0}, "k must be"), ({"k": 13}, "k must be"), ({"k_start": 2}, "k_start")],
)
def test_bad_options(options, match):
    with pytest.raises(ConfigError, match=match):
        model(**options)


def test_training_lowers_the_reconstruction_error():
    torch.manual_seed(1)
    atoms = torch.rand(24, 64)
    weights = torch.zeros(600, 24).scatter_(1, torch.randint(0, 24, (600, 2)), 1.0)
    x = (weights @ atoms / 2).clamp(0, 1).reshape(-1, *SHAPE)
    m = model(latent_dim=24, hidden=[64], k=2, dead_after=600, likelihood="gaussian")
    history = sparsevae.fit(m, x[:500], x[500:], epochs=5, batch_size=20, progress=False)
    assert history[-1]["test/recon"] < history[0]["test/recon"] - 1.0
    assert {"train/aux", "test/aux"} <= set(history[-1])


def test_a_training_batch_of_one_example_is_normalised_with_the_running_statistics():
    m = model().train()
    out = m.loss(torch.rand(1, *SHAPE))  # BatchNorm alone would refuse a batch of one
    assert torch.isfinite(out.loss)
    history = sparsevae.fit(model(), torch.rand(33, *SHAPE), epochs=1, progress=False)
    assert len(history) == 1  # 33 examples at batch 32: the last batch holds one
