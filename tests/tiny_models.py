"""A tiny transformers-shaped causal LM whose neurons can be planted by hand (for exact tests).

Each position sees the mean embedding of the tokens so far (a causal bag of words, standing in for
attention), then ``layers.<l>.mlp`` blocks with ``gate_proj``/``up_proj``/``down_proj`` exactly
where Gemma and Llama have them, then ``lm_head``. It speaks the small part of the transformers
interface whyllm uses (``base_model``, ``past_key_values`` with ``crop``, attention masks), and
:func:`tiny_hf_model` wraps it with a real word-level fast tokenizer, so the whole ``hf`` backend
and the neuron tools run on it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace

import torch
from torch import nn


class TinyCache:
    """Per-position embeddings and mask so far: what the bag-of-words mixer needs to go on."""

    def __init__(self, emb: torch.Tensor, mask: torch.Tensor) -> None:
        self.emb, self.mask = emb, mask

    def get_seq_length(self) -> int:
        return self.emb.shape[1]

    def crop(self, length: int) -> None:
        keep = length if length >= 0 else self.emb.shape[1] + length
        self.emb, self.mask = self.emb[:, :keep], self.mask[:, :keep]


class TinyMLP(nn.Module):
    def __init__(self, dim: int, width: int) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(dim, width, bias=False)
        self.up_proj = nn.Linear(dim, width, bias=False)
        self.down_proj = nn.Linear(width, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(torch.relu(self.gate_proj(x)) * self.up_proj(x))


class TinyBlock(nn.Module):
    def __init__(self, dim: int, width: int) -> None:
        super().__init__()
        self.mlp = TinyMLP(dim, width)


class TinyBase(nn.Module):
    def __init__(self, vocab: int, dim: int, width: int, layers: int) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList(TinyBlock(dim, width) for _ in range(layers))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, past_key_values: TinyCache | None = None,
                use_cache: bool = False, **_) -> SimpleNamespace:
        emb = self.embed_tokens(input_ids)
        past = past_key_values.get_seq_length() if past_key_values is not None else 0
        if attention_mask is None:
            attention_mask = torch.ones(input_ids.shape[0], past + input_ids.shape[1], dtype=torch.long)
        new_mask = attention_mask[:, past:].to(emb.dtype)
        if past_key_values is not None:
            all_emb = torch.cat([past_key_values.emb, emb], dim=1)
            all_mask = torch.cat([past_key_values.mask, new_mask], dim=1)
        else:
            all_emb, all_mask = emb, new_mask
        sums = (all_emb * all_mask[..., None]).cumsum(dim=1)
        counts = all_mask.cumsum(dim=1).clamp(min=1)[..., None]
        h = (sums / counts)[:, past:]
        for block in self.layers:
            h = h + block.mlp(h)
        cache = None
        if use_cache:
            cache = past_key_values or TinyCache(all_emb[:, :0], all_mask[:, :0])
            cache.emb, cache.mask = all_emb.detach(), all_mask
        return SimpleNamespace(last_hidden_state=h, past_key_values=cache)


class TinyCausalLM(nn.Module):
    """``TinyCausalLM(vocab, dim, width, layers)``; set weights through ``.model`` and ``.lm_head``."""

    def __init__(self, vocab: int, dim: int = 8, width: int = 16, layers: int = 2) -> None:
        super().__init__()
        self.model = TinyBase(vocab, dim, width, layers)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.config = SimpleNamespace(max_position_embeddings=128, sliding_window=None,
                                      final_logit_softcapping=None)

    @property
    def base_model(self) -> TinyBase:
        return self.model

    def get_input_embeddings(self) -> nn.Embedding:
        return self.model.embed_tokens

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                past_key_values: TinyCache | None = None, use_cache: bool = False, **_) -> SimpleNamespace:
        out = self.model(input_ids, attention_mask, past_key_values=past_key_values, use_cache=use_cache)
        logits = self.lm_head(out.last_hidden_state)
        return SimpleNamespace(logits=logits, past_key_values=out.past_key_values)


def word_tokenizer(words: Sequence[str], bos: bool = True, chat_template: str | None = None):
    """A real fast tokenizer (``tokenizers`` WordLevel): ids 0-3 are pad, eos, bos, unk. With
    ``bos=False`` it adds no BOS to a text (as SmolLM2's, GPT-2's and Qwen's do not), though it
    still names ``<bos>`` as its BOS token; ``chat_template`` is a Jinja chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3}
    for w in words:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    if bos:
        tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 2)])
    out = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>",
                                  pad_token="<pad>", unk_token="<unk>")
    if chat_template is not None:
        out.chat_template = chat_template
    return out


def tiny_hf_model(net: TinyCausalLM, words: Sequence[str], name: str = "tiny"):
    """``net`` behind whyllm's ``hf`` backend, with a word-level tokenizer over ``words``."""
    from whyllm.models.hf import HFModel

    return HFModel(net, word_tokenizer(words), name, "0", batch_size=16, cache=None, probe=False)


def save_random_llama(folder, words: Sequence[str], *, seed: int = 0, bos: bool = True,
                      chat_template: str | None = None, **config) -> None:
    """A real (small, random) transformers Llama with a word-level tokenizer over ``words``, saved to
    ``folder`` as safetensors; ``config`` overrides ``LlamaConfig`` fields (layers, heads, sizes)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    fields = {"vocab_size": 4 + len(words), "hidden_size": 16, "intermediate_size": 32,
              "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
              "max_position_embeddings": 64, "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0}
    with torch.random.fork_rng():  # its own seeded draw: torch's global generator is left as it was
        torch.manual_seed(seed)
        net = LlamaForCausalLM(LlamaConfig(**{**fields, **config}))
    net.save_pretrained(folder, safe_serialization=True)
    word_tokenizer(words, bos=bos, chat_template=chat_template).save_pretrained(folder)
