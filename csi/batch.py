"""Camera identification on folders of photos: the engine behind the ``csi`` command (docs/cli.md).

* **fingerprints**: Eq. 5 as a map-reduce over chunks of :data:`CHUNK` images whose sums ``sum W I`` and
  ``sum I^2`` are added in chunk order, so one process, a pool (``workers``) or a Dask cluster (``scheduler``)
  give the same bits; with at most :data:`CHUNK` images, those of :func:`csi.prnu.estimate_fingerprint`.
* **identification**: notebook 06's query residual, each fingerprint aligned by
  :func:`csi.evaluate.fingerprint_window` (or a cropped photo padded into the frame), NCC and PCE; the
  decision is the device of largest PCE if above :data:`THRESHOLD`, else ``"unknown"``.
* **files**: one ``.npz`` per device (``K`` float32 and a JSON ``meta`` record).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import __version__, prnu_torch
from .cache import atomic_write
from .evaluate import QUERY_SIGMA, align_fingerprint, crop_box, fingerprint_window, get_extractor
from .io import IMAGE_SUFFIXES, ImageReadError, image_size, read_rgb
from .prnu import (
    GRAY_WEIGHTS,
    estimate_fingerprint,
    fingerprint_from_sums,
    fingerprint_terms,
    ncc,
    pce,
    resample_fingerprint,
)
from .progress import bar
from .runtime import torch_runtime

try:  # optional: scikit-learn installs it
    from threadpoolctl import threadpool_limits
except ImportError:
    threadpool_limits = None


__all__ = ["FORMAT", "FORMAT_VERSION", "CHUNK", "MIN_IMAGES", "THRESHOLD", "FINGERPRINT_SETTINGS",
           "QUERY_SETTINGS", "BatchError", "DeviceImages", "device_name", "list_images", "scan_device",
           "compute_fingerprints", "save_fingerprint", "load_fingerprint", "find_fingerprints", "identify_photo",
           "identify", "verify"]

#: Name and version of the fingerprint file format; a file of another version is refused.
FORMAT = "csi-fingerprint"
FORMAT_VERSION = 1
#: Images per chunk of the fingerprint map-reduce (fixed, so results do not depend on the workers).
CHUNK = 8
#: Fewest usable images per fingerprint (``--min-images``); Chen et al. (2008) and Goljan et al. (2009) use
#: 20-50 flat images; below about 10 the fingerprint's own noise dominates.
MIN_IMAGES = 10
#: PCE decision threshold (Goljan, Fridrich and Filler 2009: PCE > 60 on over a million Flickr images).
THRESHOLD = 60.0
#: Eq. 5 settings: the defaults of :func:`csi.prnu.estimate_fingerprint`, which the notebooks use.
FINGERPRINT_SETTINGS: dict[str, Any] = {
    k: p.default for k, p in inspect.signature(estimate_fingerprint).parameters.items()
    if k in ("sigma", "levels", "wavelet", "boundary", "shifts")
}
#: Query residual settings: those of notebook 06's wavelet extractor (``get_extractor("wavelet")``).
QUERY_SETTINGS: dict[str, Any] = json.loads(get_extractor("wavelet").key.split(":", 1)[1])
assert QUERY_SETTINGS["sigma"] == QUERY_SIGMA

# Folder names that say what a folder holds rather than which device took it (``<device>/flat`` is <device>).
_GENERIC = re.compile(r"^(flat|nat|natural|images?|imgs?|photos?|pictures?|fingerprints?|queries|query|test"
                      r"|jpe?g|originals?)([A-Za-z]*)$", re.IGNORECASE)
_GRAY = np.asarray(GRAY_WEIGHTS, np.float32)

# exit codes (docs/cli.md, `csi --help`)
EXIT_FAILED, EXIT_USAGE, EXIT_NO_INPUT, EXIT_UNREADABLE = 1, 2, 3, 4
EXIT_TOO_FEW, EXIT_MIXED_SIZES, EXIT_BAD_FINGERPRINT = 5, 6, 7


class BatchError(Exception):
    """A problem with the input that stops a command; ``code`` is the command's exit code."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code

    def __reduce__(self):  # picklable across process pools and Dask workers
        return (type(self), (str(self), self.code))


