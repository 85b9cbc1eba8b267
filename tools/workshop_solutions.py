"""Edit the workshop's hidden solutions (``notebooks/workshop_solutions.b64``, read by ``csi.solutions``).

    .venv/bin/python tools/workshop_solutions.py unpack DIR   # DIR/solution_K.py, one per exercise
    .venv/bin/python tools/workshop_solutions.py pack DIR     # encode them back
"""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path

from csi.solutions import SOLUTIONS, load


def encode(solutions: dict[int, str]) -> str:
    """Exercise number -> code, as the base64 text that ``csi.solutions.load`` reads (76-character lines)."""
    raw = json.dumps({str(k): solutions[k] for k in sorted(solutions)}, ensure_ascii=False, indent=1)
    return base64.encodebytes(raw.encode("utf-8")).decode("ascii")


def unpack(folder: Path, path: Path = SOLUTIONS) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k, code in load(path).items():
        (folder / f"solution_{k}.py").write_text(code, encoding="utf-8")
        print(f"wrote {folder / f'solution_{k}.py'}")


def pack(folder: Path, path: Path = SOLUTIONS) -> None:
    files = sorted(folder.glob("solution_*.py"))
    if not files:
        raise FileNotFoundError(f"{folder}: no solution_K.py files to pack")
    solutions = {int(f.stem.split("_", 1)[1]): f.read_text(encoding="utf-8") for f in files}
    Path(path).write_text(encode(solutions), encoding="ascii")
    print(f"wrote {path}: solutions {sorted(solutions)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("unpack", "pack"))
    parser.add_argument("folder", type=Path, help="the folder of solution_K.py files")
    parser.add_argument("--file", type=Path, default=SOLUTIONS, help="the encoded file")
    args = parser.parse_args(argv)
    (unpack if args.action == "unpack" else pack)(args.folder, args.file)


if __name__ == "__main__":
    main()
