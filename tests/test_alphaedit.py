"""AlphaEdit on both tiny layouts: the update lies in the preserved keys' null space, the key cache of sequential
editing grows and shields earlier edits, the cache travels in the sequential state, every protocol resets bitwise."""

from __future__ import annotations

import pytest
import torch

from bench.arch import arch_of, module_path
from bench.errors import BenchError
from bench.registry import build_config
from bench.restore import parameter_hash
from editors.alphaedit import AlphaEdit
from editors.alphaedit.alphaedit import CACHE_PREFIX, null_space_projector, projected_delta
from editors.locate.hooks import BLOCK
from editors.locate.keys import read_at_lookup
from editors.locate.requests import requests_from_cases
from tests.protocol_runs import run_every_protocol

FAST = {"v_num_grad_steps": "4", "contexts_per_length": "1"}

pytestmark = pytest.mark.usefixtures("module_stats_cache")


def _weights(editor) -> dict:
    """Each edited site's weight as (out_features, in_features), float64."""
    params = dict(editor.model.named_parameters())
    out = {}
    for site in editor.edited_sites():
        w = params[module_path(editor.model, *site) + ".weight"].detach().double().clone()
        out[site] = w.T if arch_of(editor.model).conv1d else w
    return out


def test_projector_keeps_exactly_the_directions_below_the_threshold():
    torch.manual_seed(0)
    basis, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64))
    values = torch.tensor([5.0, 2.0, 1.0, 1e-3, 1e-4, 0.0], dtype=torch.float64)
    p = null_space_projector(basis @ torch.diag(values) @ basis.T, 1e-2)
    torch.testing.assert_close(p, basis[:, 3:] @ basis[:, 3:].T)
    torch.testing.assert_close(p @ basis[:, :3], torch.zeros(6, 3, dtype=torch.float64))


def test_closed_form_is_the_authors_and_lies_in_the_null_space():
    torch.manual_seed(1)
    k, r = torch.randn(3, 8, dtype=torch.float64), torch.randn(3, 5, dtype=torch.float64)
    null, _ = torch.linalg.qr(torch.randn(8, 5, dtype=torch.float64))
    p, cache = null @ null.T, torch.randn(2, 8, dtype=torch.float64)
    cache = cache.T @ cache
    delta = projected_delta(k, r, p, cache, 0.5)
    # the authors' form, keys as columns: solve(P (K K^T + cache) + L2 I, P K R^T), transposed to (out, in)
    expected = torch.linalg.solve(p @ (k.T @ k + cache) + 0.5 * torch.eye(8, dtype=torch.float64), p @ k.T @ r).T
    torch.testing.assert_close(delta, expected)
    torch.testing.assert_close(delta @ p, delta)  # delta = delta P: nothing outside the null space is touched


def test_update_leaves_the_preserved_keys_outputs_unchanged(tiny_lm, cases):
    editor = AlphaEdit(tiny_lm, build_config(AlphaEdit, FAST))
    digest, before = parameter_hash(tiny_lm.model), _weights(editor)
    editor.edit(cases)
    covs = editor.moments(editor.edited_sites())
    keys, _ = read_at_lookup(editor.scorer, requests_from_cases(cases), editor.contexts, editor.edited_sites())
    threshold = editor.config.nullspace_threshold
    unprojected = AlphaEdit(tiny_lm, build_config(AlphaEdit, {**FAST, "nullspace_threshold": "1e9"}))  # P = I
    plain_deltas = unprojected.compute_deltas(requests_from_cases(cases))
    for site, after in _weights(editor).items():
        delta, cov = after - before[site], covs[site].double()
        values, vectors = torch.linalg.eigh(cov)
        preserved = vectors[:, values >= threshold]  # the directions P annihilates
        assert 0 < preserved.shape[1] < cov.shape[0]
        assert (delta @ preserved).norm() < 1e-6 * delta.norm()  # their outputs are untouched
        plain = plain_deltas[site].double()
        assert (plain @ preserved).norm() > 0.3 * plain.norm()  # without the projection they would change
        # over the statistics' own keys k0: mean ||delta k0||^2 = tr(delta C delta^T) <= threshold ||delta||^2
        assert torch.trace(delta @ cov @ delta.T) <= threshold * delta.norm() ** 2
        edited = keys[site].mean(1).double()
        assert (edited @ delta.T).norm() > 0  # the edited keys' outputs do change
    editor.reset()
    assert parameter_hash(tiny_lm.model) == digest


