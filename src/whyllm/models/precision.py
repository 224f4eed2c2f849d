"""Where a local model runs and in which precision, and how many tokens one forward may hold.

``device="auto"`` is CUDA when present, then Apple's MPS, else the CPU. ``dtype="auto"`` is
bfloat16 on CUDA; on a CPU it is bfloat16 only where the processor has native bfloat16 arithmetic
(``avx512_bf16`` or ``amx_bf16`` on x86, ``bf16`` on Arm) *and* a load-time probe finds the
bfloat16 copy close to float32 (:data:`BF16_TOLERANCE`); everywhere else float32. Measured on this
project's CPU (see README and BENCHMARKS.md): bfloat16 runs Gemma 3 270M about twice as fast and
moves next-token log-probs by at most a few tenths of a nat.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

from whyllm.errors import ModelError

DTYPES = ("auto", "float32", "bfloat16", "float16")
DEVICES = ("auto", "cpu", "cuda", "mps")
# the probe: same greedy next token on every probe prompt, and every log-prob of float32's top 20
# next tokens within this many nats
BF16_TOLERANCE = 0.5
PROBE_PROMPTS = ("The Eiffel Tower is located in the city of",
                 "Review: the acting was superb, though the ending dragged.\n"
                 "Sentiment (positive or negative):",
                 "The capital of Japan is")


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU computes in bfloat16 natively (x86 ``avx512_bf16``/``amx_bf16``, Arm ``bf16``)."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        if not path.is_file():
            return platform.system() == "Darwin" and platform.machine() == "arm64" and _mac_bf16()
        cpuinfo = path.read_text(errors="replace")
    flags = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def _mac_bf16() -> bool:
    import subprocess

    try:
        out = subprocess.run(["sysctl", "-n", "hw.optional.arm.FEAT_BF16"], capture_output=True, text=True,
                             timeout=5)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.stdout.strip() == "1"


def resolve_device(device: str | None):
    import torch

    name = (device or "auto").lower()
    if name not in DEVICES and not name.startswith("cuda:"):
        raise ModelError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} was asked for, but torch sees no CUDA GPU here")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ModelError("device 'mps' was asked for, but torch sees no Apple GPU here")
    return torch.device(name)


def check_dtype(dtype: str | None) -> str:
    name = (dtype or "auto").lower()
    if name not in DTYPES:
        raise ModelError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    return name


def auto_candidate(device) -> str:
    """The dtype ``auto`` tries first on ``device`` (a CPU's bfloat16 still has to pass the probe)."""
    if device.type == "cuda":
        return "bfloat16"
    if device.type == "cpu" and cpu_has_native_bf16():
        return "bfloat16"
    return "float32"


@dataclass(frozen=True)
class ProbeResult:
    """How far a lower-precision copy is from float32 on :data:`PROBE_PROMPTS`."""

    max_abs_diff: float
    same_top1: bool

    @property
    def ok(self) -> bool:
        return self.same_top1 and self.max_abs_diff <= BF16_TOLERANCE


def compare_next_tokens(reference: list, candidate: list, k: int = 20) -> ProbeResult:
    """Compare next-token log-prob vectors (one per probe prompt) over the reference's top ``k``."""
    worst, same = 0.0, True
    for ref, cand in zip(reference, candidate):
        top = ref.topk(k).indices
        worst = max(worst, float((ref[top] - cand[top]).abs().max()))
        same = same and int(ref.argmax()) == int(cand.argmax())
    return ProbeResult(worst, same)


def available_memory(device) -> int:
    """Bytes free for activations on ``device``."""
    import torch

    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 << 30


def default_max_batch_tokens(config, device, element_size: int) -> int:
    """Tokens per forward: on a CPU 2048 (larger batches do not raise the GEMM rate, measured in
    BENCHMARKS.md, and cost memory), on a GPU as many as a quarter of free memory holds (at most
    65,536); always within a quarter of free memory by a per-token activation estimate."""
    hidden = int(getattr(config, "hidden_size", 1024) or 1024)
    inner = int(getattr(config, "intermediate_size", 4 * hidden) or 4 * hidden)
    per_token = (12 * hidden + 4 * inner) * element_size + 4096  # activations + attention chunk share
    fit = int(available_memory(device) // 4 // per_token)
    cap = 65536 if device.type == "cuda" else 2048
    env = os.environ.get("WHYLLM_MAX_BATCH_TOKENS")
    if env:
        return max(1, int(env))
    return max(128, min(cap, fit))
