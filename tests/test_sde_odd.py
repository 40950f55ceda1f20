"""The odd-field case of experiment sde (issue 16, part 4; P2's first figure): the antipodal
fractions, the oddness of the field, the claim and the figure on cases with a known answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sde_synthetic import synthetic_odd

from attnlimits.analysis.claims import judge_tables
from attnlimits.sde.claims import CLAIMS, sde_claims
from attnlimits.sde.discrete import brownian_normals, simulate
from attnlimits.sde.dynamics import Attention
from attnlimits.sde.field import GaussianField, zonal_kernel
from attnlimits.sde.odd import antipodal_fractions, pair_cosines
from attnlimits.sde.odd_plots import odd_figure, oriented_projections
from attnlimits.sde.runs.odd import run_odd

OPTIONS = {
    "bootstrap": 50, "bootstrap_seed": 3, "level": 0.95, "cluster_angle": 0.1,
    "antipodal_threshold": 0.5,
}  # fmt: skip


def test_antipodal_fractions_tell_two_clusters_from_one():
    p = np.array([0.0, 0.0, 1.0])
    two = np.stack([p, p, -p, p + [0.01, 0, 0]])
    two /= np.linalg.norm(two, axis=-1, keepdims=True)
    one = np.abs(two)
    spread = np.eye(3)[[0, 1, 2, 0]] * [[1], [1], [1], [-1]]
    two_share, one_share = antipodal_fractions(np.stack([two, one, spread]), 0.1)
    # the third system has only tokens 0 and 3 (±e₀) on its axis: half of them, two clusters
    np.testing.assert_allclose(two_share, [1.0, 0.0, 0.5])
    np.testing.assert_allclose(one_share, [0.0, 1.0, 0.0])
    assert pair_cosines(two).shape == (6,)


def test_the_odd_field_keeps_antipodal_tokens_antipodal():
    d, x = 4, torch.tensor([[1.0, 0, 0, 0], [0.6, 0.8, 0, 0]], dtype=torch.float64)
    x0 = torch.cat([x, -x]).unsqueeze(0)  # tokens 2, 3 antipodal to 0, 1
    xi = brownian_normals(0, [0], 50, 4, d)
    attn = Attention.identity(d, 1.0, 0.0)
    odd = simulate(x0, attn, 0.05, GaussianField(zonal_kernel("tanh", d, 0.0, 0.0)), xi)
    # to the square root of rounding (K is singular: the root of its ~1e-16 eigenvalues)
    np.testing.assert_allclose(odd[0, -1, 2:], -odd[0, -1, :2], atol=1e-6)
    biased = simulate(x0, attn, 0.05, GaussianField(zonal_kernel("tanh", d, 0.5, 0.5)), xi)
    assert float((biased[0, -1, 2:] + biased[0, -1, :2]).abs().max()) > 1e-3


def test_run_odd_records_tokens_on_the_sphere():
    spec = {
        "activation": "tanh", "d": 4, "sigma": 0.0, "attention_sign": 0, "beta": 1.0,
        "seed": 0, "N": 4, "paths": 3, "horizon": 1.0, "dt": 0.2, "records": 3,
    }  # fmt: skip
    ds = run_odd(spec)
    assert ds["tokens"].dims == ("time", "path", "token", "component")
    assert ds.sizes["time"] == 3 and ds.attrs["odd_field"] is True
    np.testing.assert_allclose(np.linalg.norm(ds["tokens"].values, axis=-1), 1.0)
    assert ds["energy"].shape == (3, 3)


def _claims(stores):
    tables = sde_claims([], [], [], [], OPTIONS, None, stores)
    return judge_tables(tables, CLAIMS, {}, OPTIONS)


@pytest.mark.parametrize(
    ("store", "status", "observed"),
    [
        (synthetic_odd(), "as predicted", "two antipodal clusters"),
        (synthetic_odd(odd=False, clusters=1), "as predicted", "one cluster"),
        (synthetic_odd(clusters=1), "contradicted", "one cluster"),  # odd field, one cluster
        (synthetic_odd(odd=False, clusters=2), "contradicted", "two antipodal clusters"),
        (synthetic_odd(sign=1), "outside the premise", "two antipodal clusters"),
        (synthetic_odd(odd=False, lambda_bar=0.3), "outside the premise", "two antipodal clusters"),
        (synthetic_odd(clusters=0), "unresolved", "no clusters"),  # not clustered yet
    ],
)
def test_antipodal_claim(store, status, observed):
    row = _claims([store])["claims"].iloc[0]
    assert row["claim"] == "antipodal" and row["observed"] == observed
    assert row["status"] == status


def test_odd_table_and_figure():
    stores = [synthetic_odd(), synthetic_odd(activation="sigmoid", odd=False, clusters=1)]
    tables = _claims(stores)
    table = tables["odd_clusters"]
    last = table[table["time"] == table["time"].max()].set_index("activation")
    assert last.loc["tanh", "two"] == 1.0 and last.loc["sigmoid", "one"] == 1.0
    fig = odd_figure(tables, stores)
    left, middle, right = fig.axes[:3]
    assert len(left.get_lines()) == 4  # two fractions per row
    two = [line for line in left.get_lines() if "tanh" in line.get_label()][0]
    np.testing.assert_allclose(two.get_ydata(), table[table["activation"] == "tanh"]["two"])
    # the odd row's cosines at the last time: mass at −1 and +1 only
    heights = middle.patches[0].get_path().vertices
    assert heights[:, 1].max() > 0
    projected = np.array([line.get_ydata()[-1] for line in right.get_lines()])
    np.testing.assert_allclose(np.abs(projected), 1.0, atol=1e-3)
    # oriented towards token 0: tokens 0, 1 (flipped to −p) at +1, the four others at −1
    np.testing.assert_array_equal(projected > 0, [True, True, False, False, False, False])


def test_oriented_projections_follow_the_first_token():
    x = np.array([[[0.0, -1.0], [0.0, 1.0]]])
    np.testing.assert_allclose(oriented_projections(x), [[1.0, -1.0]])
