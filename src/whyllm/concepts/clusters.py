"""``clusters``: concepts from the target model's own contextual representations, no generator.

Each content word of the text (stop words and punctuation are in no concept unless
``stopwords=True``) is the mean hidden state of its tokens at ``layer`` of the target model (its
middle layer by default) in the full prompt, centred over the text's words; the words are grouped
by average-linkage agglomerative clustering on cosine distance (deterministic: no random start),
into ``k`` concepts (half the words, 2 to 6, by default) or,
with ``distance``, wherever the cophenetic distance stays below the cut. A concept is named by its
two most central words (closest to its mean). One forward of the target model, counted as the
extractor's cost. Cf. ConceptSHAP / ACE-style concept discovery from activations (Ghorbani et al.
2019, "Towards Automatic Concept-based Explanations"), applied per input as UnCLE's extractor.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from whyllm.concepts.base import EXTRACTORS, Extractor, ExtractorCost
from whyllm.errors import InputError
from whyllm.features.concepts import Concept, token_position
from whyllm.features.prompt_input import split_template
from whyllm.features.segmenters import SEGMENTERS
from whyllm.models.base import LanguageModel

STOPWORDS = frozenset("""a an the and or but if of to in on at by for with from as is are was were be
been being it its this that these those i you he she we they me him her us them my your his our
their not no so
than then too very can will just do does did has have had there here what which who whom when where
why how all any both each few more most other some such only own same into over under again also""".split())  # noqa: SIM905


def content_words(text: str, stopwords: bool) -> list[tuple[int, int]]:
    out = []
    for s, e in SEGMENTERS.get("words")(text):
        core = re.sub(r"\W+", "", text[s:e].lower())
        if core and (stopwords or core not in STOPWORDS):
            out.append((s, e))
    return out


def word_vectors(model: LanguageModel, text: str, template: str | None, words: list[tuple[int, int]],
                 layer: int | None, cost: ExtractorCost) -> tuple[np.ndarray, int]:
    """Mean hidden state (at ``layer``) of each word's tokens in the prompt, centred and
    L2-normalised, and the layer read."""
    box = model.white_box()
    if box is None:
        raise InputError("the clusters extractor reads hidden states: it needs a local (hf) model; or "
                         "choose another with extractor=lexicon|spans|llm")
    import torch

    prefix, suffix = split_template(template)
    prompt = prefix + text + suffix
    enc = model.encode(prompt)
    n_layers = box.n_layers
    layer = n_layers // 2 if layer is None else int(layer)
    if not 0 <= layer <= n_layers:
        raise InputError(f"layer must be in 0..{n_layers} (0: the embeddings); got {layer}")
    with torch.inference_mode():
        hidden = box.layer_states(torch.tensor([list(enc.ids)], dtype=torch.long))[layer][0]
    cost.add(len(enc.ids))
    hidden = hidden.float().cpu().numpy()
    starts = [None if sp or e <= s else token_position(prompt, s, e) - len(prefix)
              for (s, e), sp in zip(enc.offsets, enc.special)]
    vecs = []
    for s, e in words:
        rows = [t for t, p in enumerate(starts) if p is not None and s <= p < e]
        # a word's punctuation ("brisk," "middle.") would make it a neighbour of every other such word
        rows = [t for t in rows if re.search(r"\w", prompt[slice(*enc.offsets[t])])] or rows
        vecs.append(hidden[rows].mean(axis=0) if rows else np.zeros(hidden.shape[1]))
    # centred first: hidden states share one dominant direction (anisotropy, Ethayarajh 2019), which
    # would make every cosine distance small
    vecs = np.asarray(vecs) - np.mean(vecs, axis=0)
    return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12), layer


@EXTRACTORS.register("clusters")
class Clusters(Extractor):
    name = "clusters"

    def __init__(self, k: int | None = None, distance: float | None = None, layer: int | None = None,
                 stopwords: bool = False) -> None:
        if k is not None and distance is not None:
            raise InputError("give k (how many concepts) or distance (where to cut), not both")
        if k is not None and int(k) < 1:
            raise InputError(f"k must be at least 1, got {k}")
        self.k = None if k is None else int(k)
        self.distance = None if distance is None else float(distance)
        self.layer = None if layer is None else int(layer)
        self.stopwords = bool(stopwords)
        self.notes: dict[str, Any] = {}

    def find(self, model: LanguageModel, text: str, template: str | None,
             cost: ExtractorCost) -> list[Concept]:
        from scipy.cluster.hierarchy import fcluster, linkage

        words = content_words(text, self.stopwords)
        if not words:
            raise InputError("the text has no content words to cluster into concepts")
        vecs, layer = word_vectors(model, text, template, words, self.layer, cost)
        if len(words) == 1:
            labels = np.array([1])
        else:
            tree = linkage(vecs, method="average", metric="cosine")
            if self.distance is not None:
                labels = fcluster(tree, t=self.distance, criterion="distance")
            else:
                k = self.k if self.k is not None else min(6, max(2, len(words) // 2))
                labels = fcluster(tree, t=min(k, len(words)), criterion="maxclust")
        # concepts in order of their first word; each named by its two most central words
        out, used = [], set()
        for label in sorted(set(labels.tolist()), key=lambda lab: int(np.flatnonzero(labels == lab)[0])):
            members = np.flatnonzero(labels == label)
            centre = vecs[members].mean(axis=0)
            central = members[np.argsort(-(vecs[members] @ centre), kind="stable")][:2]
            name = "/".join(dict.fromkeys(re.sub(r"^\W+|\W+$", "", text[slice(*words[i])]) for i in central))
            base, n = name or "concept", 2
            while name in used or not name:
                name, n = f"{base} ({n})", n + 1
            used.add(name)
            out.append(Concept(name, tuple(words[i] for i in members)))
        self.notes = {"layer": layer, "words_clustered": len(words)}
        return out

    def recorded(self) -> dict[str, Any]:
        return {"k": self.k, "distance": self.distance, "layer": self.layer, "stopwords": self.stopwords}
