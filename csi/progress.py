"""Progress bars that keep executed notebooks readable: one bar per long stage, never hundreds of outputs.

Every long loop of the package goes through :func:`bar`. Where the bar goes depends on how the code runs:

* **in a terminal** (a script, ``make bench``): an ordinary text bar on stderr;
* **interactively in Jupyter**: a widget bar when ``ipywidgets`` is installed (one output that updates in
  place), else a text bar that refreshes at most every few seconds;
* **in a batch run** (``make reproduce`` and the smoke tests set ``CSI_PROGRESS=terminal``): no live bar; the
  notebook receives a line at most every :data:`BATCH_INTERVAL_S` seconds while a stage runs and one summary
  line when it ends. ``make reproduce`` relays these lines to its terminal as they come (papermill's
  ``log_output``), so the progress is visible there and the executed notebook stays readable.

Bars started while another bar is open are silent, so a stage shows one bar however deeply its loops nest.

Examples
--------
>>> from csi.progress import bar
>>> total = sum(bar(range(3), desc="demo", enabled=False))
>>> total
3
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable
from typing import Any

__all__ = ["bar", "batch_mode", "BATCH_ENV"]

#: Environment variable that selects the batch behaviour (``"terminal"``).
BATCH_ENV = "CSI_PROGRESS"
#: Shortest time between two progress lines of one stage in a batch run.
BATCH_INTERVAL_S = 60.0

_depth = 0


def batch_mode() -> bool:
    """True when running under ``make reproduce`` or the smoke tests (``CSI_PROGRESS=terminal``)."""
    return os.environ.get(BATCH_ENV, "") == "terminal"


def _in_kernel() -> bool:
    return "ipykernel" in sys.modules and type(sys.stdout).__module__.startswith("ipykernel")


class _Bar:
    """A tqdm bar that records its nesting depth and prints a summary line in batch mode."""

    def __init__(self, iterable: Iterable | None, total: int | None, desc: str, enabled: bool, leave: bool,
                 unit: str):
        global _depth
        from tqdm import tqdm as text_tqdm

        self.desc, self.unit = desc, unit
        self.t0 = time.perf_counter()
        self.summary = enabled and _depth == 0 and batch_mode() and _in_kernel()
        show = enabled and _depth == 0
        _depth += 1
        self._open = True
        self._n = 0
        self.total = total
        self._last = self.t0
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
        """In a batch run: a progress line when :data:`BATCH_INTERVAL_S` has passed since the last one."""
        if not self.summary:
            return
        now = time.perf_counter()
        if now - self._last >= BATCH_INTERVAL_S:
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
        n = self._n
        post = getattr(self.tqdm, "postfix", None)
        self.tqdm.close()
        if self.summary:
            extra = f" ({post})" if post else ""
            print(f"{self.desc}: {n} {self.unit} in {time.perf_counter() - self.t0:.1f} s{extra}", flush=True)


def bar(iterable: Iterable | None = None, total: int | None = None, desc: str = "", enabled: bool = True,
        leave: bool = False, unit: str = "it") -> _Bar:
    """A progress bar over ``iterable`` (or a manual one with ``total``), placed as the module docstring says.

    Parameters
    ----------
    iterable : iterable, optional
        What to iterate over; omit it and call ``update`` for a manual bar (use it as a context manager).
    total : int, optional
        Number of items (taken from ``len(iterable)`` when possible).
    desc : str
        The stage's name, e.g. ``"fingerprints our"``.
    enabled : bool
        False silences the bar (and its summary line).
    leave : bool
        Keep a finished interactive bar on screen.
    unit : str

    Returns
    -------
    _Bar
        Iterable (yields the items of ``iterable``) with ``update``, ``set_postfix`` and ``close``.

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