def _reason(exc: ImageReadError) -> str:
    return exc.reason if hasattr(exc, "reason") else str(exc)


# ----------------------------------------------------------------------------------------- folders


def device_name(folder: str | os.PathLike) -> str:
    """The device a folder of photos belongs to: its name, or its parent's if the name is generic.

    Examples
    --------
    >>> device_name("data/D01_Samsung/images/flat"), device_name("phones/alice")
    ('D01_Samsung', 'alice')
    """
    p = Path(os.path.abspath(folder))
    while _GENERIC.match(p.name) and p.parent != p:
        p = p.parent
    return p.name or str(folder)


def list_images(folder: Path, recursive: bool = False) -> tuple[list[Path], list[tuple[str, str]]]:
    """Image files of a folder (sorted, hidden ones ignored) and the other files with the reason."""
    files = sorted(p for p in (folder.rglob("*") if recursive else folder.iterdir()) if p.is_file())
    images, other = [], []
    for p in files:
        if p.name.startswith("."):
            continue
        if p.suffix.lower() in IMAGE_SUFFIXES:
            images.append(p)
        else:
            other.append((str(p), f"not an image file (suffix {p.suffix or 'none'!r}; "
                                  f"expected one of {', '.join(IMAGE_SUFFIXES)})"))
    return images, other


@dataclass
class DeviceImages:
    """The images of one device that enter its fingerprint (all of one size), and those left out."""

    name: str
    folder: str
    paths: list[str]
    shape: tuple[int, int]  # (H, W), landscape
    skipped: list[tuple[str, str]] = field(default_factory=list)


def scan_device(folder: str | os.PathLike, name: str | None = None, majority_size: bool = False) -> DeviceImages:
    """List a device folder's images and check their sizes from the headers (no decoding).

    Raises
    ------
    BatchError
        ``EXIT_NO_INPUT``: no such folder or no image file; ``EXIT_UNREADABLE``: no readable image;
        ``EXIT_MIXED_SIZES``: several sizes (unless ``majority_size``: the most common is kept).
    """
    folder = Path(folder)
    if not folder.exists():
        raise BatchError(f"{folder}: no such folder", EXIT_NO_INPUT)
    if not folder.is_dir():
        raise BatchError(f"{folder}: not a folder (give the folder holding a device's images)", EXIT_NO_INPUT)
    name = name or device_name(folder)
    images, skipped = list_images(folder)
    if not images:
        raise BatchError(f"{folder}: empty folder, no image files ({', '.join(IMAGE_SUFFIXES)}) for device "
                         f"{name!r}", EXIT_NO_INPUT)
    sizes: dict[str, tuple[int, int]] = {}
    for p in images:
        try:
            w, h = image_size(p)
        except ImageReadError as exc:
            skipped.append((str(p), _reason(exc)))
            continue
        sizes[str(p)] = (h, w)
    if not sizes:
        raise BatchError(f"{folder}: none of the {len(images)} image files of device {name!r} can be read; first: "
                         f"{skipped[-len(images)][0]}: {skipped[-len(images)][1]}", EXIT_UNREADABLE)
    count = Counter(sizes.values())
    shape = sorted(count, key=lambda s: (-count[s], s))[0]
    if len(count) > 1:
        listing = "; ".join(f"{w}x{h} px: {n} file(s), e.g. {next(p for p, s in sizes.items() if s == (h, w))}"
                            for (h, w), n in sorted(count.items(), key=lambda kv: -kv[1]))
        if not majority_size:
            raise BatchError(f"{folder}: device {name!r} has images of {len(count)} sizes ({listing}); a "
                             "fingerprint needs one sensor size. Move the odd ones out, or pass --majority-size "
                             "to use the most common size and skip the others", EXIT_MIXED_SIZES)
        skipped += [(p, f"{s[1]}x{s[0]} px, but most of {name}'s images are {shape[1]}x{shape[0]} px")
                    for p, s in sizes.items() if s != shape]
    return DeviceImages(name, str(folder), [p for p, s in sizes.items() if s == shape], shape, skipped)


# -------------------------------------------------------------------------------------- execution


