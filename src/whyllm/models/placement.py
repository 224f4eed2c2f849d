"""Put a loaded ``hf`` model in the precision and on the device asked for (``dtype="auto"`` probes).

See :mod:`whyllm.models.precision` for the rules; this module applies them to a loaded model: it
measures float32's next-token log-probs on the probe prompts, casts, measures again and keeps the
cast only if the probe passes (``auto``), restoring the float32 weights otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from whyllm.models.precision import ProbeResult, auto_candidate, compare_next_tokens, default_max_batch_tokens

log = logging.getLogger(__name__)
TORCH_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@torch.inference_mode()
def next_token_logprobs(lm, prompts) -> list[torch.Tensor]:
    """Float32 log-softmax of the next token after each prompt (plain forwards)."""
    out = []
    for text in prompts:
        ids = torch.tensor([lm.encode(text).ids], dtype=torch.long, device=lm.device)
        box = lm.white_box()
        hidden = box.forward(ids=ids).hidden[0, -1:]
        out.append(torch.log_softmax(box.logits(hidden).float()[0], dim=-1).cpu())
    return out


def probe_precision(lm, dtype: torch.dtype) -> ProbeResult:
    """Cast ``lm`` (now float32) to ``dtype`` and compare with float32 on the probe prompts; ``lm``
    is left in ``dtype``."""
    from whyllm.models.precision import PROBE_PROMPTS

    reference = next_token_logprobs(lm, PROBE_PROMPTS)
    lm.to(dtype=dtype)
    return compare_next_tokens(reference, next_token_logprobs(lm, PROBE_PROMPTS))


def place(lm, dtype: str, device: torch.device, explicit_max_tokens: int | None = None,
          reload: Callable[[], torch.nn.Module] | None = None) -> None:
    """Cast and move ``lm`` (loaded in float32 on the CPU) as asked; ``auto`` as documented.
    ``reload`` gives the float32 network again when an ``auto`` probe rejects bfloat16 (keeping a
    float32 copy in memory during the probe would double the peak)."""
    lm.precision_probe = None
    if dtype == "auto":
        choice = auto_candidate(device)
        if choice == "bfloat16" and device.type == "cpu" and reload is not None:
            result = probe_precision(lm, torch.bfloat16)
            lm.precision_probe = result
            if not result.ok:
                log.info("bfloat16 probe failed (max |diff| %.3f nats, same top-1: %s); using float32",
                         result.max_abs_diff, result.same_top1)
                lm.model = reload().eval()
                lm._sync_placement()
        elif choice != "float32":
            lm.to(dtype=TORCH_DTYPES[choice])
    elif dtype != "float32":
        lm.to(dtype=TORCH_DTYPES[dtype])
    if device.type != "cpu":
        lm.to(device=device)
    if not explicit_max_tokens:
        lm.max_batch_tokens = default_max_batch_tokens(lm.model.config, lm.device, lm.model.dtype.itemsize)
