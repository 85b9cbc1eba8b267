"""Torch run-time settings: thread count and glibc's heap, and a background batch prefetcher.

Neither changes any result; both only make CPU training and CNN inference faster (measurements in
docs/performance.md).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

__all__ = ["torch_runtime", "Prefetcher"]

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
#: glibc defaults restored on exit (128 KiB trim threshold, 65,536 mmap'ed chunks).
_GLIBC_DEFAULTS = {_M_TRIM_THRESHOLD: 128 * 1024, _M_MMAP_MAX: 65536}
_lock = threading.Lock()


def _all_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _glibc():
    """The process's glibc (for ``mallopt``), or None on other C libraries."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it
        libc.mallopt  # noqa: B018
        return libc
    except (OSError, AttributeError, TypeError):
        return None


@contextlib.contextmanager
def torch_runtime(threads: int | None = None, keep_heap: bool = True) -> Iterator[int]:
    """Run torch with ``threads`` threads and glibc's freed memory kept in the heap; restore both on exit.

    Used for training and CNN inference. ``keep_heap`` sets ``mallopt(M_MMAP_MAX=0,
    M_TRIM_THRESHOLD=1 GiB)`` so large activations are reused instead of mmap'ed and faulted in anew
    at every step (no effect on other C libraries).

    Parameters
    ----------
    threads : int or None
        Torch intra-op threads; None: every core available to the process.
    keep_heap : bool

    Yields
    ------
    int
        The thread count in use.

    Examples
    --------
    >>> with torch_runtime(threads=1) as n:
    ...     n == torch.get_num_threads() == 1
    True
    """
    if threads is not None and (not isinstance(threads, (int, np.integer)) or threads < 1):
        raise ValueError(f"threads must be None or a positive int, got {threads!r}")
    old = torch.get_num_threads()
    n = int(threads) if threads is not None else _all_cores()
    libc = _glibc() if keep_heap else None
    with _lock:
        torch.set_num_threads(n)
        if libc is not None:
            libc.mallopt(_M_MMAP_MAX, 0)
            libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    try:
        yield n
    finally:
        with _lock:
            torch.set_num_threads(old)
            if libc is not None:
                for k, v in _GLIBC_DEFAULTS.items():
                    libc.mallopt(k, v)
                with contextlib.suppress(AttributeError):
                    libc.malloc_trim(0)


class Prefetcher:
    """Computes ``fn(t)`` for ``t`` in ``steps`` in a background thread, ``depth`` items ahead.

    :meth:`get` must be called with the steps in order; an exception raised by ``fn`` is raised again
    by :meth:`get` for that step. ``depth`` 0 computes each item on demand in the calling thread.
    """

    def __init__(self, fn: Callable[[int], Any], steps: range, depth: int):
        if not isinstance(depth, (int, np.integer)) or depth < 0:
            raise ValueError(f"prefetch depth must be an int >= 0, got {depth!r}")
        self.fn, self.steps, self.depth = fn, steps, int(depth)
        self._stop = threading.Event()
        self._thread = None
        if self.depth > 0 and len(steps):
            self._q: queue.Queue = queue.Queue(maxsize=self.depth)
            self._thread = threading.Thread(target=self._run, name="csi-prefetch", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        for t in self.steps:
            try:
                item, failed = self.fn(t), False
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
                item, failed = exc, True
            while not self._stop.is_set():
                try:
                    self._q.put((t, item, failed), timeout=0.1)
                    break
                except queue.Full:
                    continue
            if failed or self._stop.is_set():
                return

    def get(self, t: int) -> Any:
        if self._thread is None:
            return self.fn(t)
        got, item, failed = self._q.get()
        if got != t:
            raise RuntimeError(f"prefetcher out of order: wanted step {t}, got {got}")
        if failed:
            raise item
        return item

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            while self._thread.is_alive():
                with contextlib.suppress(queue.Empty):
                    self._q.get(timeout=0.05)
            self._thread.join()
