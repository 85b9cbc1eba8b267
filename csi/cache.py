"""Cache keys that name the parameters *and* the code that made an artefact, and atomic writes.

Every cached artefact (a dataset, a fingerprint, a platform copy, a residual, a checkpoint, a table) is stored
under :func:`key`: a digest of the stage's parameters and of the source of the code that computes it, so an edit
to ``csi/prnu.py`` or to a residual extractor typed in a notebook cell recomputes what depends on it. Files are
written with :func:`atomic_write`, so a crash never leaves half a file.

Examples
--------
>>> from csi import cache, prnu
>>> k1 = cache.key("fingerprint", {"camera": "D01", "n": 8}, code=[prnu])
>>> k1 == cache.key("fingerprint", {"n": 8, "camera": "D01"}, code=[prnu])   # order does not matter
True
>>> k1 == cache.key("fingerprint", {"camera": "D01", "n": 9}, code=[prnu])
False
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import types
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["code_digest", "params_digest", "key", "files_digest", "array_digest", "atomic_write",
           "atomic_save_npy", "atomic_write_text", "atomic_to_csv"]

_SIMPLE = (bool, int, float, str, bytes, type(None))


def _sha(data: bytes, n: int = 16) -> str:
    return hashlib.sha1(data).hexdigest()[:n]


def _code_object_digest(code: types.CodeType) -> bytes:
    """Bytecode, constants (nested code objects recursively) and names of a code object."""
    parts = [code.co_code, repr(code.co_names).encode(), repr(code.co_varnames).encode()]
    for c in code.co_consts:
        parts.append(_code_object_digest(c) if isinstance(c, types.CodeType) else repr(c).encode())
    return hashlib.sha1(b"\x1f".join(parts)).digest()


def _simple_values(values: Iterable[Any]) -> bytes:
    out = []
    for v in values:
        if isinstance(v, _SIMPLE) or (isinstance(v, (tuple, list)) and all(isinstance(x, _SIMPLE) for x in v)):
            out.append(repr(v))
        elif isinstance(v, Mapping):
            try:
                out.append(params_digest(v))
            except TypeError:
                out.append(type(v).__name__)
        else:
            out.append(type(v).__name__)
    return "\x1f".join(out).encode()


def _one(obj: Any, seen: set[int]) -> bytes:
    if id(obj) in seen:
        return b"<recursion>"
    seen.add(id(obj))
    if isinstance(obj, str):  # a literal tag, e.g. a version string
        return obj.encode()
    if isinstance(obj, types.ModuleType):
        path = getattr(obj, "__file__", None)
        return Path(path).read_bytes() if path and os.path.isfile(path) else obj.__name__.encode()
    if isinstance(obj, functools.partial):
        return (b"partial\x1f" + _one(obj.func, seen) + _simple_values(obj.args)
                + _simple_values(sorted(obj.keywords.items())))
    explicit = getattr(obj, "cache_key", None)
    if isinstance(explicit, str):
        return b"cache_key\x1f" + explicit.encode()
    if isinstance(obj, (types.FunctionType, types.MethodType)):
        fn = obj.__func__ if isinstance(obj, types.MethodType) else obj
        try:
            src = inspect.getsource(fn).encode()
        except (OSError, TypeError):
            src = b""
        closure = []
        for cell in fn.__closure__ or ():
            try:
                closure.append(cell.cell_contents)
            except ValueError:  # an empty cell
                pass
        return b"\x1f".join([src, _code_object_digest(fn.__code__), _simple_values(fn.__defaults__ or ()),
                             _simple_values(sorted((fn.__kwdefaults__ or {}).items())), _simple_values(closure)])
    if isinstance(obj, type):
        try:
            return inspect.getsource(obj).encode()
        except (OSError, TypeError):
            return obj.__qualname__.encode()
    if callable(obj):  # an instance with __call__: its class's code and its simple attributes
        attrs = {k: v for k, v in vars(obj).items() if isinstance(v, _SIMPLE)} if hasattr(obj, "__dict__") else {}
        return _one(type(obj), seen) + _simple_values(sorted(attrs.items()))
    return repr(obj).encode()


def code_digest(*objs: Any) -> str:
    """16-hex digest of the code behind ``objs``: modules (their file), functions, classes, callables or tags.

    A function is digested by its source (found for modules and notebook cells), bytecode, defaults and closure
    values; an object with a string attribute ``cache_key`` by that key.

    Examples
    --------
    >>> code_digest(lambda x: x + 1) == code_digest(lambda x: x + 2)
    False
    """
    seen: set[int] = set()
    return _sha(b"\x1e".join(_one(o, seen) for o in objs))


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, (Path, os.PathLike)):
        return os.fspath(o)
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    if isinstance(o, np.ndarray):
        return array_digest(o)
    raise TypeError(f"not JSON serialisable for a cache key: {type(o).__name__}")


def params_digest(params: Mapping[str, Any] | Any) -> str:
    """Digest of JSON-able parameters (key order does not matter; arrays by content).

    Examples
    --------
    >>> params_digest({"a": 1, "b": [1, 2]}) == params_digest({"b": [1, 2], "a": 1})
    True
    """
    return _sha(json.dumps(params, sort_keys=True, default=_json_default).encode())


def key(stage: str, params: Mapping[str, Any], code: Iterable[Any] = ()) -> str:
    """The cache key ``<stage>-<digest of params and code>`` (file-name safe).

    ``stage`` is a short name without slashes or spaces; ``params`` all that changes the result (JSON-able,
    arrays by content); ``code`` the modules or callables that make it (:func:`code_digest`).

    Examples
    --------
    >>> key("demo", {"x": 1}).startswith("demo-")
    True
    """
    if not isinstance(stage, str) or not stage or any(c in stage for c in "/\\ "):
        raise ValueError(f"stage must be a short name without slashes or spaces, got {stage!r}")
    return f"{stage}-{_sha((params_digest(params) + code_digest(*code)).encode())}"


def files_digest(paths: Iterable[Any]) -> str:
    """Digest of a file list by resolved path, size and modification time (a rebuilt file changes it).

    Paths are resolved, so ``../data/x.jpg`` and its absolute spelling give the same digest.

    Examples
    --------
    >>> files_digest(["no/such/file"]) == files_digest([os.path.abspath("no/such/file")])
    True
    """
    parts = []
    for p in paths:
        name = os.path.realpath(os.fspath(p))
        try:
            st = os.stat(p)
            parts.append(f"{name}|{st.st_size}|{st.st_mtime_ns}")
        except OSError:
            parts.append(f"{name}|missing")
    return _sha("\n".join(parts).encode())


def array_digest(*arrays: np.ndarray) -> str:
    """Digest of arrays by shape, dtype and bytes.

    Examples
    --------
    >>> array_digest(np.zeros(3)) == array_digest(np.zeros(3))
    True
    """
    h = hashlib.sha1()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}|{a.dtype}".encode())
        h.update(a.view(np.uint8).ravel().data if a.size else b"")
    return h.hexdigest()[:16]


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(f)`` on a temporary binary file beside ``path``, then move it to ``path`` (``os.replace``).

    A crash never leaves half a file at ``path``; the folder is created if needed.

    Examples
    --------
    >>> import tempfile
    >>> p = atomic_write(Path(tempfile.mkdtemp()) / "a.txt", lambda f: f.write(b"x"))
    >>> p.read_bytes()
    b'x'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_save_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    """:func:`numpy.save` through :func:`atomic_write`."""
    return atomic_write(path, lambda f: np.save(f, np.asarray(array)))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write text (UTF-8) through :func:`atomic_write`."""
    return atomic_write(path, lambda f: f.write(text.encode()))


def atomic_to_csv(path: str | os.PathLike, frame) -> Path:
    """``frame.to_csv(index=False)`` through :func:`atomic_write`."""
    return atomic_write(path, lambda f: frame.to_csv(f, index=False))