@contextlib.contextmanager
def _runtime() -> Iterator[None]:
    """One BLAS and one torch thread, and glibc's heap kept between images (docs/performance.md).

    One thread everywhere also makes every mode (one process, a pool, a cluster) round the same way.
    """
    with contextlib.ExitStack() as stack:
        if threadpool_limits is not None:
            stack.enter_context(threadpool_limits(1))
        stack.enter_context(torch_runtime(threads=1))
        yield


_WORKER_RUNTIME = None


def _worker_runtime(client_pid: int | None = None) -> None:
    """:func:`_runtime` for the whole life of a pool or cluster worker process (not the client's own)."""
    global _WORKER_RUNTIME
    if _WORKER_RUNTIME is None and os.getpid() != client_pid:
        _WORKER_RUNTIME = _runtime()
        _WORKER_RUNTIME.__enter__()


@contextlib.contextmanager
def _client(scheduler: str):
    """A ``dask.distributed`` client for an address (``tcp://host:8786``) or ``local[:N]`` (a LocalCluster)."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise BatchError("--scheduler needs dask.distributed: pip install 'csi-companion[cluster]' "
                         "(or pip install 'dask[distributed]')", EXIT_USAGE) from None
    if logging.getLogger("csi").getEffectiveLevel() > logging.INFO:  # dask's own INFO lines: only with -v
        logging.getLogger("distributed").setLevel(logging.WARNING)
    cluster = None
    m = re.fullmatch(r"local(?::(\d+))?", scheduler)
    if m:
        cluster = LocalCluster(n_workers=int(m.group(1) or os.cpu_count() or 1), threads_per_worker=1,
                               processes=True, host="127.0.0.1", dashboard_address=None)
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise BatchError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}", EXIT_USAGE) from None
    try:
        client.run(_worker_runtime, os.getpid())
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _ordered(fn: Callable, calls: Sequence[tuple], workers: int = 1, scheduler: str | None = None,
             threads: bool = False) -> Iterator:
    """``fn(*args)`` for every ``args`` of ``calls``, yielded in order; at most ``2 * workers`` in flight."""
    if scheduler is not None:
        with _client(scheduler) as client:
            for fut in client.map(lambda args: fn(*args), list(calls), pure=False):
                yield fut.result()
                fut.release()
        return
    calls = list(calls)
    workers = min(workers, len(calls))  # no pool of 16 processes for 2 photos
    if workers <= 1:
        with _runtime():
            for args in calls:
                yield fn(*args)
        return
    pool: Executor = (ThreadPoolExecutor(workers) if threads
                      else ProcessPoolExecutor(workers, initializer=_worker_runtime))
    with pool, (_runtime() if threads else contextlib.nullcontext()):
        pending = [pool.submit(fn, *args) for args in calls[:2 * workers]]
        it = iter(calls[2 * workers:])
        while pending:
            fut = pending.pop(0)
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.submit(fn, *nxt))
            yield fut.result()


def resolve_workers(workers: int | None) -> int:
    """``None`` or 0 -> the cores this process may use; else ``workers``."""
    if not workers:
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            return os.cpu_count() or 1
    return int(workers)


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when torch sees a GPU, else ``"cpu"`` (the numpy residual of :mod:`csi.prnu`).

    ``"torch-cpu"`` (not offered by the command) runs :mod:`csi.prnu_torch` on the CPU, for tests.
    """
    if device not in ("auto", "cpu", "cuda", "torch-cpu"):
        raise BatchError(f"unknown device {device!r}; expected auto, cpu or cuda", EXIT_USAGE)
    if device in ("cpu", "torch-cpu"):
        return device
    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        raise BatchError("--device cuda: torch sees no CUDA GPU here (use --device cpu or auto)", EXIT_USAGE)
    return "cpu"


def _torch_device(device: str) -> str | None:
    """The torch device of a resolved device name, None for the numpy residual."""
    return None if device == "cpu" else "cpu" if device == "torch-cpu" else device


# ----------------------------------------------------------------------------------- fingerprints


