"""CSI-CNN (Table 1), DnCNN, BN folding and tiled inference."""

import numpy as np
import pytest
import torch
from torch import nn

from csi.models import (
    CSICNN,
    TABLE1_ROWS,
    DnCNN,
    count_parameters,
    export_inference_model,
    flops_per_pixel,
    fold_bn,
    predict_tiled,
    receptive_radius,
)


def _randomise_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial statistics and affine parameters (fresh ones are identity-like)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.rand(n, generator=g) * 0.4 - 0.2)
    return model.eval()


def test_total_parameters_is_table1_sum():
    assert count_parameters(CSICNN()) == 47628
    assert sum(n for _, _, n in TABLE1_ROWS) == 47628


@pytest.mark.parametrize("name,label,expected", [r for r in TABLE1_ROWS if r[2] > 0])
def test_every_table1_row(name, label, expected):
    module = getattr(CSICNN(), name)
    assert count_parameters(module) == expected, label


def test_table1_layer_geometry_and_bias():
    net = CSICNN()
    expect = {  # name: (in, out, kernel, bias)
        "conv1": (3, 128, 3, True), "conv2": (128, 32, 1, False), "conv3": (32, 32, 3, False),
        "conv4": (32, 128, 1, False), "conv5": (128, 3, 3, True), "conv6": (3, 128, 3, True),
        "conv7": (128, 32, 1, False), "conv8": (32, 32, 3, False), "conv9": (32, 128, 1, False),
        "conv10": (128, 1, 3, True),
    }
    for name, (cin, cout, k, bias) in expect.items():
        c = getattr(net, name)
        assert (c.in_channels, c.out_channels, c.kernel_size, c.bias is not None) == (cin, cout, (k, k), bias), name
        assert c.padding == ((k // 2, k // 2)), name
    # BN feature counts in Table 1 order
    bns = [m.num_features for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns == [128, 32, 32, 128, 3, 128, 32, 32, 1]


def _reference_forward(net: CSICNN, x: torch.Tensor) -> torch.Tensor:
    """Table 1 written out row by row with torch.nn.functional, independently of CSICNN.forward."""
    F = torch.nn.functional

    def bn(m, t):
        return F.batch_norm(t, m.running_mean, m.running_var, m.weight, m.bias, False, 0.0, m.eps)

    def conv(m, t):
        return F.conv2d(t, m.weight, m.bias, padding=m.kernel_size[0] // 2)

    h = F.relu(bn(net.bn1, conv(net.conv1, x)))
    b = F.relu(bn(net.bn2, conv(net.conv2, h)))
    b = F.relu(bn(net.bn3, conv(net.conv3, b)))
    h = bn(net.bn4, conv(net.conv4, b) + h)  # ADD, then BatchNorm
    s = F.relu(bn(net.bn5, conv(net.conv5, h)))
    r = F.relu(x - s)  # Function sub, ReLU
    h = F.relu(bn(net.bn6, conv(net.conv6, r)))
    b = F.relu(bn(net.bn7, conv(net.conv7, h)))
    b = F.relu(bn(net.bn8, conv(net.conv8, b)))
    h = conv(net.conv9, b) + h  # ADD
    return bn(net.bn10, conv(net.conv10, h))


def test_forward_follows_table1_order():
    torch.manual_seed(0)
    net = _randomise_bn(CSICNN())
    x = torch.rand(2, 3, 24, 20)
    with torch.no_grad():
        assert torch.allclose(net(x), _reference_forward(net, x), atol=1e-6)


def test_training_forward_and_gradients_equal_the_reference():
    """The in-place ReLU/ADD of CSICNN.forward (speed) give exactly the out-of-place maths, in training mode."""
    torch.manual_seed(5)
    net = CSICNN().train()
    x = torch.rand(3, 3, 20, 24)
    g = torch.randn(3, 1, 20, 24)
    ref_net = CSICNN().train()
    ref_net.load_state_dict(net.state_dict())

    def train_bn_reference(m, t):  # Table 1 row by row with batch statistics (training-mode BatchNorm)
        F = torch.nn.functional
        bn = lambda b, u: F.batch_norm(u, None, None, b.weight, b.bias, True, 0.0, b.eps)  # noqa: E731
        conv = lambda c, u: F.conv2d(u, c.weight, c.bias, padding=c.kernel_size[0] // 2)  # noqa: E731
        h = F.relu(bn(m.bn1, conv(m.conv1, t)))
        b = F.relu(bn(m.bn2, conv(m.conv2, h)))
        b = F.relu(bn(m.bn3, conv(m.conv3, b)))
        h = bn(m.bn4, conv(m.conv4, b) + h)
        s = F.relu(bn(m.bn5, conv(m.conv5, h)))
        r = F.relu(t - s)
        h = F.relu(bn(m.bn6, conv(m.conv6, r)))
        b = F.relu(bn(m.bn7, conv(m.conv7, h)))
        b = F.relu(bn(m.bn8, conv(m.conv8, b)))
        h = conv(m.conv9, b) + h
        return bn(m.bn10, conv(m.conv10, h))

    out = net(x)
    ref = train_bn_reference(ref_net, x)
    assert torch.allclose(out, ref, atol=1e-5)
    (out * g).sum().backward()
    (ref * g).sum().backward()
    for (name, p), q in zip(net.named_parameters(), ref_net.parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, rtol=1e-4, atol=1e-5), name


def test_relu_after_sub_flag_changes_the_function():
    torch.manual_seed(1)
    a = _randomise_bn(CSICNN(relu_after_sub=True))
    b = CSICNN(relu_after_sub=False)
    b.load_state_dict(a.state_dict())
    b.eval()
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        # stage 1 output made larger than the input somewhere, so the sub is negative there
        assert (x - a.stage1(x) < 0).any()
        assert not torch.allclose(a(x), b(x))


def test_fully_convolutional_any_size():
    net = CSICNN().eval()
    with torch.no_grad():
        for h, w in ((17, 33), (64, 48), (5, 9)):
            assert net(torch.rand(1, 3, h, w)).shape == (1, 1, h, w)
    with pytest.raises(ValueError, match="N, 3, H, W"):
        net(torch.rand(1, 1, 8, 8))


def test_dncnn_parameter_count_and_shape():
    assert count_parameters(DnCNN()) == 556096  # "about 556k", 17 x 64, gray
    d = DnCNN(depth=6, width=16, channels=3)
    # 3->16 (+bias), 4 x (16->16 no bias + BN), 16->3 no bias
    assert count_parameters(d) == 3 * 9 * 16 + 16 + 4 * (16 * 16 * 9 + 32) + 16 * 9 * 3
    assert d(torch.rand(2, 3, 11, 13)).shape == (2, 3, 11, 13)
    with pytest.raises(ValueError, match="depth"):
        DnCNN(depth=1)


def test_fold_bn_matches_conv_then_bn():
    torch.manual_seed(2)
    conv = nn.Conv2d(4, 6, 3, padding=1, bias=False)
    bn = _randomise_bn(nn.BatchNorm2d(6))
    x = torch.randn(2, 4, 9, 9)
    w_before = conv.weight.clone()
    with torch.no_grad():
        assert torch.allclose(fold_bn(conv, bn)(x), bn(conv(x)), atol=1e-5)
    assert torch.equal(conv.weight, w_before)  # input not mutated


@pytest.mark.parametrize("model", [CSICNN(), CSICNN(relu_after_sub=False), DnCNN(depth=5, width=16)])
def test_export_inference_model_equals_eager(model):
    torch.manual_seed(3)
    model = _randomise_bn(model)
    c = 3 if isinstance(model, CSICNN) else 1
    x = torch.rand(2, c, 40, 52)
    fused = export_inference_model(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    with torch.inference_mode():
        ref, got = model(x), fused(x)
    rel = (got - ref).abs().max() / ref.abs().max()
    assert rel < 1e-4


def test_fused_channels_last_and_tiles_equal_eager():
    torch.manual_seed(4)
    net = _randomise_bn(CSICNN())
    fast = export_inference_model(net).to(memory_format=torch.channels_last)
    x = torch.rand(1, 3, 45, 70)
    with torch.inference_mode():
        ref = net(x)
        got = predict_tiled(fast, x.contiguous(memory_format=torch.channels_last), tile=24)
    assert got.shape == ref.shape
    assert (got - ref).abs().max() / ref.abs().max() < 1e-4
    # a halo smaller than the receptive field is NOT exact: the test can fail
    with torch.inference_mode():
        bad = predict_tiled(net, x, tile=24, halo=2)
    assert (bad - ref).abs().max() / ref.abs().max() > 1e-3


def test_receptive_radius_is_real():
    net = _randomise_bn(CSICNN())
    r = receptive_radius(net)
    assert r == 6
    x = torch.rand(1, 3, 41, 41)
    y = x.clone()
    y[0, :, 20, 20] += 1.0  # perturb the centre pixel
    with torch.no_grad():
        d = (net(y) - net(x)).abs()[0, 0] > 0
    rows, cols = np.nonzero(d.numpy())
    assert rows.min() >= 20 - r and rows.max() <= 20 + r and cols.min() >= 20 - r and cols.max() <= 20 + r


def test_flops_per_pixel():
    # 2 * sum(Cin*Cout*k*k): conv1..conv10 of Table 1
    assert flops_per_pixel(CSICNN()) == 2 * (3456 + 4096 + 9216 + 4096 + 3456 + 3456 + 4096 + 9216 + 4096 + 1152)
