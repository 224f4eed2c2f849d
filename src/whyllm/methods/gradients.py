"""White-box baselines for local transformers models: gradients and attention on the input.

* ``saliency``: the L2 norm of d(target column)/d(input embedding) at each token (Simonyan, Vedaldi
  & Zisserman 2014, "Deep Inside Convolutional Networks");
* ``input_x_gradient``: embedding · gradient, summed over the hidden dimension (Shrikumar et al.
  2016, "Not Just a Black Box");
* ``integrated_gradients``: (embedding - baseline) · the mean gradient along the straight path from
  a zero baseline, ``steps`` points (a right Riemann sum), batched (Sundararajan, Taly & Yan 2017,
  "Axiomatic Attribution for Deep Networks");
* ``attention``: the attention weight from the positions that predict the answer tokens to each
  input token, averaged over heads and the last ``layers`` layers (the baseline ContextCite and
  AttriBoT compare against).

Token scores are summed into the input's features (any feature kind; template tokens are left out),
one column per answer token (the target's signed per-token log-probs), so these methods give the
features x answer-tokens matrix too; the values are its row sums. Each costs one forward and one
backward per answer column (IG: per column, ``steps`` rows, in chunks of bounded tokens; with
``matrix=False`` one backward for all columns), counted in the cost; the budget does not apply.
ContextCite and AttriBoT report these as weak baselines: they are here to be measured against, not
trusted.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

import numpy as np

from whyllm import uncertainty
from whyllm.fits import NoFit
from whyllm.methods.base import METHODS, Attribution, Method
from whyllm.models.base import require_white_box
from whyllm.models.white_box import WhiteBox
from whyllm.objective import PromptObjective

CHUNK_TOKENS = 4096  # tokens per forward/backward of the gradient methods (path points x length)


def _local(objective: PromptObjective) -> WhiteBox:
    return require_white_box(objective.model, "white-box methods")


def _rows(objective: PromptObjective) -> list[tuple[list[int], int, int, int]]:
    """(token ids, first answer position, answer length, sign) of each scored part of the target."""
    out = []
    for sign, req in zip(objective.target.signs, objective.target.requests(objective.input.ids)):
        out.append((list(req.prompt) + list(req.continuation), len(req.prompt), len(req.continuation), sign))
    return out


def _column_logprobs(box: WhiteBox, embeds, ids, start, n):
    """Per-answer-token log-probs (n,) for a batch of input embeddings (b, len, dim): (b, n)."""
    import torch

    hidden = box.forward(embeds=embeds).hidden
    logits = box.logits(hidden[:, start - 1:start - 1 + n]).float()
    targets = torch.tensor(ids[start:start + n], device=logits.device)
    return torch.log_softmax(logits, dim=-1)[:, torch.arange(n), targets]


def _to_features(objective: PromptObjective, token_scores: np.ndarray) -> np.ndarray:
    """(prompt tokens, columns) -> (features, columns): each feature's tokens summed."""
    groups = objective.input.groups
    return np.stack([token_scores[g].sum(axis=0) for g in groups])


def _finish(objective: PromptObjective, matrix: np.ndarray | None, values: np.ndarray | None = None
            ) -> Attribution:
    """The attribution with the base and full values; the values are the matrix's row sums."""
    n = objective.n_features
    ends = np.array([np.ones(n, dtype=bool), np.zeros(n, dtype=bool)])
    cols = objective(ends)  # the full and the empty input, for the base and full values
    full, base = (float(v) for v in objective.reduce(cols))
    if matrix is None:
        return Attribution(np.asarray(values, dtype=np.float64), base, full, NoFit())
    return Attribution(matrix.sum(axis=1), base, full, NoFit(), matrix=matrix,
                       base_columns=cols[1], full_columns=cols[0])


class WhiteBoxMethod(Method):
    """A method that reads the model's internals once: no sampling budget, every answer column."""

    multi_output: ClassVar[bool] = True
    white_box: ClassVar[bool] = True

    def min_budget(self, n_features: int) -> int:
        return 0

    def default_budget(self, n_features: int) -> int:
        return 2

    def check_budget(self, n_features: int, budget: int) -> None:
        return None