def _partial_sums(paths: Sequence[str], shape: tuple[int, int], device: str = "cpu"):
    """Eq. 5's sums over one chunk: ``(num, den, used, skipped)``, unreadable files skipped.

    ``num``, ``den``: ``(C, H, W)`` float32 sums of ``W I`` and ``I^2`` in file order, as
    :func:`csi.prnu.estimate_fingerprint` adds them (None when no image was usable).
    """
    tdev = _torch_device(device)
    terms, kw = (fingerprint_terms, {}) if tdev is None else (prnu_torch.fingerprint_terms, {"device": tdev})
    num = den = None
    used: list[str] = []
    skipped: list[tuple[str, str]] = []
    with contextlib.nullcontext() if tdev is None else torch.inference_mode():  # sums added to in place
        for p in paths:
            try:
                img = read_rgb(p)
            except ImageReadError as exc:
                skipped.append((str(p), _reason(exc)))
                continue
            if img.shape[:2] != tuple(shape):
                skipped.append((str(p), f"decoded as {img.shape[1]}x{img.shape[0]} px, not {shape[1]}x{shape[0]}"))
                continue
            wi, ii = terms(img, **FINGERPRINT_SETTINGS, **kw)
            if num is None:
                num, den = wi, ii  # fresh arrays, owned here (0 + x == x: the same bits as summing from zeros)
            else:
                num += wi
                den += ii
            used.append(str(p))
        if tdev is not None and num is not None:
            num, den = num.cpu().numpy(), den.cpu().numpy()
    return num, den, used, skipped


def _add_sums(a, b):
    """Reduce two chunk results of :func:`_partial_sums` (``a`` first, so the order is fixed)."""
    num, den, used, skipped = a
    if num is None:
        return b
    if b[0] is not None:
        num = num + b[0]
        den = den + b[1]
    return num, den, used + b[2], skipped + b[3]


def _finish(dev: DeviceImages, acc) -> tuple[DeviceImages, np.ndarray | None, dict]:
    if acc is None:
        return dev, None, {"used": [], "skipped": list(dev.skipped)}
    num, den, used, skipped = acc
    K = fingerprint_from_sums(num, den, copy=False) if num is not None else None
    return dev, K, {"used": used, "skipped": list(dev.skipped) + skipped}


def compute_fingerprints(devices: Sequence[DeviceImages], workers: int = 1, scheduler: str | None = None,
                         device: str = "cpu", progress: bool = True,
                         ) -> Iterator[tuple[DeviceImages, np.ndarray | None, dict]]:
    """Eq. 5 for every device as a map-reduce over chunks of :data:`CHUNK` images (on a cluster, the sums too).

    Yields ``(device_images, K, info)`` per device in order: ``K`` ``(H, W)`` float32 (None when no image was
    usable), ``info`` ``{"used": [path], "skipped": [(path, reason)]}``.
    """
    device = resolve_device(device)
    calls = [(dev.paths[i:i + CHUNK], dev.shape, device) for dev in devices
             for i in range(0, len(dev.paths), CHUNK)]
    owner = [k for k, dev in enumerate(devices) for _ in range(0, len(dev.paths), CHUNK)]
    with bar(total=sum(len(d.paths) for d in devices), desc="fingerprint (Eq. 5)", enabled=progress,
             unit="img") as pbar:
        if scheduler is not None:
            with _client(scheduler) as client:
                heads: dict[int, Any] = {}
                for i, fut in zip(owner, client.map(lambda args: _partial_sums(*args), calls, pure=False),
                                  strict=True):
                    heads[i] = fut if i not in heads else client.submit(_add_sums, heads[i], fut, pure=False)
                for i, dev in enumerate(devices):
                    res = heads[i].result() if i in heads else None
                    pbar.update(len(dev.paths))
                    yield _finish(dev, res)
            return
        # one GPU shared by threads; torch-cpu is for tests
        results = _ordered(_partial_sums, calls, workers=workers, threads=device == "cuda")
        acc: Any = None
        current = 0
        for i, res in zip(owner, results, strict=True):
            if i != current:
                yield _finish(devices[current], acc)
                acc, current = None, i
            acc = res if acc is None else _add_sums(acc, res)
            pbar.update(len(res[2]) + len(res[3]))
        if devices:
            yield _finish(devices[current], acc)


