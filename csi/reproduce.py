"""Run the numbered notebooks with papermill and record a manifest (``make reproduce``).

Usage
-----
``python -m csi.reproduce --scale cpu`` runs every ``notebooks/NN_*.ipynb`` in order, then the workshop
notebook. Each notebook writes its figures and tables into ``<out>/<NN_name>/``; the executed copy goes to
``<out>/executed/`` and ``<out>/manifest.json`` records the scale, seed, data source, git commit, package
versions, device and the run time of each notebook. ``--only 06`` (or ``--only 04,06``) reruns single notebooks
and updates their manifest entries.

Where ``<out>`` is (:func:`default_out`): without ``--out``, only the reference run (every notebook, every
setting at its default: synthetic data, cpu scale, seed 0, the four recipes, no ``--param``) writes the
committed ``figures/``; any other run writes the gitignored ``runs/<source>-<scale>/``. ``--out figures``
updates the reference on purpose (e.g. ``make figure NB=06 OUT=figures``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from csi.config import DEVICES, SCALES, check_choice
from csi.progress import BATCH_ENV

log = logging.getLogger("csi.reproduce")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
PACKAGES = (
    "torch", "numpy", "scipy", "pandas", "matplotlib", "seaborn", "PyWavelets", "scikit-learn",
    "scikit-image", "pillow", "papermill",
)
SOURCES = ("synthetic", "vision", "kaggle", "daxing", "dresden", "fodb", "folder")
DEFAULT_DATASETS = "our,kaggle,vision,daxing"


def list_notebooks(only: str = "", folder: Path = NOTEBOOKS) -> list[Path]:
    """Return the numbered notebooks, optionally only those whose names start with one of ``only``'s prefixes.

    Parameters
    ----------
    only : str
        Comma-separated prefixes such as ``"06"`` or ``"04,06"``; empty means all.
    folder : Path
        Folder holding ``NN_name.ipynb`` files.

    Raises
    ------
    ValueError
        If a prefix matches no notebook, or the folder holds none.
    """
    # the numbered notebooks in order, then the workshop (its solutions run too, so the book shows them)
    books = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb")) + sorted(folder.glob("workshop*.ipynb"))
    if not books:
        raise ValueError(f"no numbered notebooks (NN_name.ipynb) in {folder}")
    if not only:
        return books
    chosen = []
    for prefix in (s.strip() for s in only.split(",") if s.strip()):
        hits = [b for b in books if b.name.startswith(prefix)]
        if not hits:
            names = ", ".join(b.stem for b in books)
            raise ValueError(f"--only {prefix!r} matches no notebook; have: {names}")
        chosen.extend(h for h in hits if h not in chosen)
    return sorted(chosen)


def default_out(scale: str = "cpu", source: str = "synthetic", seed: int = 0,
                datasets: str = DEFAULT_DATASETS, only: str = "", params: dict | None = None) -> Path:
    """The output folder of a run without ``--out``: the reference ``figures/`` or ``runs/<source>-<scale>/``.

    Examples
    --------
    >>> default_out().name, default_out(source="folder").relative_to(ROOT).as_posix()
    ('figures', 'runs/folder-cpu')
    >>> default_out(only="06").relative_to(ROOT).as_posix()
    'runs/synthetic-cpu'
    """
    reference = (scale == "cpu" and source == "synthetic" and int(seed) == 0 and datasets == DEFAULT_DATASETS
                 and not only and not params)
    return ROOT / "figures" if reference else ROOT / "runs" / f"{source}-{scale}"


def _relative(path: Path, start: Path) -> str:
    """``path`` relative to ``start`` when both lie in the repository, else absolute."""
    path = Path(path).resolve()
    if path == ROOT or ROOT in path.parents:
        return os.path.relpath(path, start)
    return str(path)


def _scrub_paths(executed: Path) -> None:
    """Make papermill's ``input_path``/``output_path`` metadata repository-relative in an executed notebook."""
    nb = json.loads(executed.read_text())
    meta = nb.get("metadata", {}).get("papermill", {})
    for key in ("input_path", "output_path", "cwd"):
        if isinstance(meta.get(key), str):
            meta[key] = _relative(Path(meta[key]), ROOT)
    executed.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def _git_commit() -> dict:
    """The commit of the code that made the outputs, and whether the code differed from it.

    The outputs themselves (``figures/``) and the data caches are left out of the check: a run regenerates
    them, so they are "dirty" by design while it runs.
    """
    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return ""
        return out.stdout.strip() if out.returncode == 0 else ""

    status = git("status", "--porcelain", "--", ".", ":(exclude)figures", ":(exclude)figures-*", ":(exclude)data",
                 ":(exclude)runs")
    return {"commit": git("rev-parse", "HEAD") or "unknown", "dirty": bool(status)}


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _device_info(device: str) -> dict:
    import torch

    from csi.config import select_device

    resolved = select_device(device)
    info = {"requested": device, "resolved": resolved, "cpu": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads()}
    if resolved == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _parse_params(items: list[str] | None) -> dict:
    """``["grid=full", "crop=256"]`` -> ``{"grid": "full", "crop": 256}`` (ints and booleans converted)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--param expects NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        k, v = k.strip(), v.strip()
        if not k.isidentifier():
            raise ValueError(f"--param name {k!r} is not a valid parameter name")
        if v.lstrip("-").isdigit():
            out[k] = int(v)
        elif v in ("True", "False"):
            out[k] = v == "True"
        else:
            out[k] = v
    return out


def run(scale: str = "cpu", device: str = "auto", seed: int = 0, source: str = "synthetic",
        data_path: str = "", datasets: str = DEFAULT_DATASETS, out: str | Path | None = None,
        only: str = "", data_root: str | Path = "data", params: dict | None = None) -> dict:
    """Execute the notebooks with papermill and write ``<out>/manifest.json``.

    Parameters
    ----------
    scale, device, seed, source, data_path, datasets
        Passed to every notebook's ``parameters`` cell (see ``csi.experiments.setup``).
    out : path, optional
        Output folder, relative to the current directory or absolute; None: :func:`default_out` (the
        reference ``figures/`` only for the reference run, else ``runs/<source>-<scale>/``).
    only : str
        Comma-separated notebook prefixes; empty runs all.
    data_root : path
        Where synthetic data and caches live.
    params : dict, optional
        Further notebook parameters (e.g. ``{"crop": 256}``, ``{"grid": "full"}`` for notebook 09); each
        notebook receives the ones its parameters cell defines.

    Returns
    -------
    dict
        The manifest that was written.
    """
    import papermill

    check_choice("scale", scale, SCALES)
    check_choice("device", device, DEVICES)
    check_choice("source", source, SOURCES)
    if source != "synthetic" and not data_path:
        raise ValueError(f"source {source!r} needs --data-path pointing at your copy of the dataset")
    books = list_notebooks(only)
    out = Path(out).resolve() if out is not None else default_out(scale, source, seed, datasets, only, params)
    log.info("writing to %s", _relative(out, Path.cwd()))
    data_root = Path(data_root).resolve()
    (out / "executed").mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if (only and manifest_path.exists()) else {}
    # Notebooks run in notebooks/; paths inside the repository are passed relative to it, so the executed copies
    # that are committed carry no machine-specific folders.
    base = {"scale": scale, "source": source, "data_path": str(data_path), "datasets": datasets,
            "device": device, "seed": int(seed), "out_dir": _relative(out, NOTEBOOKS),
            "data_root": _relative(data_root, NOTEBOOKS), **(params or {})}
    # progress: a line per stage in the notebook, relayed here as it comes (csi.progress, log_output below)
    os.environ[BATCH_ENV] = "terminal"
    manifest.update({
        "scale": scale, "seed": int(seed), "source": source, "datasets": datasets,
        "data_path": str(data_path) if source != "synthetic" else "",
        "params": dict(params or {}),
        "git": _git_commit(), "versions": _versions(), "device": _device_info(device),
        "platform": platform.platform(),
    })
    manifest.setdefault("notebooks", {})
    started = time.perf_counter()
    failed = None
    for i, nb in enumerate(books, 1):
        target = out / "executed" / nb.name
        log.info("[%d/%d] %s (scale=%s, seed=%s)", i, len(books), nb.stem, scale, seed)
        t0 = time.perf_counter()
        status = "ok"
        try:
            papermill.execute_notebook(
                str(nb), str(target), parameters=_accepted(nb, base), kernel_name="python3", cwd=str(nb.parent),
                progress_bar=sys.stderr.isatty(), log_output=True,
            )
        except Exception as exc:  # papermill raises PapermillExecutionError; keep the manifest honest
            status = f"failed: {type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
            failed = (nb, target, exc)
        seconds = round(time.perf_counter() - t0, 1)
        if target.is_file():
            _scrub_paths(target)
        manifest["notebooks"][nb.stem] = {
            "seconds": seconds, "status": status,
            "finished": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }
        log.info("    %s in %.1f s", status, seconds)
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
        if failed:
            break
    manifest["total_seconds"] = round(sum(v["seconds"] for v in manifest["notebooks"].values()), 1)
    manifest["this_run_seconds"] = round(time.perf_counter() - started, 1)
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    if failed:
        nb, target, exc = failed
        raise RuntimeError(f"notebook {nb.name} failed; the executed copy with the traceback is {target}") from exc
    return manifest


def _accepted(nb: Path, params: dict) -> dict:
    """The entries of ``params`` that the notebook's ``parameters`` cell defines (papermill would add others)."""
    import ast

    cells = json.loads(nb.read_text())["cells"]
    src = next(("".join(c["source"]) for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])), "")
    names = {t.id for node in ast.parse(src).body if isinstance(node, ast.Assign) for t in node.targets
             if isinstance(t, ast.Name)}
    return {k: v for k, v in params.items() if k in names}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m csi.reproduce", description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", default="cpu", choices=SCALES)
    ap.add_argument("--device", default="auto", choices=DEVICES)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", dest="source", default="synthetic", choices=SOURCES,
                    help="synthetic (default) or the loader for your real dataset")
    ap.add_argument("--data-path", default="", help="root folder of the real dataset")
    ap.add_argument("--datasets", default=DEFAULT_DATASETS, help="synthetic recipes to run")
    ap.add_argument("--out", default=None,
                    help="output folder (default: figures/ for the reference run of every notebook at the default "
                         "settings, else runs/<source>-<scale>/)")
    ap.add_argument("--data-root", default="data")
    ap.add_argument("--only", default="", help="comma-separated notebook prefixes, e.g. 06")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="another notebook parameter, e.g. --param crop=256 (repeatable)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("papermill").setLevel(logging.INFO)
    try:
        params = _parse_params(args.param)
        out = args.out if args.out else default_out(args.scale, args.source, args.seed, args.datasets, args.only,
                                                    params)
        manifest = run(args.scale, args.device, args.seed, args.source, args.data_path, args.datasets,
                       out, args.only, args.data_root, params)
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, entry in manifest["notebooks"].items():
        print(f"{name:32s} {entry['seconds']:8.1f} s  {entry['status']}")
    print(f"{'total':32s} {manifest['total_seconds']:8.1f} s -> {_relative(Path(out), Path.cwd())}/manifest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
