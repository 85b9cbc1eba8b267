"""Networks: CSI-CNN (Table 1, Fig. 1) and the DnCNN baseline (ref. [21]); BatchNorm folding, tiled inference."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from .prnu import GRAY_WEIGHTS

__all__ = ["CSICNN", "DnCNN", "export_inference_model", "fold_bn", "count_parameters", "receptive_radius",
           "predict_tiled", "TABLE1_ROWS", "RGBToGray"]

#: Table 1 row by row: (module name in :class:`CSICNN`, row label, parameter count), parameter-free rows included.
TABLE1_ROWS: tuple[tuple[str, str, int], ...] = (
    ("conv1", "Convolution layer 1: 128x3x3x3 + 128", 3584), ("bn1", "BatchNorm 128 + 128", 256), ("relu", "ReLU", 0),
    ("conv2", "Convolution layer 2: 32x128x1x1", 4096), ("bn2", "BatchNorm 32 + 32", 64), ("relu", "ReLU", 0),
    ("conv3", "Convolution layer 3: 32x32x3x3", 9216), ("bn3", "BatchNorm 32 + 32", 64), ("relu", "ReLU", 0),
    ("conv4", "Convolution layer 4: 128x32x1x1", 4096), ("add", "Function ADD", 0), ("bn4", "BatchNorm 128 + 128", 256),
    ("conv5", "Convolution layer 5: 3x128x3x3 + 3", 3459), ("bn5", "BatchNorm 3 + 3", 6), ("relu", "ReLU", 0),
    ("sub", "Function sub", 0), ("relu", "ReLU (after sub)", 0),
    ("conv6", "Convolution layer 6: 128x3x3x3 + 128", 3584), ("bn6", "BatchNorm 128 + 128", 256), ("relu", "ReLU", 0),
    ("conv7", "Convolution layer 7: 32x128x1x1", 4096), ("bn7", "BatchNorm 32 + 32", 64), ("relu", "ReLU", 0),
    ("conv8", "Convolution layer 8: 32x32x3x3", 9216), ("bn8", "BatchNorm 32 + 32", 64), ("relu", "ReLU", 0),
    ("conv9", "Convolution layer 9: 128x32x1x1", 4096), ("add", "Function ADD", 0),
    ("conv10", "Convolution layer 10: 1x128x3x3 + 1", 1153), ("bn10", "BatchNorm 1 + 1", 2),
)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters (BatchNorm running statistics are buffers, not counted).

    Examples
    --------
    >>> count_parameters(CSICNN())
    47628
    """
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad))