def save_fingerprint(path: str | os.PathLike, K: np.ndarray, dev: DeviceImages, info: dict,
                     device: str = "cpu") -> dict:
    """Write one device's fingerprint file (``.npz``: ``K`` float32 and a JSON ``meta`` string); returns meta."""
    root = os.path.commonpath([os.path.abspath(p) for p in info["used"]]) if info["used"] else dev.folder
    root = root if os.path.isdir(root) else os.path.dirname(root)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "csi_version": __version__, "device": dev.name,
            "folder": os.path.abspath(dev.folder), "height": int(K.shape[0]), "width": int(K.shape[1]),
            "n_images": len(info["used"]),
            "images": [os.path.relpath(os.path.abspath(p), root) for p in info["used"]], "images_root": root,
            "skipped": [[str(p), str(r)] for p, r in info["skipped"]],
            "settings": {**FINGERPRINT_SETTINGS, "equation": "Eq. 5, csi.prnu.estimate_fingerprint",
                         "chunk": CHUNK, "residual_device": device}}
    atomic_write(path, lambda f: np.savez(f, K=np.asarray(K, np.float32), meta=np.array(json.dumps(meta))))
    return meta


def read_meta(path: str | os.PathLike) -> dict:
    """The checked ``meta`` record of a fingerprint file, without reading ``K``."""
    return load_fingerprint(path, with_k=False)[1]


def load_fingerprint(path: str | os.PathLike, with_k: bool = True) -> tuple[np.ndarray | None, dict]:
    """Read a fingerprint file written by :func:`save_fingerprint`: ``(K (H, W) float32, meta dict)``.

    Raises :class:`BatchError` ``EXIT_BAD_FINGERPRINT`` for a foreign, damaged or other-version file.
    """
    path = Path(path)
    if not path.is_file():
        raise BatchError(f"{path}: no such fingerprint file", EXIT_NO_INPUT)
    K = None
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:  # fh closed even for a broken zip
            if "meta" not in z or "K" not in z:
                raise BatchError(f"{path}: not a csi fingerprint file (no 'K' and 'meta' arrays)",
                                 EXIT_BAD_FINGERPRINT)
            meta = json.loads(str(z["meta"]))
            if with_k and isinstance(meta, dict) and meta.get("format_version") == FORMAT_VERSION:
                K = z["K"]
    except BatchError:
        raise
    except Exception as exc:  # zip/npy/JSON errors of a damaged or foreign file
        raise BatchError(f"{path}: not a readable csi fingerprint file ({type(exc).__name__}: {exc})",
                         EXIT_BAD_FINGERPRINT) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BatchError(f"{path}: not a csi fingerprint file (format {meta.get('format') if isinstance(meta, dict) else None!r})",
                         EXIT_BAD_FINGERPRINT)
    if meta.get("format_version") != FORMAT_VERSION:
        raise BatchError(f"{path}: fingerprint file format {meta.get('format_version')} written by csi "
                         f"{meta.get('csi_version', '?')}; this csi {__version__} reads format {FORMAT_VERSION}. "
                         "Make it again with `csi fingerprint`", EXIT_BAD_FINGERPRINT)
    if K is None:
        return None, meta
    if K.dtype != np.float32 or K.ndim != 2 or K.shape != (meta.get("height"), meta.get("width")):
        raise BatchError(f"{path}: damaged fingerprint file (K is {K.dtype} {K.shape}, meta says "
                         f"{meta.get('height')}x{meta.get('width')})", EXIT_BAD_FINGERPRINT)
    if not np.isfinite(K).all():
        raise BatchError(f"{path}: damaged fingerprint file (K has NaN or infinite values)", EXIT_BAD_FINGERPRINT)
    return K, meta


