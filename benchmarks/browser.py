"""Screenshots of whyllm's HTML in headless Chromium (Debian's ``chromium``), for BENCHMARKS.md."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def screenshot(url: str, png: Path, size: tuple[int, int] = (1400, 4000), colors: int = 96) -> None:
    """Render ``url`` (``file://`` or ``http://127.0.0.1``) and save it trimmed of its white margin."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("no chromium: apt-get install chromium")
    from PIL import Image, ImageOps

    png.parent.mkdir(parents=True, exist_ok=True)
    raw = png.with_suffix(".raw.png")
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={raw}", f"--window-size={size[0]},{size[1]}", url],
                   check=True, capture_output=True, timeout=120)
    # the whole page, trimmed of its white margin, in a few colours (a sixth of the raw size)
    im = Image.open(raw).convert("RGB")
    box = ImageOps.invert(im).getbbox()
    im.crop((0, 0, box[2] + 10, box[3] + 10)).quantize(colors=colors).save(png, optimize=True)
    raw.unlink()
