"""csi.cache and csi.progress: keys change with parameters and code, bars stay quiet when asked."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

from csi import cache, prnu
from csi.progress import bar


def test_key_changes_with_parameters_and_code_only():
    k = cache.key("s", {"a": 1, "b": [1, 2]}, code=[prnu])
    assert k == cache.key("s", {"b": [1, 2], "a": 1}, code=[prnu])
    assert k != cache.key("s", {"a": 2, "b": [1, 2]}, code=[prnu])
    assert k != cache.key("s", {"a": 1, "b": [1, 2]}, code=[np])
    assert k != cache.key("t", {"a": 1, "b": [1, 2]}, code=[prnu])


def test_code_digest_sees_bodies_defaults_closures_and_partials():
    def f(x, s=1):
        return x + s

    def g(x, s=2):
        return x + s

    assert cache.code_digest(f) != cache.code_digest(g)
    sigma = 3.0
    h1 = (lambda: lambda x: x * sigma)()
    sigma = 4.0
    h2 = (lambda: lambda x: x * sigma)()
    assert cache.code_digest(h1) != cache.code_digest(h2)  # a captured number changed
    assert cache.code_digest(functools.partial(f, s=1)) != cache.code_digest(functools.partial(f, s=5))

    class WithKey:
        cache_key = "v1"

        def __call__(self, x):
            return x

    assert cache.code_digest(WithKey()) == cache.code_digest(WithKey())


def test_array_and_files_digest(tmp_path):
    a = np.arange(6, dtype=np.float32)
    assert cache.array_digest(a) != cache.array_digest(a.reshape(2, 3))
    p = tmp_path / "f.bin"
    p.write_bytes(b"1")
    d1 = cache.files_digest([p])
    p.write_bytes(b"22")
    assert cache.files_digest([p]) != d1


def test_keys_do_not_depend_on_how_the_data_root_is_spelled(tmp_path, monkeypatch):
    """A cache made with data_root "../data" (make reproduce, from notebooks/) is found with an absolute path."""
    import os

    import pandas as pd

    from csi import train
    from csi.experiments import sizes

    (tmp_path / "data").mkdir()
    (tmp_path / "notebooks").mkdir()
    img = tmp_path / "data" / "a.jpg"
    img.write_bytes(b"x")
    monkeypatch.chdir(tmp_path / "notebooks")
    rel, absolute = os.path.join("..", "data", "a.jpg"), str(img)
    assert cache.files_digest([rel]) == cache.files_digest([absolute])
    keys = [train.training_key("csi-cnn", "our", sizes("smoke", "csi_cnn"), scale="smoke",
                               train=pd.DataFrame({"path": [p], "device": ["d"]}))[0]
            for p in (rel, absolute)]
    assert keys[0] == keys[1]
    other = tmp_path / "data" / "b.jpg"
    other.write_bytes(b"x")
    assert cache.files_digest([str(other)]) != cache.files_digest([absolute])


def test_atomic_writes_leave_no_temporary_files(tmp_path):
    cache.atomic_save_npy(tmp_path / "a.npy", np.ones(3))
    cache.atomic_write_text(tmp_path / "b.txt", "x")
    frame = pd.DataFrame({"image": ["p", "q"], "ncc": [0.1 / 3, -2e-7]})
    cache.atomic_to_csv(tmp_path / "c.csv", frame)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy", "b.txt", "c.csv"]
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.ones(3)) and (tmp_path / "b.txt").read_text() == "x"
    assert (tmp_path / "c.csv").read_bytes() == frame.to_csv(index=False).encode()  # full precision, no index


def test_a_failed_atomic_write_keeps_the_old_file(tmp_path):
    path = cache.atomic_write_text(tmp_path / "a.txt", "old")

    def crash(f):
        f.write(b"half a fi")
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError, match="crash"):
        cache.atomic_write(path, crash)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]  # no temporary file left


def test_nested_bars_are_silent_and_count(capsys, monkeypatch):
    monkeypatch.setenv("CSI_PROGRESS", "terminal")
    total = 0
    for i in bar(range(3), desc="outer"):
        for j in bar(range(2), desc="inner"):
            total += i * j
    assert total == 3
    out = capsys.readouterr()
    assert "inner" not in out.err + out.out  # only the outer stage reports