def find_fingerprints(sources: Iterable[str | os.PathLike]) -> dict[str, str]:
    """Device name -> fingerprint file, from folders of ``.npz`` files and single files (checked)."""
    out: dict[str, str] = {}
    for src in sources:
        src = Path(src)
        if src.is_dir():
            files = sorted(p for p in src.iterdir() if p.suffix == ".npz" and not p.name.startswith("."))
            if not files:
                raise BatchError(f"{src}: no fingerprint files (*.npz) in this folder; make them with "
                                 "`csi fingerprint DEVICE_DIR... -o FOLDER`", EXIT_NO_INPUT)
        elif src.exists():
            files = [src]
        else:
            raise BatchError(f"{src}: no such fingerprint file or folder", EXIT_NO_INPUT)
        for f in files:
            name = str(read_meta(f)["device"])
            if name in out and out[name] != str(f):
                raise BatchError(f"two fingerprint files for device {name!r}: {out[name]} and {f}", EXIT_USAGE)
            out[name] = str(f)
    return out


@lru_cache(maxsize=256)
def _cached_fingerprint(path: str, stamp: tuple[int, int]) -> np.ndarray:
    K, _ = load_fingerprint(path)
    K.setflags(write=False)
    return K


def _fingerprint(path: str) -> np.ndarray:
    st = os.stat(path)
    return _cached_fingerprint(path, (st.st_mtime_ns, st.st_size))


# ------------------------------------------------------------------------------------ identification


@dataclass(frozen=True)
class MatchOptions:
    """How a photo is compared with a fingerprint (see :func:`identify_photo`)."""

    reference: str = "K"  # "K" (the paper's rho, notebook 06) or "IK" (residual vs image x fingerprint)
    search: int | None = None  # PCE peak search radius (px); None: 0 for full frames, the whole frame for crops
    scales: tuple[float, ...] = ()  # extra fingerprint scales to try (scale search)
    rotate: str = "auto"  # try K rotated by 180 degrees: "auto" (portrait photos), "always", "never"
    crop: int | None = None  # score only the centre crop of this side (notebook 06's protocol)
    threshold: float = THRESHOLD
    device: str = "cpu"

    def rotations(self, portrait: bool) -> tuple[int, ...]:
        return (0, 180) if self.rotate == "always" or (self.rotate == "auto" and portrait) else (0,)


def _aspect_matches(shape, frame, rtol: float = 0.02) -> bool:
    return abs((shape[0] / shape[1]) / (frame[0] / frame[1]) - 1.0) <= rtol


def _whole(box, image_shape) -> bool:
    return tuple(box) == (0, image_shape[0], 0, image_shape[1])


def _match_one(W: np.ndarray, intensity: np.ndarray | None, image_shape: tuple[int, int], box: tuple,
               K: np.ndarray, opts: MatchOptions, resample: bool = True) -> dict | None:
    """Score a residual against one (rotated) fingerprint; None when the photo cannot come from it.

    ``resample=False`` (a scale search): a smaller photo is a crop even with the frame's aspect ratio."""
    h, w = image_shape
    H, Wd = K.shape
    if not _whole(box, image_shape) or (h, w) == (H, Wd) or (
            resample and h <= H and w <= Wd and _aspect_matches((h, w), (H, Wd))):
        # notebook 06's alignment (csi.evaluate.fingerprint_window): same size, resampled, or a centre crop
        try:
            align_fingerprint(K, image_shape)  # raises when the photo is larger than the sensor
        except ValueError:
            return None
        Kw = fingerprint_window(K, image_shape, box)
        if Kw.shape != W.shape:
            return None
        ref = Kw if intensity is None else intensity * Kw
        value, (dy, dx) = pce(W, ref, search=opts.search or 0, return_shift=True)
        how = ("same size" if (h, w) == (H, Wd) else "resampled" if _aspect_matches((h, w), (H, Wd))
               else "centre window")
        return {"ncc": ncc(W, ref), "pce": value, "offset": [-dy, -dx], "how": how}
    if h > H or w > Wd:
        return None
    # a photo cropped from the frame: pad it into the frame's centre and search the PCE peak over shifts
    y0, x0 = (H - h) // 2, (Wd - w) // 2
    q = W if intensity is None else W * intensity
    pad = np.zeros((H, Wd), np.float32)
    pad[y0:y0 + h, x0:x0 + w] = q - np.float32(q.mean())
    full = max(y0, H - h - y0, x0, Wd - w - x0)
    radius = full if opts.search is None else min(int(opts.search), full)
    value, (dy, dx) = pce(pad, K, search=radius, return_shift=True)
    oy, ox = min(max(y0 - dy, 0), H - h), min(max(x0 - dx, 0), Wd - w)  # top-left of the photo in the frame
    win = K[oy:oy + h, ox:ox + w]
    ref = win if intensity is None else intensity * win
    return {"ncc": ncc(W, ref), "pce": value, "offset": [int(oy), int(ox)], "how": "cropped"}


