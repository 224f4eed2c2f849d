"""Tokenization shared by the backends that use a transformers tokenizer (local and served models)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from whyllm.errors import ModelError
from whyllm.models.base import Encoding


def hf_encode(tokenizer, text: str, add_special_tokens: bool = True) -> Encoding:
    """Token ids with character offsets from a (fast) transformers tokenizer."""
    enc = tokenizer(text, add_special_tokens=add_special_tokens, return_offsets_mapping=True,
                    return_special_tokens_mask=True)
    return Encoding(tuple(enc["input_ids"]), tuple(tuple(o) for o in enc["offset_mapping"]),
                    tuple(bool(s) for s in enc["special_tokens_mask"]))


def bos_like(tokenizer) -> int | None:
    """A transformers tokenizer's BOS token, else its end-of-text token (GPT-2's is both), else None."""
    for name in ("bos_token_id", "eos_token_id"):
        tok = getattr(tokenizer, name, None)
        if isinstance(tok, int):
            return tok
    return None


class TokenizedByHF:
    """The tokenizer part of a backend whose ``tokenizer`` is a transformers tokenizer (the local
    ``hf`` backend and served models, which must use the served model's own tokenizer)."""

    tokenizer: object

    def encode(self, text: str, add_special_tokens: bool = True) -> Encoding:
        return hf_encode(self.tokenizer, text, add_special_tokens)

    def bos_like_token(self) -> int | None:
        return bos_like(self.tokenizer)

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=False)


def load_tokenizer(path: str | Path):
    """A transformers tokenizer from a local folder (no hub access)."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception as exc:
        raise ModelError(f"cannot load a tokenizer from {path}: {exc}") from exc
