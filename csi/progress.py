"""Progress bars that keep executed notebooks readable: one bar per long stage.

Every long loop goes through :func:`bar`, which shows

* **in a terminal**: a text bar on stderr;
* **interactively in Jupyter**: a widget bar (with ``ipywidgets``), else a text bar refreshed every 5 s;
* **in a batch run** (``CSI_PROGRESS=terminal``, set by ``make reproduce`` and the smoke tests): no live bar,
  but a line every :data:`BATCH_INTERVAL_S` seconds and a summary line at the end, which papermill relays.

A bar started while another is open is silent, so a stage shows one bar however deeply its loops nest.

Examples
--------
>>> from csi.progress import bar
>>> sum(bar(range(3), desc="demo", enabled=False))
3
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm as text_tqdm

__all__ = ["bar", "batch_mode", "BATCH_ENV"]

#: Environment variable that selects the batch behaviour (``"terminal"``).
BATCH_ENV = "CSI_PROGRESS"
#: Shortest time between two progress lines of one stage in a batch run.
BATCH_INTERVAL_S = 60.0

_depth = 0  # bars open now


def batch_mode() -> bool:
    """True under ``make reproduce`` or the smoke tests (``CSI_PROGRESS=terminal``)."""
    return os.environ.get(BATCH_ENV, "") == "terminal"


def _in_kernel() -> bool:
    return "ipykernel" in sys.modules and type(sys.stdout).__module__.startswith("ipykernel")


class _Bar:
    """A tqdm bar that counts its nesting depth and prints progress and summary lines in batch mode."""

    def __init__(self, iterable: Iterable | None, total: int | None, desc: str, enabled: bool, leave: bool,
                 unit: str):
        global _depth
        self.desc, self.unit, self.total = desc, unit, total
        self.t0 = self._last = time.perf_counter()
        show = enabled and _depth == 0
        self.summary = show and batch_mode() and _in_kernel()
        _depth += 1
        self._open, self._n = True, 0
        kwargs: dict[str, Any] = {"total": total, "desc": desc, "disable": not show, "unit": unit}
        if show and batch_mode():
            self.tqdm = text_tqdm(iterable, **{**kwargs, "disable": True})
        elif show and _in_kernel():
            try:
                import ipywidgets  # noqa: F401 - only probing for widget support
                from tqdm.notebook import tqdm as widget_tqdm

                self.tqdm = widget_tqdm(iterable, leave=leave, **kwargs)
            except ImportError:
                self.tqdm = text_tqdm(iterable, mininterval=5.0, leave=leave, **kwargs)
        else:
            self.tqdm = text_tqdm(iterable, mininterval=0.5, leave=leave, **kwargs)

    def __iter__(self):
        try:
            for item in self.tqdm:
                yield item
                self._n += 1
                self._tick()
        finally:
            self.close()

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.summary and now - self._last >= BATCH_INTERVAL_S:
            self._last = now
            of = f"/{self.total}" if self.total else ""
            print(f"{self.desc}: {self._n}{of} {self.unit} after {now - self.t0:.0f} s", flush=True)

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self._n += n
        self.tqdm.update(n)
        self._tick()

    def set_postfix(self, **kwargs: Any) -> None:
        self.tqdm.set_postfix(**kwargs)

    @property
    def n(self) -> int:
        return self._n

    def close(self) -> None:
        global _depth
        if not self._open:
            return
        self._open = False
        _depth = max(0, _depth - 1)
        post = getattr(self.tqdm, "postfix", None)
        self.tqdm.close()
        if self.summary:
            extra = f" ({post})" if post else ""
            print(f"{self.desc}: {self._n} {self.unit} in {time.perf_counter() - self.t0:.1f} s{extra}", flush=True)


def bar(iterable: Iterable | None = None, total: int | None = None, desc: str = "", enabled: bool = True,
        leave: bool = False, unit: str = "it") -> _Bar:
    """A progress bar over ``iterable``, or a manual one (``total`` and ``update``, as a context manager).

    ``total`` defaults to ``len(iterable)``; ``enabled=False`` silences the bar and its summary line; ``leave``
    keeps a finished interactive bar on screen. The bar has ``update``, ``set_postfix``, ``close`` and ``n``.

    Examples
    --------
    >>> with bar(total=2, desc="manual", enabled=False) as b:
    ...     b.update(2)
    >>> b.n
    2
    """
    if total is None and iterable is not None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    return _Bar(iterable, total, desc, enabled, leave, unit)