def _match(W: np.ndarray, intensity: np.ndarray | None, image_shape, box, K: np.ndarray, opts: MatchOptions,
           rotations: Sequence[int]) -> dict:
    """Best score (largest PCE) of one residual against one fingerprint over rotations and scales."""
    best: dict | None = None
    h, w = image_shape
    for rot in rotations:
        Kr = K if rot == 0 else np.ascontiguousarray(np.rot90(K, 2))
        trials: list[tuple[float | None, np.ndarray]] = [(None, Kr)]
        if _whole(box, image_shape):
            for s in opts.scales:
                size = tuple(max(1, round(n * s)) for n in Kr.shape)
                if size[0] >= h and size[1] >= w:
                    trials.append((float(s), resample_fingerprint(Kr, size)))
        for scale, Ks in trials:
            res = _match_one(W, intensity, image_shape, box, Ks, opts, resample=scale is None)
            if res is None:
                continue
            if scale is not None:
                res["how"] = f"scale {scale:g}, " + res["how"]
            res.update(rotation=rot, scale=scale)
            if best is None or res["pce"] > best["pce"]:
                best = res
    if best is None:
        return {"ncc": math.nan, "pce": math.nan, "offset": None, "rotation": None, "scale": None,
                "how": f"photo {w}x{h} px is larger than this fingerprint's {K.shape[1]}x{K.shape[0]} px"}
    return best


def _query_residual(img: np.ndarray, device: str) -> np.ndarray:
    tdev = _torch_device(device)
    if tdev is not None:
        return prnu_torch.noise_residual(img, device=tdev, **QUERY_SETTINGS)
    return _numpy_extractor()(img)


@lru_cache(maxsize=1)
def _numpy_extractor():
    return get_extractor("wavelet")  # notebook 06's wavelet extractor


def _displayed_portrait(path: str) -> bool:
    try:
        w, h = image_size(path, landscape=False)
    except ImageReadError:
        return False
    return h > w


def identify_photo(path: str, fingerprints: dict[str, str], opts: MatchOptions) -> dict:
    """Score one photo against every fingerprint and decide.

    The residual is notebook 06's query residual (:data:`QUERY_SETTINGS`); each fingerprint is aligned as
    :func:`csi.evaluate.fingerprint_window` does, or, for a photo cropped from the frame, the residual is
    zero-padded into the frame and the PCE peak searched over ``opts.search`` px (default: the whole frame).
    A photo displayed portrait is also tried against ``K`` rotated by 180 degrees.

    Returns a dict: ``photo``, ``decision`` (device, ``"unknown"`` or ``"error"``), ``best_device``, ``ncc``,
    ``pce``, ``how``, ``rotation``, ``scale``, ``offset`` of the best candidate, ``error``, and ``candidates``
    (device -> ``{ncc, pce, how, rotation, scale, offset}``).
    """
    out: dict[str, Any] = {"photo": str(path), "decision": "error", "best_device": None, "ncc": math.nan,
                           "pce": math.nan, "how": None, "rotation": None, "scale": None, "offset": None,
                           "error": None, "candidates": {}}
    try:
        img = read_rgb(path)
    except ImageReadError as exc:
        out["error"] = _reason(exc)
        return out
    H, W_ = img.shape[:2]
    box = crop_box((H, W_), opts.crop)
    part = img[box[0]:box[1], box[2]:box[3]]
    try:
        W = _query_residual(part, opts.device)
    except ValueError as exc:  # e.g. smaller than 2**levels
        out["error"] = str(exc)
        return out
    intensity = part.astype(np.float32) @ _GRAY if opts.reference == "IK" else None
    rotations = opts.rotations(_displayed_portrait(path))
    for name, fp in fingerprints.items():
        out["candidates"][name] = _match(W, intensity, (H, W_), box, _fingerprint(fp), opts, rotations)
    scored = {n: c for n, c in out["candidates"].items() if not math.isnan(c["pce"])}
    if not scored:
        out["decision"] = "unknown"
        out["error"] = "no fingerprint can be compared with this photo (all sensors smaller than the photo)"
        return out
    best = max(scored, key=lambda n: scored[n]["pce"])
    b = scored[best]
    out.update(best_device=best, ncc=b["ncc"], pce=b["pce"], how=b["how"], rotation=b["rotation"],
               scale=b["scale"], offset=b["offset"], decision=best if b["pce"] > opts.threshold else "unknown")
    return out