def test_exact_fit_when_the_null_space_is_everything(tiny_lm, cases):
    """A threshold above every eigenvalue gives P = I; with no prefixes and a tiny l2 the keys' fit is exact."""
    exact = {**FAST, "contexts_per_length": "0", "nullspace_threshold": "1e9", "l2": "1e-9"}
    editor = AlphaEdit(tiny_lm, build_config(AlphaEdit, exact))
    assert set(editor.describe()["null_space_dims"].values()) == {editor.projectors[editor.edited_sites()[0]].shape[0]}
    editor.edit(cases)
    z_site = (editor.config.layers[-1], BLOCK)
    _, h = read_at_lookup(editor.scorer, requests_from_cases(cases), [""], [z_site])
    torch.testing.assert_close(h[z_site][:, 0], editor.last_values.targets[z_site], atol=1e-4, rtol=1e-3)
    editor.reset()


def _earlier_key_change(editor, cases, keep_cache: bool) -> dict:
    """After editing cases[0] then cases[1]: per site, |second update . first edit's key| / |... . its own key|."""
    editor.edit(cases[:1])
    first = _weights(editor)
    k1, _ = read_at_lookup(editor.scorer, requests_from_cases(cases[:1]), editor.contexts, editor.edited_sites())
    traces = {site: float(cache.trace()) for site, cache in editor.cache.items()}
    if not keep_cache:
        for cache in editor.cache.values():
            cache.zero_()
    editor.edit(cases[1:2])
    if keep_cache:
        assert all(float(cache.trace()) > traces[site] > 0 for site, cache in editor.cache.items())  # it grows
    k2, _ = read_at_lookup(editor.scorer, requests_from_cases(cases[1:2]), editor.contexts, editor.edited_sites())
    out = {}
    for site, after in _weights(editor).items():
        delta = after - first[site]
        out[site] = float((k1[site].mean(1).double() @ delta.T).norm() / (k2[site].mean(1).double() @ delta.T).norm())
    editor.reset()
    return out


def test_sequential_cache_shields_the_earlier_edits(tiny_lm, cases):
    editor = AlphaEdit(tiny_lm, build_config(AlphaEdit, FAST))
    editor.edit(cases[:2])
    keys, _ = read_at_lookup(editor.scorer, requests_from_cases(cases[:2]), editor.contexts, editor.edited_sites())
    for site, cache in editor.cache.items():  # the cache is K^T K of the edited keys (lower layers' edits in effect)
        k = keys[site].mean(1).double()
        torch.testing.assert_close(cache.double(), k.T @ k, atol=1e-6, rtol=1e-4)
    editor.reset()
    assert all(not cache.any() for cache in editor.cache.values())
    shielded = _earlier_key_change(editor, cases, keep_cache=True)
    exposed = _earlier_key_change(editor, cases, keep_cache=False)
    for site in shielded:
        assert shielded[site] < 0.02 and shielded[site] < exposed[site] / 5, (site, shielded, exposed)


def test_sequential_state_carries_the_cache(tiny_lm, cases):
    editor = AlphaEdit(tiny_lm, build_config(AlphaEdit, FAST))
    digest = parameter_hash(tiny_lm.model)
    editor.edit(cases[:2])
    state = editor.sequential_state()
    assert {k for k in state if k.startswith(CACHE_PREFIX)} == {f"{CACHE_PREFIX}layer{s[0]}.{s[1]}"
                                                                for s in editor.edited_sites()}
    editor.edit(cases[2:])
    continued = _weights(editor)
    editor.reset()
    resumed = AlphaEdit(tiny_lm, build_config(AlphaEdit, FAST))
    resumed.load_sequential_state(state)
    for site, cache in resumed.cache.items():
        torch.testing.assert_close(cache, state[f"{CACHE_PREFIX}layer{site[0]}.{site[1]}"], atol=0, rtol=0)
    resumed.edit(cases[2:])
    for site, weight in _weights(resumed).items():
        torch.testing.assert_close(weight, continued[site], atol=1e-6, rtol=1e-5)
    resumed.reset()
    assert parameter_hash(tiny_lm.model) == digest


def test_every_protocol_resets_bitwise(tiny_lm, cases, tmp_path):
    editor = AlphaEdit(tiny_lm, build_config(AlphaEdit, FAST))
    assert editor.capabilities.batch and editor.capabilities.sequential
    run_every_protocol(editor, cases, tmp_path / "states")
    assert all(not cache.any() for cache in editor.cache.values())


def test_statistics_are_required(tiny_llama):
    with pytest.raises(BenchError, match="mom2_adjustment=false leaves no key statistics"):
        AlphaEdit(tiny_llama, build_config(AlphaEdit, {**FAST, "mom2_adjustment": "false"}))