class GradientMethod(WhiteBoxMethod):
    """Shared path: per target part and answer column, gradients of the log-prob w.r.t. the input
    embeddings; subclasses turn (embedding, gradient) into token scores.

    The path points run in chunks of at most :data:`CHUNK_TOKENS` tokens (forward and backward
    each), so memory stays bounded on long prompts; gradients are summed over the chunks. With
    ``matrix=False`` one backward per chunk differentiates the summed log-prob instead of one per
    answer column: the values are the same (the gradient is linear in the output), at 1/n of the
    backward cost for an n-token answer, and no matrix is kept."""

    steps: int = 1
    matrix: bool = True

    def token_scores(self, emb, grad):  # (len, dim), (len, dim) -> (len,)
        raise NotImplementedError

    def path_gradients(self, objective: PromptObjective, lm: WhiteBox, ids: list[int], start: int, n: int):
        """(prompt embeddings (len, dim), gradients summed over the path points: (columns, len, dim))."""
        import torch

        n_prompt = len(objective.input.ids)
        emb = lm.embed(torch.tensor([ids])).detach()
        scales = torch.linspace(1.0 / self.steps, 1.0, self.steps, device=emb.device, dtype=emb.dtype)
        per_chunk = max(1, CHUNK_TOKENS // len(ids))
        columns = n if self.matrix else 1
        total = torch.zeros(columns, n_prompt, emb.shape[-1], dtype=torch.float32, device=emb.device)
        for lo in range(0, self.steps, per_chunk):
            path = (emb * scales[lo:lo + per_chunk].view(-1, 1, 1)).requires_grad_(True)
            lp = _column_logprobs(lm, path, ids, start, n)  # (chunk, n)
            outputs = [lp[:, j].sum() for j in range(n)] if self.matrix else [lp.sum()]
            for j, out in enumerate(outputs):
                (grad,) = torch.autograd.grad(out, path, retain_graph=j < len(outputs) - 1)
                total[j] += grad[:, :n_prompt].float().sum(dim=0)
            objective.meter.forward_passes += 1
        return emb[0, :n_prompt].float(), total

    def attribute(self, objective: PromptObjective, budget: int, rng: np.random.Generator) -> Attribution:
        import torch

        lm = _local(objective)
        columns = []
        for ids, start, n, sign in _rows(objective):
            with torch.inference_mode(False), torch.enable_grad():
                emb, total = self.path_gradients(objective, lm, ids, start, n)
                for g in total / self.steps:
                    columns.append(sign * self.token_scores(emb, g).detach().cpu().numpy())
            objective.meter.sequences += self.steps
            objective.meter.tokens += self.steps * len(ids)
        scores = np.stack(columns, axis=1).astype(np.float64)
        if not self.matrix:  # one column per target part: their sum is the value
            return _finish(objective, None, values=_to_features(objective, scores).sum(axis=1))
        return _finish(objective, _to_features(objective, scores))


@METHODS.register("saliency")
class Saliency(GradientMethod):
    name = "saliency"

    def token_scores(self, emb, grad):
        return grad.norm(dim=-1)


@METHODS.register("input_x_gradient")
class InputXGradient(GradientMethod):
    name = "input_x_gradient"

    def token_scores(self, emb, grad):
        return (emb * grad).sum(dim=-1)


@METHODS.register("integrated_gradients")
class IntegratedGradients(GradientMethod):
    name = "integrated_gradients"

    def __init__(self, steps: int = 16, matrix: bool = True) -> None:
        self.steps = int(steps)
        self.matrix = bool(matrix)

    def token_scores(self, emb, grad):
        return (emb * grad).sum(dim=-1)  # baseline 0: (x - 0) times the path-averaged gradient

    def attribute(self, objective: PromptObjective, budget: int, rng: np.random.Generator) -> Attribution:
        """The path integral, and its completeness gap as its error (captum's convergence delta)."""
        result = super().attribute(objective, budget, rng)
        gap = float(result.values.sum()) - path_difference(objective, _local(objective))
        unc = uncertainty.completeness(result.values, gap, "integrated gradients (baseline: zero embeddings)")
        return replace(result, uncertainty=unc)


def path_difference(objective: PromptObjective, lm: WhiteBox) -> float:
    """f(input) - f(zero embeddings) of the target along the IG path's ends: what the attributions
    of a complete integral sum to."""
    import torch

    total = 0.0
    for ids, start, n, sign in _rows(objective):
        with torch.inference_mode():
            emb = lm.embed(torch.tensor([ids]))
            ends = torch.cat([emb, torch.zeros_like(emb)])
            lp = _column_logprobs(lm, ends, ids, start, n).sum(dim=1).float().cpu().numpy()
        objective.meter.forward_passes += 1
        total += sign * float(lp[0] - lp[1])
    return total


@METHODS.register("attention")
class Attention(WhiteBoxMethod):
    name = "attention"

    def __init__(self, layers: int = 1) -> None:
        self.layers = int(layers)

    def attribute(self, objective: PromptObjective, budget: int, rng: np.random.Generator) -> Attribution:
        import torch

        lm = _local(objective)
        n_prompt = len(objective.input.ids)
        columns = []
        with lm.eager_attention():
            for ids, start, n, sign in _rows(objective):
                with torch.inference_mode():
                    ids_t = torch.tensor([ids], device=lm.device)
                    out = lm.forward(ids=ids_t, attentions=True)
                att = torch.stack([a[0].float() for a in out.attentions[-self.layers:]]).mean(dim=(0, 1))
                for j in range(n):  # position start-1+j predicts answer token j
                    columns.append(sign * att[start - 1 + j, :n_prompt].cpu().numpy())
                objective.meter.forward_passes += 1
                objective.meter.sequences += 1
                objective.meter.tokens += len(ids)
        matrix = _to_features(objective, np.stack(columns, axis=1).astype(np.float64))
        return _finish(objective, matrix)