def identify(photos: Sequence[str], fingerprints: dict[str, str], opts: MatchOptions, workers: int = 1,
             scheduler: str | None = None, progress: bool = True) -> Iterator[dict]:
    """:func:`identify_photo` for every photo, in order, in this process, a pool or a Dask cluster."""
    calls = [(p, fingerprints, opts) for p in photos]
    results = _ordered(identify_photo, calls, workers=workers, scheduler=scheduler, threads=opts.device == "cuda")
    yield from bar(results, total=len(calls), desc="identify", unit="photo") if progress else results


def _load_any(path: str) -> tuple[str, np.ndarray, dict]:
    """A photo (``"photo"``, the image, ``{"portrait"}``) or a fingerprint file (``"fingerprint"``, K, meta)."""
    if str(path).endswith(".npz"):
        return "fingerprint", *load_fingerprint(path)
    try:
        img = read_rgb(path)
    except ImageReadError as exc:
        raise BatchError(str(exc), EXIT_UNREADABLE) from None
    return "photo", img, {"portrait": _displayed_portrait(path)}


def verify(a: str, b: str, opts: MatchOptions) -> dict:
    """Same camera or not: two photos, a photo and a fingerprint, or two fingerprints.

    * photo + fingerprint: as :func:`identify_photo` with that one fingerprint;
    * two photos: PCE of the two query residuals (their common centre), both orientations tried when either
      photo was portrait;
    * two fingerprints: PCE of the two fingerprints (the same camera fingerprinted twice).

    Returns ``{"a", "b", "threshold", "kind", "ncc", "pce", "how", "error", "same"}``, ``same`` = PCE > threshold.
    """
    ka, xa, ma = _load_any(a)
    kb, xb, mb = _load_any(b)
    out = {"a": str(a), "b": str(b), "threshold": opts.threshold}
    if {ka, kb} == {"photo", "fingerprint"}:
        photo, fp, meta = (a, b, mb) if ka == "photo" else (b, a, ma)
        r = identify_photo(photo, {meta["device"]: fp}, opts)
        c = r["candidates"].get(meta["device"], {})
        out.update(kind="photo-fingerprint", ncc=c.get("ncc", math.nan), pce=c.get("pce", math.nan),
                   how=c.get("how"), error=r["error"])
    else:
        if ka == "photo":
            xa = _query_residual(xa, opts.device)
        if kb == "photo":
            xb = _query_residual(xb, opts.device)
        h, w = min(xa.shape[0], xb.shape[0]), min(xa.shape[1], xb.shape[1])

        def centre(x):
            y0, x0 = (x.shape[0] - h) // 2, (x.shape[1] - w) // 2
            return np.ascontiguousarray(x[y0:y0 + h, x0:x0 + w])

        best = None
        for rot in opts.rotations(ma.get("portrait") or mb.get("portrait")):
            ca, cb = centre(xa), centre(np.ascontiguousarray(xb if rot == 0 else np.rot90(xb, 2)))
            r = {"ncc": ncc(ca, cb), "pce": pce(ca, cb, search=opts.search or 0), "rotation": rot}
            if best is None or r["pce"] > best["pce"]:
                best = r
        out.update(kind="photo-photo" if ka == kb == "photo" else "fingerprint-fingerprint", ncc=best["ncc"],
                   pce=best["pce"], error=None,
                   how=("same size" if xa.shape == xb.shape else f"common centre {w}x{h} px")
                   + (", rotated 180" if best["rotation"] else ""))
    out["same"] = bool(not math.isnan(out["pce"]) and out["pce"] > opts.threshold)
    return out
