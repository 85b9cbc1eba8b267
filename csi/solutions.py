"""The workshop's solutions, base64-encoded in ``notebooks/workshop_solutions.b64`` so that they are not plain
text beside the notebook (a JSON object: exercise number -> code; ``tools/workshop_solutions.py`` unpacks and
packs them for editing). A solution cell calls :func:`run`.

Example:
    >>> from csi import solutions
    >>> sorted(solutions.load())
    [1, 2, 3, 4]
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

SOLUTIONS = Path(__file__).resolve().parents[1] / "notebooks" / "workshop_solutions.b64"


def load(path: str | Path = SOLUTIONS) -> dict[int, str]:
    """Exercise number -> the code of its solution."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: the workshop's solutions are missing")
    return {int(k): v for k, v in json.loads(base64.b64decode(Path(path).read_text("ascii"))).items()}


def run(k: int, path: str | Path = SOLUTIONS) -> None:
    """Show the code of exercise ``k``'s solution, then run it in the notebook's namespace as a cell of its own
    (its last expression is displayed; an error is raised here, so a papermill run fails on it)."""
    from IPython import get_ipython
    from IPython.display import Markdown, display

    code = load(path)[k]
    display(Markdown(f"**Solution {k}**\n\n```python\n{code.rstrip()}\n```"))
    get_ipython().run_cell(code, store_history=False).raise_error()
