"""Torch run-time settings (threads, glibc's heap) and a batch prefetcher: faster, same results (docs/performance.md)."""

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
_GLIBC_DEFAULTS = {_M_TRIM_THRESHOLD: 128 * 1024, _M_MMAP_MAX: 65536}
_lock = threading.Lock()


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
    """Run torch with ``threads`` threads (None: all the process's cores), yielded; ``keep_heap``: glibc
    ``mallopt(M_MMAP_MAX=0, M_TRIM_THRESHOLD=1 GiB)``, so big activations are reused. Both restored on exit.

    Examples
    --------
    >>> with torch_runtime(threads=1) as n:
    ...     n == torch.get_num_threads() == 1
    True
    """
    if threads is not None and (not isinstance(threads, (int, np.integer)) or threads < 1):
        raise ValueError(f"threads must be None or a positive int, got {threads!r}")
    old = torch.get_num_threads()
    all_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    n = int(threads) if threads is not None else all_cores
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
    """``fn(t)`` for ``t`` in ``steps``, computed ``depth`` items ahead in a thread (0: on demand in the caller).

    Call :meth:`get` with the steps in order; it raises again what ``fn`` raised for that step.
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
                with contextlib.suppress(queue.Full):
                    self._q.put((t, item, failed), timeout=0.1)
                    break
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