def _bn_affine(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode BatchNorm as (scale, shift): ``bn(x) = x * scale + shift`` per channel."""
    std = torch.sqrt(bn.running_var + bn.eps)
    weight = bn.weight if bn.affine else torch.ones_like(std)
    bias = bn.bias if bn.affine else torch.zeros_like(std)
    scale = weight / std
    shift = bias - bn.running_mean * scale
    return scale.detach(), shift.detach()


def fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new convolution (with bias) equal to ``bn(conv(x))``, ``bn`` in eval mode; inputs not modified.

    ``W' = W * s`` and ``b' = (b - mu) * s + beta`` with ``s = gamma / sqrt(var + eps)``.

    Examples
    --------
    >>> conv, bn = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8).eval()
    >>> x = torch.randn(1, 3, 16, 16)
    >>> bool(torch.allclose(fold_bn(conv, bn)(x), bn(conv(x)), atol=1e-5))
    True
    """
    if conv.out_channels != bn.num_features:
        raise ValueError(f"conv has {conv.out_channels} output channels but bn has {bn.num_features}")
    scale, shift = _bn_affine(bn)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride, padding=conv.padding,
                      dilation=conv.dilation, groups=conv.groups, bias=True, padding_mode=conv.padding_mode)
    fused = fused.to(device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        bias = conv.bias if conv.bias is not None else torch.zeros_like(scale)
        fused.bias.copy_(bias * scale + shift)
    return fused


class CSICNN(nn.Module):
    r"""CSI-CNN exactly as the paper's Table 1 (47,628 parameters): a denoising stage, "sub", a stage 2.

    Stage 1: ``conv1`` 3->128 3x3, BN, ReLU; bottleneck ``conv2``-``conv4`` (1x1 128->32, 3x3 32->32,
    1x1 32->128, BN+ReLU between, no biases); ADD; BN(128); ``conv5`` 3x3 128->3, BN, ReLU. "sub": input
    minus stage 1, ReLU. Stage 2: ``conv6`` 3->128, BN, ReLU; bottleneck ``conv7``-``conv9``; ADD;
    ``conv10`` 3x3 128->1; BN(1). Biases only where Table 1 counts them (conv1, 5, 6, 10); 3x3 layers
    zero-pad by 1. How the paper's ambiguities are read: docs/training.md ("How the paper is read").

    Parameters
    ----------
    relu_after_sub, relu_stage1_out : bool
        The ReLUs after "sub" and after conv5's BN (both listed in Table 1).
    width, inner : int
        Feature (128) and bottleneck (32) channels of Table 1.

    Shape: ``(N, 3, H, W)`` float32 RGB in [0, 1] -> ``(N, 1, H, W)`` float32 residual of arbitrary
    scale (NCC is scale-invariant). Wang et al. (2021), Table 1, Fig. 1, Sec. 3.2.1.

    Examples
    --------
    >>> CSICNN().eval()(torch.rand(2, 3, 40, 56)).shape
    torch.Size([2, 1, 40, 56])
    """

    def __init__(self, relu_after_sub: bool = True, relu_stage1_out: bool = True, width: int = 128,
                 inner: int = 32):
        super().__init__()
        for name, v in (("width", width), ("inner", inner)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        self.relu_after_sub = bool(relu_after_sub)
        self.relu_stage1_out = bool(relu_stage1_out)
        self.width, self.inner = width, inner
        # stage 1
        self.conv1, self.bn1 = nn.Conv2d(3, width, 3, padding=1, bias=True), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = nn.Conv2d(width, inner, 1, bias=False), nn.BatchNorm2d(inner)
        self.conv3, self.bn3 = nn.Conv2d(inner, inner, 3, padding=1, bias=False), nn.BatchNorm2d(inner)
        self.conv4, self.bn4 = nn.Conv2d(inner, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv5, self.bn5 = nn.Conv2d(width, 3, 3, padding=1, bias=True), nn.BatchNorm2d(3)
        # stage 2
        self.conv6, self.bn6 = nn.Conv2d(3, width, 3, padding=1, bias=True), nn.BatchNorm2d(width)
        self.conv7, self.bn7 = nn.Conv2d(width, inner, 1, bias=False), nn.BatchNorm2d(inner)
        self.conv8, self.bn8 = nn.Conv2d(inner, inner, 3, padding=1, bias=False), nn.BatchNorm2d(inner)
        self.conv9 = nn.Conv2d(inner, width, 1, bias=False)
        self.conv10, self.bn10 = nn.Conv2d(width, 1, 3, padding=1, bias=True), nn.BatchNorm2d(1)

    def config(self) -> dict:
        """Constructor arguments, for checkpoints."""
        return {"relu_after_sub": self.relu_after_sub, "relu_stage1_out": self.relu_stage1_out,
                "width": self.width, "inner": self.inner}

    # ReLUs and ADDs work in place (exact; see docs/performance.md, "In-place ReLU and ADD").

    def stage1(self, x: torch.Tensor) -> torch.Tensor:
        """Stage-1 output ``(N, 3, H, W)`` (before "sub")."""
        relu = torch.relu_
        h = relu(self.bn1(self.conv1(x)))
        b = relu(self.bn2(self.conv2(h)))
        b = relu(self.bn3(self.conv3(b)))
        h = self.bn4(self.conv4(b).add_(h))
        s = self.bn5(self.conv5(h))
        return relu(s) if self.relu_stage1_out else s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"CSICNN expects input of shape (N, 3, H, W), got {tuple(x.shape)}")
        relu = torch.relu_
        r = x - self.stage1(x)
        if self.relu_after_sub:
            r = relu(r)
        h = relu(self.bn6(self.conv6(r)))
        b = relu(self.bn7(self.conv7(h)))
        b = relu(self.bn8(self.conv8(b)))
        h = self.conv9(b).add_(h)
        return self.bn10(self.conv10(h))


class _FusedCSICNN(nn.Module):
    """CSI-CNN with BatchNorm folded into the convolutions; eval only, same outputs as the source."""

    def __init__(self, net: CSICNN):
        super().__init__()
        net = copy.deepcopy(net).eval().float()
        self.relu_after_sub = net.relu_after_sub
        self.relu_stage1_out = net.relu_stage1_out
        for k in (1, 2, 3, 4, 5, 6, 7, 8, 10):  # c_k = bn_k(conv_k(.)); conv9 has no BN
            setattr(self, f"c{k}", fold_bn(getattr(net, f"conv{k}"), getattr(net, f"bn{k}")))
        self.c9 = net.conv9
        s4, _ = _bn_affine(net.bn4)  # bn4(conv4(b) + h) = c4(b) + s4 * h
        self.register_buffer("s4", s4.reshape(1, -1, 1, 1).clone())
        self.requires_grad_(False).eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        relu = torch.relu_
        h = relu(self.c1(x))
        b = relu(self.c3(relu(self.c2(h))))
        h = torch.addcmul(self.c4(b), h, self.s4)
        s = self.c5(h)
        if self.relu_stage1_out:
            s = relu(s)
        r = x - s
        if self.relu_after_sub:
            r = relu(r)
        h = relu(self.c6(r))
        b = relu(self.c8(relu(self.c7(h))))
        h = self.c9(b).add_(h)
        return self.c10(h)


class DnCNN(nn.Module):
    """DnCNN (ref. [21], Zhang et al. 2017): Conv+ReLU, ``depth - 2`` x [Conv+BN+ReLU], Conv; all 3x3.

    A residual-learning Gaussian denoiser: ``denoised = x - model(x)``; ``(N, channels, H, W)`` float32 in
    [0, 1] in, the noise estimate out. Paper scale ``depth=17, width=64``: 556,096 parameters. Colour images
    are denoised channel by channel by the extractor. Wang et al. (2021) Sec. 4.2.1.

    Examples
    --------
    >>> count_parameters(DnCNN())
    556096
    >>> DnCNN(depth=5, width=16)(torch.rand(1, 1, 20, 24)).shape
    torch.Size([1, 1, 20, 24])
    """

    def __init__(self, depth: int = 17, width: int = 64, channels: int = 1):
        super().__init__()
        for name, v, lo in (("depth", depth, 2), ("width", width, 1), ("channels", channels, 1)):
            if not isinstance(v, int) or v < lo:
                raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
        self.depth, self.width, self.channels = depth, width, channels
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, padding=1, bias=True), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                       nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(width, channels, 3, padding=1, bias=False))
        self.body = nn.Sequential(*layers)

    def config(self) -> dict:
        """Constructor arguments, for checkpoints."""
        return {"depth": self.depth, "width": self.width, "channels": self.channels}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"DnCNN expects input (N, {self.channels}, H, W), got {tuple(x.shape)}")
        return self.body(x)


