"""The paper's loss (Eq. 6-8), the MSE of ref. [20] and the fair MSE against hand-computed values."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from csi.losses import (
    DEFAULT_PHI,
    LOSSES,
    cosine_loss,
    cosine_similarity,
    fingerprint_scale,
    mse_loss,
    mse_std_loss,
)


def test_cosine_similarity_by_hand():
    x = torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 0.0]])
    y = torch.tensor([[4.0, 3.0], [-2.0, 0.0], [1.0, 1.0]])
    # 24/25, -1, zero vector -> 0
    assert torch.allclose(cosine_similarity(x, y), torch.tensor([24 / 25, -1.0, 0.0]), atol=1e-6)


def test_cosine_loss_hand_values():
    # rho values: 0.6, -0.6, 0.6, -0.6, 1, -1 (vectors chosen so rho is exact)
    a = torch.tensor([3.0, 4.0])
    b_pos = torch.tensor([5.0, 0.0])  # rho(a, b_pos) = 3/5
    x = torch.stack([a, a, a, a, a, a]).reshape(6, 1, 1, 2)
    y = torch.stack([b_pos, -b_pos, b_pos, -b_pos, a, -a]).reshape(6, 1, 1, 2)
    label = torch.tensor([1, 1, 0, 0, 1, 0])
    phi = -0.5
    per = cosine_loss(x, y, label, phi=phi, reduction="none")
    expected = [
        1 - 0.6,  # Eq. 8
        1 + 0.6,  # Eq. 8, negative rho gives > 1
        0.6,  # Eq. 7, rho > 0: |rho|
        -0.6 * phi + 0.6,  # Eq. 7, rho < 0: rho*phi + |rho| = 0.9
        0.0,
        -1.0 * phi + 1.0,
    ]
    assert np.allclose(per.numpy(), expected, atol=1e-6)
    assert cosine_loss(x, y, label, phi=phi).item() == pytest.approx(np.mean(expected), abs=1e-6)


def test_default_phi_punishes_negative_correlation_harder():
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    y = torch.tensor([[1.0, 1.0], [-1.0, -1.0]])  # rho = +/- 1/sqrt(2)
    per = cosine_loss(x, y, torch.tensor([0, 0]), reduction="none")
    r = 1 / math.sqrt(2)
    assert DEFAULT_PHI < 0
    assert per[0].item() == pytest.approx(r)
    assert per[1].item() == pytest.approx(r * (1 - DEFAULT_PHI))
    assert per[1] > per[0]


def _slow_reference(x, y, label, phi):
    """Eq. 6 from the formula, one sample at a time, in float64 numpy."""
    out = []
    for xi, yi, li in zip(x, y, label, strict=True):
        xi, yi = xi.ravel().astype(np.float64), yi.ravel().astype(np.float64)
        den = np.linalg.norm(xi) * np.linalg.norm(yi)
        rho = 0.0 if den == 0 else float(xi @ yi / den)
        out.append(li * max(1 - rho, 0) + (1 - li) * (min(rho, 0) * phi + abs(rho)))
    return np.mean(out)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(0, 2**16), st.floats(-2, 1))
def test_cosine_loss_matches_reference(n, seed, phi):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 1, 4, 5)).astype(np.float32)
    y = (0.5 * x + rng.normal(size=x.shape)).astype(np.float32)
    label = rng.integers(0, 2, n)
    got = cosine_loss(torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(label), phi=phi).item()
    assert got == pytest.approx(_slow_reference(x, y, label, phi), rel=1e-5, abs=1e-6)


def test_cosine_loss_is_scale_invariant_and_has_gradient():
    torch.manual_seed(0)
    x = torch.randn(4, 1, 8, 8, requires_grad=True)
    y = torch.randn(4, 1, 8, 8)
    lab = torch.tensor([1, 0, 1, 0])
    loss = cosine_loss(x, y, lab)
    assert cosine_loss(x * 7.0, y, lab).item() == pytest.approx(loss.item(), rel=1e-5)
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_mse_by_hand():
    x = torch.tensor([[1.0, 3.0], [0.0, 0.0]])
    y = torch.tensor([[0.0, 1.0], [2.0, 2.0]])
    assert torch.allclose(mse_loss(x, y, reduction="none"), torch.tensor([2.5, 4.0]))
    assert mse_loss(x, y).item() == pytest.approx(3.25)
    # with labels: only label-1 samples count (ref. [20] regresses onto the own fingerprint)
    assert mse_loss(x, y, torch.tensor([1, 0])).item() == pytest.approx(2.5)
    assert mse_loss(x, y, torch.tensor([0, 0])).item() == 0.0


def test_loss_input_errors():
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="same shape"):
        cosine_loss(x, torch.zeros(2, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="label"):
        cosine_loss(x, x, torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="label must have shape"):
        cosine_loss(x, x, torch.tensor([0, 1, 1]))
    with pytest.raises(TypeError, match="torch tensors"):
        mse_loss(np.zeros((2, 3)), x)


def test_mse_std_by_hand():
    # target_std 0.5: the targets become [0, 2] and [4, 4]
    x = torch.tensor([[1.0, 3.0], [0.0, 0.0]])
    y = torch.tensor([[0.0, 1.0], [2.0, 2.0]])
    per = mse_std_loss(x, y, target_std=0.5, reduction="none")
    assert torch.allclose(per, torch.tensor([((1 - 0) ** 2 + (3 - 2) ** 2) / 2, 16.0]))
    assert mse_std_loss(x, y, torch.tensor([1, 0]), target_std=0.5).item() == pytest.approx(1.0)
    assert mse_std_loss(x, y, torch.tensor([0, 0]), target_std=0.5).item() == 0.0
    # with target_std 1 it is ref. [20]'s MSE
    assert mse_std_loss(x, y, target_std=1.0).item() == pytest.approx(mse_loss(x, y).item())
    with pytest.raises(ValueError, match="target_std"):
        mse_std_loss(x, y, target_std=0.0)
    assert "mse-std" in LOSSES and {"cosine", "mse"} <= set(LOSSES)


def test_mse_std_measures_the_fit_not_the_output_scale():
    """ref. [20]'s MSE falls by shrinking the output; with the std unit the minimum is at rho, not at 0."""
    g = torch.Generator().manual_seed(0)
    k = torch.randn(64, 1, 32, 32, generator=g) * 0.01  # fingerprint patches, std 0.01
    noise = torch.randn(64, 1, 32, 32, generator=g)
    out = 0.2 * k / 0.01 + noise  # an output of std ~1 with correlation ~0.2 to the fingerprint
    lab = torch.ones(64)
    scales = torch.tensor([1.0, 0.5, 0.2, 0.05, 0.0])
    raw = [mse_loss(out * a, k, lab).item() for a in scales]
    fair = [mse_std_loss(out * a, k, lab, target_std=0.01).item() for a in scales]
    assert raw[-1] == min(raw)  # the raw MSE is best for a zero output: it cannot judge the fit
    assert int(np.argmin(fair)) == 2  # the fair MSE is best near s = rho = 0.2 ...
    assert min(fair) == pytest.approx(1 - 0.2**2 / (1 + 0.2**2), abs=0.03)  # ... at 1 - rho^2


def test_fingerprint_scale_by_hand():
    K = {"a": np.array([[3.0, -3.0]]), "b": np.array([[0.0, 0.0], [0.0, 0.0]])}
    # pooled: sum of squares 18 over 6 values
    assert fingerprint_scale(K) == pytest.approx(np.sqrt(18 / 6))
    assert fingerprint_scale([np.full((4, 4), -2.0)]) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="empty"):
        fingerprint_scale({})
    with pytest.raises(ValueError, match="zero"):
        fingerprint_scale([np.zeros((2, 2))])
    with pytest.raises(ValueError, match="NaN"):
        fingerprint_scale([np.array([np.nan])])
