"""The closed forms meet their constraints."""

from __future__ import annotations

import torch

from editors.locate.update import rank_one_delta, spread_delta


def _spd(d, gen):
    a = torch.randn(d, 3 * d, generator=gen, dtype=torch.float64)
    return a @ a.T / (3 * d)


def test_rank_one_hits_target_and_spares_c_orthogonal_keys():
    gen = torch.Generator().manual_seed(0)
    d_in, d_out = 12, 7
    cov = _spd(d_in, gen)
    k_mean = torch.randn(d_in, generator=gen, dtype=torch.float64)
    anchor = k_mean + 0.1 * torch.randn(d_in, generator=gen, dtype=torch.float64)
    r = torch.randn(d_out, generator=gen, dtype=torch.float64)
    delta = rank_one_delta(k_mean, anchor, r, cov)
    assert delta.shape == (d_out, d_in)
    torch.testing.assert_close(delta @ anchor, r)
    other = torch.randn(d_in, generator=gen, dtype=torch.float64)
    u = torch.linalg.solve(cov, k_mean)
    other -= (other @ u) / (k_mean @ u) * k_mean  # now u . other == 0
    torch.testing.assert_close(delta @ other, torch.zeros(d_out, dtype=torch.float64), atol=1e-10, rtol=0)


def test_rank_one_identity_covariance_is_along_the_key():
    k = torch.tensor([1.0, 2.0, 0.0])
    delta = rank_one_delta(k, k, torch.tensor([3.0]), None)
    torch.testing.assert_close(delta, torch.tensor([[3.0, 6.0, 0.0]], dtype=torch.float64) / 5)


def test_spread_solves_the_regularised_least_squares():
    gen = torch.Generator().manual_seed(1)
    n, d_in, d_out, lam = 4, 10, 6, 3.0
    keys = torch.randn(n, d_in, generator=gen, dtype=torch.float64)
    res = torch.randn(n, d_out, generator=gen, dtype=torch.float64)
    cov = _spd(d_in, gen)
    delta = spread_delta(keys, res, cov, lam)
    grad = (delta @ keys.T - res.T) @ keys + lam * delta @ cov  # zero at the optimum
    torch.testing.assert_close(grad, torch.zeros_like(grad), atol=1e-9, rtol=0)
    exact = spread_delta(keys, res, None, 1e-9)  # lambda -> 0: the keys map to their residuals
    torch.testing.assert_close(exact @ keys.T, res.T, atol=1e-6, rtol=0)