class RGBToGray(nn.Module):
    """RGB ``(N, 3, H, W)`` -> gray ``(N, 1, H, W)`` ``0.29893602 R + 0.58704307 G + 0.11402090 B`` in torch.

    As :func:`csi.prnu.rgb_to_gray`; dtype and range kept. ``Sequential(RGBToGray(), DnCNN())``: "dncnn-cosine".

    >>> RGBToGray()(torch.ones(2, 3, 4, 5)).shape
    torch.Size([2, 1, 4, 5])
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"RGBToGray expects (N, 3, H, W), got {tuple(x.shape)}")
        wr, wg, wb = GRAY_WEIGHTS
        return x[:, 0:1] * wr + x[:, 1:2] * wg + x[:, 2:3] * wb


def export_inference_model(model: nn.Module) -> nn.Module:
    """Eval-only copy of a CSICNN or DnCNN with every BatchNorm folded into the preceding convolution.

    Equal to ``model.eval()(x)`` up to float32 rounding, faster; ``model`` is not modified; no parameter
    requires grad. A gray-input net ``Sequential(RGBToGray(), net)`` keeps its RGBToGray.

    Examples
    --------
    >>> net = CSICNN().eval()
    >>> x = torch.rand(1, 3, 32, 32)
    >>> bool(torch.allclose(export_inference_model(net)(x), net(x), rtol=1e-4, atol=1e-4))
    True
    """
    if isinstance(model, CSICNN):
        return _FusedCSICNN(model)
    if isinstance(model, nn.Sequential) and isinstance(model[0], RGBToGray):  # a gray-input net
        return nn.Sequential(model[0], *map(export_inference_model, model[1:])).eval()
    if isinstance(model, DnCNN):
        layers: list[nn.Module] = []
        for m in copy.deepcopy(model).eval().float().body:
            if isinstance(m, nn.BatchNorm2d):  # always right after a convolution
                layers[-1] = fold_bn(layers[-1], m)
            else:
                layers.append(m)
        return nn.Sequential(*layers).eval().requires_grad_(False)
    raise TypeError(f"model must be a CSICNN or DnCNN, got {type(model).__name__}")


def receptive_radius(model: nn.Module) -> int:
    """Half-width of the receptive field of a stride-1 conv net: the sum of ``dilation * (kernel - 1) // 2``.

    Examples
    --------
    >>> receptive_radius(CSICNN()), receptive_radius(DnCNN(depth=17))
    (6, 17)
    """
    r = 0
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            if any(s != 1 for s in m.stride):
                raise ValueError("receptive_radius supports stride-1 convolutions only")
            r += max(m.dilation[0] * (m.kernel_size[0] - 1), m.dilation[1] * (m.kernel_size[1] - 1)) // 2
    return r


def predict_tiled(model: nn.Module, x: torch.Tensor, tile: int | None = 256, halo: int | None = None,
                  batch: int = 4) -> torch.Tensor:
    """Run a fully convolutional eval-mode ``model`` on ``x`` ``(1, C, H, W)`` tile by tile; equals ``model(x)``.

    Each ``tile x tile`` output comes from its window enlarged by ``halo`` pixels (default
    :func:`receptive_radius`; clipped at the border), so activations stay cache-sized. ``tile=None`` or
    one covering the image runs one pass; windows of equal size go ``batch`` per forward call.

    Examples
    --------
    >>> net = CSICNN().eval()
    >>> x = torch.rand(1, 3, 70, 90)
    >>> with torch.no_grad():
    ...     bool(torch.allclose(predict_tiled(net, x, tile=32), net(x), atol=1e-5))
    True
    """
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"x must have shape (1, C, H, W), got {tuple(x.shape)}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    _, _, H, W = x.shape
    if tile is None or (tile >= H and tile >= W):
        return model(x)
    if tile < 1:
        raise ValueError(f"tile must be a positive int or None, got {tile}")
    halo = receptive_radius(model) if halo is None else int(halo)
    if halo < 0:
        raise ValueError(f"halo must be >= 0, got {halo}")
    groups: dict[tuple[int, int], list] = {}  # windows of equal shape are batched
    for y0 in range(0, H, tile):
        for x0 in range(0, W, tile):
            y1, x1 = min(y0 + tile, H), min(x0 + tile, W)
            a0, a1, b0, b1 = max(y0 - halo, 0), min(y1 + halo, H), max(x0 - halo, 0), min(x1 + halo, W)
            groups.setdefault((a1 - a0, b1 - b0), []).append((y0, y1, x0, x1, a0, a1, b0, b1))
    out = None
    for group in groups.values():
        for k in range(0, len(group), batch):
            chunk = group[k:k + batch]
            inp = torch.cat([x[:, :, a0:a1, b0:b1] for (_, _, _, _, a0, a1, b0, b1) in chunk], 0)
            res = model(inp)
            if out is None:
                out = x.new_empty((1, res.shape[1], H, W))
            for i, (y0, y1, x0, x1, a0, _a1, b0, _b1) in enumerate(chunk):
                out[0, :, y0:y1, x0:x1] = res[i, :, y0 - a0:y1 - a0, x0 - b0:x1 - b0]
    return out


def flops_per_pixel(model: nn.Module) -> float:
    """Floating-point operations per output pixel of a stride-1 conv net (2 per multiply-add).

    Examples
    --------
    >>> round(flops_per_pixel(CSICNN()))
    92672
    """
    total = 0
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            total += 2 * m.in_channels // m.groups * m.out_channels * math.prod(m.kernel_size)
    return float(total)
