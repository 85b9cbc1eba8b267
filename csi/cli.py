"""The ``csi`` command: camera fingerprints, identification and verification on folders of photos.

Subcommands (``csi COMMAND --help`` for each; ``docs/cli.md`` for a walk-through):

* ``csi fingerprint DEVICE_DIR... -o FINGERPRINTS_DIR`` -- one ``.npz`` per device (Eq. 5);
* ``csi identify PHOTO_OR_DIR... --fingerprints FINGERPRINTS_DIR`` -- NCC and PCE of every photo against
  every fingerprint, the best device and a decision (PCE > 60, else ``unknown``), as CSV or JSON lines;
* ``csi verify A B`` -- same camera or not (two photos, a photo and a fingerprint, or two fingerprints);
* ``csi info FILE...`` -- what a fingerprint file holds.

The work is done by :mod:`csi.batch` with the library functions the notebooks use.

Exit codes: 0 success; 1 internal error; 2 usage error; 3 missing input (no such file or folder, empty
folder); 4 unreadable image(s) (``identify`` still writes every other photo's row); 5 too few usable images for
a fingerprint; 6 mixed image sizes inside a device; 7 not a csi fingerprint file, damaged, or of another
format version.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import sys
from pathlib import Path

import click

from . import __version__, batch
from .batch import BatchError

EXIT_CODES = {
    0: "success",
    1: "internal error (please report it; --debug shows the traceback)",
    2: "usage error (bad option or argument)",
    3: "missing input: no such file or folder, empty folder, no fingerprint files",
    4: "unreadable image(s): corrupt, truncated, grayscale, 16-bit... (identify still writes the other rows)",
    5: "too few usable images for a fingerprint (--min-images)",
    6: "images of several sizes inside one device (--majority-size keeps the most common)",
    7: "not a csi fingerprint file, damaged, or written by another format version",
}
_EPILOG = "\b\nExit codes:\n" + "\n".join(f"  {k}  {v}" for k, v in EXIT_CODES.items())


class CLIError(click.ClickException):
    """An error message for the user (no traceback) with the command's exit code."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.exit_code = code


