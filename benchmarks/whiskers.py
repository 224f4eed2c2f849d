"""The HTML report's value bars with their 95 % intervals (whiskers) and the shaded rows below the
certain top-k, on a real Gemma explanation, screenshotted by headless Chromium into ``docs/``.

    .venv/bin/python benchmarks/whiskers.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser import screenshot

import whyllm

DOCS = Path(__file__).resolve().parents[1] / "docs"


def main() -> None:
    model = whyllm.load_model(dtype="float32")
    exp = whyllm.explain("the acting was superb, though the ending dragged.",
                         target=(" positive", " negative"),
                         template="Review: {text}\nSentiment (positive or negative):", method="lime",
                         model=model, budget="auto", seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "whiskers.html"
        exp.to_html(str(page))
        screenshot(page.as_uri(), DOCS / "explanation-whiskers.png", size=(1000, 1400))
    print(f"certain top {exp.certain_top}; stopping {exp.uncertainty['stopping']['reason']} at "
          f"{exp.params['budget']} evaluations; wrote {DOCS / 'explanation-whiskers.png'}")


if __name__ == "__main__":
    main()
