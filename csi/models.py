"""Networks: CSI-CNN (the paper's Table 1 / Fig. 1) and DnCNN (the paper's second baseline, ref. [21]).

Both are fully convolutional float32 :class:`torch.nn.Module` s. ``CSICNN`` maps an RGB image batch
``(N, 3, H, W)`` to a one-channel noise residual ``(N, 1, H, W)``; ``DnCNN`` is a residual-learning
Gaussian denoiser that predicts the noise of ``(N, C, H, W)``.

For inference, :meth:`CSICNN.fuse` / :func:`export_inference_model` fold every eval-mode BatchNorm into
the convolution before it (exact up to float32 rounding) and :func:`predict_tiled` runs a model over a
large image in overlapping tiles whose halo covers the receptive field, so the result equals one
full-image pass while the activations stay cache-sized.
"""

from __future__ import annotations

import copy
import logging
import math

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)

__all__ = [
    "CSICNN",
    "DnCNN",
    "AffineChannel",
    "export_inference_model",
    "fold_bn",
    "count_parameters",
    "receptive_radius",
    "predict_tiled",
    "TABLE1_ROWS",
]

#: Table 1 of the paper, row by row: (module name in :class:`CSICNN`, row label, parameter count).
#: Rows with zero parameters (ReLU, ADD, sub) are listed too so the order can be checked.
TABLE1_ROWS: tuple[tuple[str, str, int], ...] = (
    ("conv1", "Convolution layer 1: 128x3x3x3 + 128", 3584),
    ("bn1", "BatchNorm 128 + 128", 256),
    ("relu", "ReLU", 0),
    ("conv2", "Convolution layer 2: 32x128x1x1", 4096),
    ("bn2", "BatchNorm 32 + 32", 64),
    ("relu", "ReLU", 0),
    ("conv3", "Convolution layer 3: 32x32x3x3", 9216),
    ("bn3", "BatchNorm 32 + 32", 64),
    ("relu", "ReLU", 0),
    ("conv4", "Convolution layer 4: 128x32x1x1", 4096),
    ("add", "Function ADD", 0),
    ("bn4", "BatchNorm 128 + 128", 256),
    ("conv5", "Convolution layer 5: 3x128x3x3 + 3", 3459),
    ("bn5", "BatchNorm 3 + 3", 6),
    ("relu", "ReLU", 0),
    ("sub", "Function sub", 0),
    ("relu", "ReLU (after sub)", 0),
    ("conv6", "Convolution layer 6: 128x3x3x3 + 128", 3584),
    ("bn6", "BatchNorm 128 + 128", 256),
    ("relu", "ReLU", 0),
    ("conv7", "Convolution layer 7: 32x128x1x1", 4096),
    ("bn7", "BatchNorm 32 + 32", 64),
    ("relu", "ReLU", 0),
    ("conv8", "Convolution layer 8: 32x32x3x3", 9216),
    ("bn8", "BatchNorm 32 + 32", 64),
    ("relu", "ReLU", 0),
    ("conv9", "Convolution layer 9: 128x32x1x1", 4096),
    ("add", "Function ADD", 0),
    ("conv10", "Convolution layer 10: 1x128x3x3 + 1", 1153),
    ("bn10", "BatchNorm 1 + 1", 2),
)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters (BatchNorm running statistics are buffers and not counted).

    Examples
    --------
    >>> count_parameters(CSICNN())
    47628
    """
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad))


class AffineChannel(nn.Module):
    """Per-channel affine map ``y = x * scale + shift``: what an eval-mode BatchNorm is.

    Used by :func:`export_inference_model` for a BatchNorm that has no convolution directly before
    it (CSI-CNN's BN after the stage-1 ADD).

    Parameters
    ----------
    scale, shift : torch.Tensor
        ``(C,)`` float32.
    """

    def __init__(self, scale: torch.Tensor, shift: torch.Tensor):
        super().__init__()
        self.register_buffer("scale", scale.detach().clone().reshape(1, -1, 1, 1))
        self.register_buffer("shift", shift.detach().clone().reshape(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.shift, x, self.scale)


def _bn_affine(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode BatchNorm as (scale, shift): ``bn(x) = x * scale + shift`` per channel."""
    std = torch.sqrt(bn.running_var + bn.eps)
    weight = bn.weight if bn.affine else torch.ones_like(std)
    bias = bn.bias if bn.affine else torch.zeros_like(std)
    scale = weight / std
    shift = bias - bn.running_mean * scale
    return scale.detach(), shift.detach()


def fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """Return a new convolution equal to ``bn(conv(x))`` with ``bn`` in eval mode.

    ``W' = W * s`` and ``b' = (b - mu) * s + beta`` with ``s = gamma / sqrt(var + eps)``. The inputs
    are not modified.

    Parameters
    ----------
    conv : torch.nn.Conv2d
        Convolution with ``C_out`` output channels, with or without bias.
    bn : torch.nn.BatchNorm2d
        BatchNorm over ``C_out`` channels (its running statistics are used).

    Returns
    -------
    torch.nn.Conv2d
        Same geometry as ``conv``, always with a bias.

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
    fused = nn.Conv2d(
        conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride, padding=conv.padding,
        dilation=conv.dilation, groups=conv.groups, bias=True, padding_mode=conv.padding_mode,
    ).to(device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        bias = conv.bias if conv.bias is not None else torch.zeros_like(scale)
        fused.bias.copy_(bias * scale + shift)
    return fused


class _Bottleneck(nn.Module):
    """1x1 (C->c) BN ReLU, 3x3 (c->c) BN ReLU, 1x1 (c->C), all without bias; the ADD is done by the caller."""

    def __init__(self, channels: int = 128, inner: int = 32):
        super().__init__()
        self.conv_a = nn.Conv2d(channels, inner, 1, bias=False)
        self.bn_a = nn.BatchNorm2d(inner)
        self.conv_b = nn.Conv2d(inner, inner, 3, padding=1, bias=False)
        self.bn_b = nn.BatchNorm2d(inner)
        self.conv_c = nn.Conv2d(inner, channels, 1, bias=False)


class CSICNN(nn.Module):
    r"""CSI-CNN exactly as the paper's Table 1 (47,628 parameters).

    Stage 1 (a denoiser): ``conv1`` 3->128 3x3 (+bias), BN, ReLU; bottleneck ``conv2`` 1x1 128->32, BN,
    ReLU, ``conv3`` 3x3 32->32, BN, ReLU, ``conv4`` 1x1 32->128 (no biases); ADD with the bottleneck's
    input; BN(128); ``conv5`` 3x3 128->3 (+bias), BN(3), ReLU. "Function sub": input minus the stage-1
    output, then ReLU. Stage 2: ``conv6`` 3->128 3x3 (+bias), BN, ReLU; bottleneck ``conv7``-``conv9``
    as in stage 1; ADD; ``conv10`` 3x3 128->1 (+bias); BN(1). Every 3x3 convolution uses zero padding 1,
    so the output has the input's height and width.

    Ambiguities in the paper and how they are resolved here:

    * **Input scale** - not stated. The network takes RGB on a 0-1 scale (8-bit values / 255);
      :func:`csi.evaluate.get_extractor` does the conversion.
    * **ReLU after "sub"** - Table 1 lists it (it discards the negative half of the residual), so it is
      on by default and switchable with ``relu_after_sub=False``.
    * **ReLU after conv5's BN** - Table 1 lists it; kept (``relu_stage1_out=False`` drops it).
    * **What is subtracted** - Fig. 1 reads "input - stage-1 output"; with the ReLUs the network can
      still learn either the clean image or the noise in stage 1, the final output is what is trained.
    * **Biases** - only where Table 1 counts them (conv1, conv5, conv6, conv10), although a bias right
      before a BatchNorm is redundant.
    * **BN position around the ADD** - stage 1 has BN *after* the ADD (Table 1 counts BN(128) there);
      stage 2 has no BN between its ADD and conv10, as in the table.
    * Table 1 labels conv 3 and conv 8 just "Convolution layer"; they are the 3x3 32->32 layers.

    Parameters
    ----------
    relu_after_sub : bool
        Apply the ReLU after "sub" (Table 1). Default True.
    relu_stage1_out : bool
        Apply the ReLU after conv5's BatchNorm (Table 1). Default True.
    width, inner : int
        Feature channels (128) and bottleneck channels (32) of Table 1; other values give a
        differently sized network (the parameter count is then not 47,628).

    Shape
    -----
    input ``(N, 3, H, W)`` float32, RGB in [0, 1]; output ``(N, 1, H, W)`` float32, an unbounded
    residual whose scale is arbitrary (the paper's detector, NCC, is scale-invariant).

    References
    ----------
    Wang et al. (2021), Table 1 and Fig. 1, Sec. 3.2.1.

    Examples
    --------
    >>> net = CSICNN().eval()
    >>> count_parameters(net)
    47628
    >>> net(torch.rand(2, 3, 40, 56)).shape
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
        self.conv1 = nn.Conv2d(3, width, 3, padding=1, bias=True)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, inner, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(inner)
        self.conv3 = nn.Conv2d(inner, inner, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(inner)
        self.conv4 = nn.Conv2d(inner, width, 1, bias=False)
        self.bn4 = nn.BatchNorm2d(width)
        self.conv5 = nn.Conv2d(width, 3, 3, padding=1, bias=True)
        self.bn5 = nn.BatchNorm2d(3)
        # stage 2
        self.conv6 = nn.Conv2d(3, width, 3, padding=1, bias=True)
        self.bn6 = nn.BatchNorm2d(width)
        self.conv7 = nn.Conv2d(width, inner, 1, bias=False)
        self.bn7 = nn.BatchNorm2d(inner)
        self.conv8 = nn.Conv2d(inner, inner, 3, padding=1, bias=False)
        self.bn8 = nn.BatchNorm2d(inner)
        self.conv9 = nn.Conv2d(inner, width, 1, bias=False)
        self.conv10 = nn.Conv2d(width, 1, 3, padding=1, bias=True)
        self.bn10 = nn.BatchNorm2d(1)

    def config(self) -> dict:
        """Constructor arguments, for checkpoints."""
        return {"relu_after_sub": self.relu_after_sub, "relu_stage1_out": self.relu_stage1_out,
                "width": self.width, "inner": self.inner}

    # Speed (training is memory-bound on a CPU): every ReLU and ADD writes into the fresh tensor produced
    # just before it instead of allocating a new 128-channel activation. This is exact: a BatchNorm's
    # backward needs its input, not its output; a convolution's backward needs its input and weight, not
    # its output; a ReLU's backward needs only its output, which the in-place ReLU keeps.

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

    def fuse(self) -> _FusedCSICNN:
        """Inference copy with every BatchNorm folded (see :func:`export_inference_model`)."""
        return export_inference_model(self)


class _FusedCSICNN(nn.Module):
    """CSI-CNN with BatchNorm folded into the convolutions; eval only, same outputs as the source."""

    def __init__(self, net: CSICNN):
        super().__init__()
        net = copy.deepcopy(net).eval().float()
        self.relu_after_sub = net.relu_after_sub
        self.relu_stage1_out = net.relu_stage1_out
        self.c1 = fold_bn(net.conv1, net.bn1)
        self.c2 = fold_bn(net.conv2, net.bn2)
        self.c3 = fold_bn(net.conv3, net.bn3)
        # bn4(conv4(b) + h) = conv4'(b) + s*h + t, with conv4' = conv4 scaled by s and shifted by t
        self.c4 = fold_bn(net.conv4, net.bn4)
        s4, _ = _bn_affine(net.bn4)
        self.register_buffer("s4", s4.reshape(1, -1, 1, 1).clone())
        self.c5 = fold_bn(net.conv5, net.bn5)
        self.c6 = fold_bn(net.conv6, net.bn6)
        self.c7 = fold_bn(net.conv7, net.bn7)
        self.c8 = fold_bn(net.conv8, net.bn8)
        self.c9 = net.conv9
        self.c10 = fold_bn(net.conv10, net.bn10)
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

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
    """DnCNN (Zhang et al. 2017, the paper's ref. [21]): a residual-learning Gaussian denoiser.

    Layer 1 is Conv(3x3, ``channels``->``width``, bias) + ReLU; layers 2..depth-1 are
    Conv(3x3, no bias) + BN + ReLU; the last layer is Conv(3x3, ``width``->``channels``, no bias). The
    network predicts the *noise*: ``denoised = x - model(x)``. With the defaults (17 x 64, one channel)
    it has 556,096 parameters, the "about 556k" of the literature.

    Parameters
    ----------
    depth : int
        Number of convolution layers (>= 2). Paper scale 17.
    width : int
        Feature channels. Paper scale 64.
    channels : int
        Image channels (1: gray; colour images are denoised channel by channel by the extractor).

    Shape
    -----
    input ``(N, channels, H, W)`` float32 on a 0-1 scale; output the same shape, the noise estimate.

    References
    ----------
    Wang et al. (2021) Sec. 4.2.1 (DnCNN baseline); Zhang et al., "Beyond a Gaussian denoiser", 2017.

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

    def fuse(self) -> nn.Module:
        """Inference copy with BatchNorm folded (see :func:`export_inference_model`)."""
        return export_inference_model(self)


def export_inference_model(model: nn.Module) -> nn.Module:
    """Eval-only copy of a CSI-CNN or DnCNN with every BatchNorm folded into the preceding convolution.

    The result equals ``model.eval()(x)`` up to float32 rounding (tests check 1e-4 relative) and runs
    faster because the BatchNorm passes over 128-channel activations disappear. The input model is
    not modified. Use with :func:`torch.inference_mode` and, for big images, :func:`predict_tiled`.

    Parameters
    ----------
    model : CSICNN or DnCNN

    Returns
    -------
    torch.nn.Module
        Same input/output shapes as ``model``; parameters do not require grad.

    Examples
    --------
    >>> net = CSICNN().eval()
    >>> x = torch.rand(1, 3, 32, 32)
    >>> bool(torch.allclose(export_inference_model(net)(x), net(x), rtol=1e-4, atol=1e-4))
    True
    """
    if isinstance(model, CSICNN):
        return _FusedCSICNN(model)
    if isinstance(model, DnCNN):
        src = copy.deepcopy(model).eval().float()
        mods = list(src.body)
        out: list[nn.Module] = []
        i = 0
        while i < len(mods):
            m = mods[i]
            if isinstance(m, nn.Conv2d) and i + 1 < len(mods) and isinstance(mods[i + 1], nn.BatchNorm2d):
                out.append(fold_bn(m, mods[i + 1]))
                i += 2
                continue
            out.append(m)
            i += 1
        fused = nn.Sequential(*out).eval()
        for p in fused.parameters():
            p.requires_grad_(False)
        return fused
    raise TypeError(f"model must be a CSICNN or DnCNN, got {type(model).__name__}")


def receptive_radius(model: nn.Module) -> int:
    """Half-width of the receptive field: the number of pixels an output depends on in each direction.

    For stride-1 convolutions it is the sum of ``dilation * (kernel - 1) // 2``; CSI-CNN has six 3x3
    layers, so 6; DnCNN has ``depth``.

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
    """Run a fully convolutional ``model`` on ``x`` tile by tile; equal to ``model(x)`` in eval mode.

    Each output tile of ``tile x tile`` pixels is computed from an input window enlarged by ``halo``
    pixels on every side (clipped at the image border, where the model's own zero padding applies),
    and only the tile's centre is kept. With ``halo >= receptive_radius(model)`` the result is the
    full-image output up to float rounding, while the activations (128 channels for CSI-CNN) stay
    small enough for the CPU caches. Interior windows of equal size are batched.

    Parameters
    ----------
    model : torch.nn.Module
        Fully convolutional, stride 1, in eval mode (BatchNorm must use running statistics).
    x : torch.Tensor
        ``(1, C, H, W)`` float32.
    tile : int or None
        Output tile side; ``None`` or a tile that covers the image runs one pass.
    halo : int or None
        Overlap; default :func:`receptive_radius`.
    batch : int
        Windows per forward call.

    Returns
    -------
    torch.Tensor
        ``(1, C_out, H, W)`` float32.

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
    ys = list(range(0, H, tile))
    xs = list(range(0, W, tile))
    jobs = []
    for y0 in ys:
        for x0 in xs:
            y1, x1 = min(y0 + tile, H), min(x0 + tile, W)
            a0, b0 = max(y0 - halo, 0), max(x0 - halo, 0)
            a1, b1 = min(y1 + halo, H), min(x1 + halo, W)
            jobs.append((y0, y1, x0, x1, a0, a1, b0, b1))
    out = None
    # group windows by shape so each group can be batched
    groups: dict[tuple[int, int], list] = {}
    for j in jobs:
        groups.setdefault((j[5] - j[4], j[7] - j[6]), []).append(j)
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


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 or float on a 0-255 scale -> ``(1, 3, H, W)`` float32 on a 0-1 scale.

    Examples
    --------
    >>> image_to_tensor(np.full((4, 5, 3), 255, np.uint8)).shape
    torch.Size([1, 3, 4, 5])
    """
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3), got {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"image must be an integer or float array, got dtype {arr.dtype}")
    t = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1), dtype=np.float32))
    return (t / 255.0).unsqueeze(0)


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