class _Group(click.Group):
    """Turns library errors into messages with exit codes; anything unexpected into exit code 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BatchError as exc:
            raise CLIError(str(exc), exc.code) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            raise click.Abort() from None
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            raise CLIError(f"internal error: {type(exc).__name__}: {exc} (run `csi --debug ...` for the traceback)",
                           1) from None


def _exec_options(f):
    """--workers, --device and --scheduler, shared by fingerprint and identify."""
    f = click.option("--scheduler", metavar="ADDRESS", default=None,
                     help="Map residual extraction over a dask.distributed cluster: a scheduler address "
                          "(tcp://host:8786) or local[:N] for a LocalCluster of N processes. Needs "
                          "the 'cluster' extra; every worker must see the same file paths.")(f)
    f = click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="cpu", show_default=True,
                     help="Where the wavelet residual runs: cpu (numpy, csi.prnu), cuda (torch, "
                          "csi.prnu_torch), auto (cuda if available).")(f)
    f = click.option("-j", "--workers", type=click.IntRange(0), default=0, show_default=True,
                     help="Parallel workers: processes on the CPU, decoding/scoring threads with --device "
                          "cuda; 0 = every core this process may use, 1 = no pool.")(f)
    return f


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
             epilog=_EPILOG)
@click.version_option(__version__, "-V", "--version", prog_name="csi")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or summaries on stderr.")
@click.option("-v", "--verbose", count=True, help="More log messages (-vv for debug).")
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
@click.pass_context
def cli(ctx: click.Context, quiet: bool, verbose: int, debug: bool) -> None:
    """Camera identification from sensor noise (PRNU), after Wang et al. (2021).

    \b
    Build one fingerprint per camera from its photos (flat, bright scenes work best), then ask which camera
    took a photo:

    \b
      csi fingerprint data/*/flat -o fp/          # fp/<device>.npz, device = folder name
      csi identify data/*/nat --fingerprints fp/  # CSV: photo, decision, best_device, ncc, pce, ...
      csi verify photo.jpg fp/D01.npz             # same camera or not
      csi info fp/D01.npz

    A photo is attributed to the device with the largest PCE when that PCE exceeds 60 (Goljan, Fridrich
    and Filler 2009), else it is 'unknown'. See docs/cli.md.
    """
    ctx.ensure_object(dict)
    ctx.obj["progress"] = not quiet
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="csi: %(message)s", stream=sys.stderr)
    logging.getLogger("csi").setLevel(level)
    if not debug:
        logging.getLogger("distributed").setLevel(logging.ERROR)


def _say(ctx: click.Context, message: str) -> None:
    if ctx.obj.get("progress", True):
        click.echo(message, err=True)


# ---------------------------------------------------------------------------------------- fingerprint


@cli.command(epilog=_EPILOG)
@click.argument("device_dirs", nargs=-1, required=True, metavar="DEVICE_DIR...")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the fingerprint files (<device>.npz); created if needed.")
@click.option("--min-images", type=click.IntRange(1), default=batch.MIN_IMAGES, show_default=True,
              help="Refuse a device with fewer usable images.")
@click.option("--majority-size", is_flag=True,
              help="With images of several sizes in a device, use the most common size and list the others "
                   "as skipped (default: stop with exit code 6).")
@_exec_options
@click.pass_context
def fingerprint(ctx, device_dirs, output, min_images, majority_size, workers, device, scheduler):
    """Estimate one camera fingerprint per DEVICE_DIR (Eq. 5) and write OUTPUT/<device>.npz.

    \b
    The device name is the folder's name, or its parent's when the folder is named flat, nat, natFBH,
    images, photos...: VISION/D01_Samsung/flat is device D01_Samsung. Give NAME=DIR to choose a name.
    Every image of a device must have one size (portrait ones are rotated to landscape). The images stream
    through Eq. 5 (memory: one image per worker); unreadable files are skipped and listed in the file
    (see `csi info`).

    \b
    Examples:
      csi fingerprint VISION/*/images/flat -o fp/
      csi fingerprint alice=phones/a/flat bob=phones/b/flat -o fp/ --workers 0
      csi fingerprint data/*/flat -o fp/ --scheduler tcp://10.0.0.5:8786
    """
    devices, names = [], {}
    for arg in device_dirs:
        name = None
        if "=" in arg and not Path(arg).exists():
            name, arg = arg.split("=", 1)
        dev = batch.scan_device(arg, name=name, majority_size=majority_size)
        if dev.name in names:
            raise CLIError(f"{names[dev.name]} and {arg} both give device name {dev.name!r}; "
                           "name them with NAME=DIR", batch.EXIT_USAGE)
        names[dev.name] = arg
        if len(dev.paths) < min_images:
            raise CLIError(_too_few(dev.name, arg, len(dev.paths), min_images, dev.skipped), batch.EXIT_TOO_FEW)
        devices.append(dev)
    workers = batch.resolve_workers(workers)
    results = batch.compute_fingerprints(devices, workers=workers, scheduler=scheduler, device=device,
                                         progress=ctx.obj["progress"])
    notes: list[str] = []  # printed once the progress bar is gone
    try:
        for dev, K, info in results:
            notes += [f"csi: {dev.name}: skipped {p}: {reason}" for p, reason in info["skipped"]]
            if K is None or len(info["used"]) < min_images:
                raise CLIError(_too_few(dev.name, dev.folder, len(info["used"]), min_images, info["skipped"]),
                               batch.EXIT_TOO_FEW)
            out = output / f"{dev.name}.npz"
            batch.save_fingerprint(out, K, dev, info, device=batch.resolve_device(device))
            notes.append(f"{dev.name}: {len(info['used'])} images ({K.shape[1]}x{K.shape[0]} px), "
                         f"{len(info['skipped'])} skipped -> {out}")
    finally:
        results.close()
        for note in notes:
            if note.startswith("csi: "):
                click.echo(note, err=True)
            else:
                _say(ctx, note)


def _too_few(name, folder, n, need, skipped) -> str:
    why = f"; {len(skipped)} file(s) skipped, first: {skipped[0][0]}: {skipped[0][1]}" if skipped else ""
    return (f"{folder}: device {name!r} has {n} usable image(s), fewer than --min-images {need}{why}. "
            "A fingerprint from few images is too noisy to identify a camera.")


# ------------------------------------------------------------------------------------------- identify


def _photos(sources, recursive: bool) -> list[str]:
    photos = []
    for src in sources:
        p = Path(src)
        if p.is_dir():
            images, _ = batch.list_images(p, recursive=recursive)
            if not images:
                raise CLIError(f"{p}: empty folder, no image files ({', '.join(batch.IMAGE_SUFFIXES)})",
                               batch.EXIT_NO_INPUT)
            photos += [str(x) for x in images]
        elif p.exists():
            photos.append(str(p))
        else:
            raise CLIError(f"{p}: no such file or folder", batch.EXIT_NO_INPUT)
    return photos


def _scales(text: str) -> tuple[float, ...]:
    if not text:
        return ()
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers such as 1,0.75,0.5, got {text!r}") from None
    if any(not 0 < v <= 4 for v in vals):
        raise click.BadParameter(f"scales must be in (0, 4], got {text!r}")
    return vals


def _match_options(threshold, reference, search, scales, rotate, crop, device) -> batch.MatchOptions:
    return batch.MatchOptions(reference=reference, search=search, scales=_scales(scales), rotate=rotate,
                              crop=crop, threshold=threshold, device=batch.resolve_device(device))


def _match_flags(f):
    f = click.option("--crop", type=click.IntRange(16), default=None,
                     help="Score only the centre CROP x CROP pixels (notebook 06's protocol; faster).")(f)
    f = click.option("--rotate", type=click.Choice(["auto", "always", "never"]), default="auto",
                     show_default=True,
                     help="Also try the fingerprint rotated by 180 degrees: auto = for photos shown in portrait "
                          "(the phone may have been turned either way).")(f)
    f = click.option("--scales", default="", metavar="LIST",
                     help="Scale search: also try the fingerprint resampled by these factors, e.g. 1,0.75,0.5 "
                          "(for photos both downscaled and cropped, or cropped with the frame's aspect ratio).")(f)
    f = click.option("--search", type=click.IntRange(0), default=None, metavar="PIXELS",
                     help="PCE peak search radius in pixels. Default: 0 for whole frames and downscaled copies, "
                          "every position inside the frame for cropped photos.")(f)
    f = click.option("--reference", type=click.Choice(["K", "IK"]), default="K", show_default=True,
                     help="Correlate the residual W with K (the paper's rho, as notebook 06) or with I*K "
                          "(image times fingerprint).")(f)
    f = click.option("-t", "--threshold", type=float, default=batch.THRESHOLD, show_default=True,
                     help="PCE above which a photo is attributed.")(f)
    return f


@cli.command(epilog=_EPILOG)
@click.argument("photos", nargs=-1, required=True, metavar="PHOTO_OR_DIR...")
@click.option("-f", "--fingerprints", "fingerprint_sources", required=True, multiple=True,
              metavar="FOLDER_OR_FILE", help="Fingerprint folder (*.npz from csi fingerprint) or file; repeatable.")
@click.option("-o", "--output", default="-", show_default=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Output file; - is stdout.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True,
              help="csv: one row per photo with every candidate's ncc:<device> and pce:<device> columns; "
                   "jsonl: one JSON object per photo with a 'candidates' object.")
@click.option("-r", "--recursive", is_flag=True, help="Look for photos in sub-folders too.")
@_match_flags
@_exec_options
@click.pass_context
def identify(ctx, photos, fingerprint_sources, output, fmt, recursive, threshold, reference, search, scales,
             rotate, crop, workers, device, scheduler):
    """Which camera took each photo? NCC and PCE against every fingerprint, the best device and a decision.

    \b
    The decision is the device with the largest PCE if that PCE exceeds --threshold (60), else 'unknown'
    (the photo's camera may have no fingerprint: an open set). Photos shown in portrait, photos cropped
    from the frame (PCE peak searched over the shifts, offset reported) and downscaled copies (fingerprint
    resampled to the photo's size) are handled. A photo that cannot be read gets decision 'error' with the
    reason; the command then ends with exit code 4 after writing every other row.

    \b
    Examples:
      csi identify VISION/*/images/nat --fingerprints fp/ > nat.csv
      csi identify upload.jpg -f fp/ --format jsonl
      csi identify crops/ -f fp/ --search 64 --scales 1,0.5 -o crops.csv
    """
    fps = batch.find_fingerprints(fingerprint_sources)
    files = _photos(photos, recursive)
    opts = _match_options(threshold, reference, search, scales, rotate, crop, device)
    workers = batch.resolve_workers(workers)
    names = list(fps)
    failed = 0
    problems: list[str] = []  # printed once the progress bar is gone
    counts: dict[str, int] = {}
    with click.open_file(output, "w", encoding="utf-8", lazy=False) as fh:
        writer = None
        if fmt == "csv":
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["photo", "decision", "best_device", "ncc", "pce", "how", "rotation", "scale",
                             "offset_y", "offset_x", "error"]
                            + [f"ncc:{n}" for n in names] + [f"pce:{n}" for n in names])
        for r in batch.identify(files, fps, opts, workers=workers, scheduler=scheduler,
                                progress=ctx.obj["progress"]):
            counts[r["decision"]] = counts.get(r["decision"], 0) + 1
            if r["decision"] == "error":
                failed += 1
                problems.append(f"csi: cannot use {r['photo']}: {r['error']}")
            if writer is not None:
                off = r["offset"] or [None, None]
                writer.writerow([r["photo"], r["decision"], r["best_device"] or "", _num(r["ncc"]), _num(r["pce"]),
                                 r["how"] or "", "" if r["rotation"] is None else r["rotation"],
                                 "" if r["scale"] is None else r["scale"], _blank(off[0]), _blank(off[1]),
                                 r["error"] or ""]
                                + [_num(r["candidates"].get(n, {}).get("ncc", math.nan)) for n in names]
                                + [_num(r["candidates"].get(n, {}).get("pce", math.nan)) for n in names])
            else:
                fh.write(json.dumps(_jsonable(r), allow_nan=False) + "\n")
            fh.flush()
    for line in problems:
        click.echo(line, err=True)
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    _say(ctx, f"{len(files)} photo(s) against {len(names)} fingerprint(s), threshold PCE {threshold:g}: {summary}")
    if failed:
        raise CLIError(f"{failed} of {len(files)} photo(s) could not be used (decision 'error', reasons above)",
                       batch.EXIT_UNREADABLE)


def _num(x) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.6g}"


def _blank(x) -> str:
    return "" if x is None else str(x)


def _jsonable(obj):
    if isinstance(obj, float):
        return None if math.isnan(obj) else obj
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


# --------------------------------------------------------------------------------------------- verify


@cli.command(epilog=_EPILOG)
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a sentence.")
@_match_flags
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="cpu", show_default=True,
              help="Where the wavelet residual runs.")
def verify(a, b, as_json, threshold, reference, search, scales, rotate, crop, device):
    """Same camera or not? A and B are photos or fingerprint files (.npz).

    \b
    photo + fingerprint: as `csi identify` with that one fingerprint;
    photo + photo: PCE of the two residuals (their common centre; weaker than a fingerprint);
    fingerprint + fingerprint: PCE of the two fingerprints.
    Prints 'same camera' when PCE > --threshold (60), else 'not shown to be the same camera'.

    \b
    Examples:
      csi verify upload.jpg fp/D01.npz
      csi verify a.jpg b.jpg --json
    """
    for x in (a, b):
        if not Path(x).exists():
            raise CLIError(f"{x}: no such file", batch.EXIT_NO_INPUT)
    opts = _match_options(threshold, reference, search, scales, rotate, crop, device)
    r = batch.verify(a, b, opts)
    if r.get("error"):
        raise CLIError(f"{a} vs {b}: {r['error']}", batch.EXIT_UNREADABLE)
    if as_json:
        click.echo(json.dumps(_jsonable(r)))
        return
    verdict = "same camera" if r["same"] else "not shown to be the same camera"
    click.echo(f"{verdict}: PCE {r['pce']:.1f} {'>' if r['same'] else '<='} {threshold:g}, NCC {r['ncc']:.4f} "
               f"({r['kind']}, {r['how']})")


# ----------------------------------------------------------------------------------------------- info


@cli.command(epilog=_EPILOG)
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--json", "as_json", is_flag=True, help="Print the metadata as JSON (one object per line).")
@click.option("--all", "show_all", is_flag=True, help="List every image used, not only the first 5.")
def info(files, as_json, show_all):
    """What a fingerprint file holds: device, size, images used and skipped, settings, versions.

    \b
    Example:
      csi info fp/*.npz
    """
    import numpy as np

    for f in files:
        K, meta = batch.load_fingerprint(f)
        if as_json:
            click.echo(json.dumps({"file": str(f), **meta, "K_std": float(np.std(K, dtype=np.float64))}))
            continue
        s = meta["settings"]
        lines = [
            f"{f}: fingerprint of device {meta['device']!r}",
            f"  size        {meta['width']}x{meta['height']} px (landscape), float32, std {np.std(K, dtype=np.float64):.4g}",
            f"  images      {meta['n_images']} used from {meta['folder']}",
        ]
        shown = meta["images"] if show_all else meta["images"][:5]
        lines += [f"                {x}" for x in shown]
        if len(shown) < len(meta["images"]):
            lines.append(f"                ... {len(meta['images']) - len(shown)} more (--all)")
        lines.append(f"  skipped     {len(meta['skipped'])}")
        lines += [f"                {p}: {r}" for p, r in meta["skipped"]]
        lines.append("  settings    " + ", ".join(f"{k}={v}" for k, v in s.items()))
        lines.append(f"  written by  csi {meta['csi_version']}, file format {meta['format']} v{meta['format_version']}")
        click.echo("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    """Console entry point (``csi``; ``pyproject.toml`` ``[project.scripts]``)."""
    cli.main(args=argv, prog_name="csi")


if __name__ == "__main__":
    main()
