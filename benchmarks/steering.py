"""Cross-lingual steering case study: neurons sufficient for answering in French, enforced on English prompts.

    .venv/bin/python benchmarks/steering.py            # French
    .venv/bin/python benchmarks/steering.py --language es

1. Source prompts are translation prompts ("English: The dog is sleeping.\\nFrench:"). On each,
   ``whyllm.neurons.sufficient_set`` finds the neurons that keep the French first token ahead of
   the English one (contrast target: Gemma's greedy French token vs the sentence's first English
   word) while the prompt's words, "French:" included, are deleted at random.
2. The language set is the union of the per-source sets; each neuron is enforced at the mean of its
   values over the source prompts (so the set carries "answer in French", not one sentence).
3. ``whyllm.neurons.steer`` enforces it, at the last prompt position and every generated one, on
   unrelated English completion prompts ("The capital of France is"), generating greedily; success
   is a continuation judged French. Control: as many random neurons from the same layers, set to
   their own mean source values (3 draws). Fluency: mean log-prob per token of the steered text
   under the unsteered model.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import whyllm
from whyllm.neurons import steer, sufficient_set
from whyllm.neurons.sites import Sites
from whyllm.neurons.steer import greedy_generate, source_activations

LANGUAGES = {"fr": "French", "es": "Spanish"}
SENTENCES = ["The dog is sleeping.", "I like bread.", "Where is the house?", "The water is cold.",
             "The cat is black.", "We are going to the sea."]
TEST_PROMPTS = ["The capital of France is", "My favourite food is", "Yesterday I went to the",
                "The best way to learn is", "In the morning, the children", "The weather today is",
                "She opened the door and", "Our teacher told us that", "The old man walked to the",
                "When the train arrived,", "This recipe needs two cups of", "The museum is open from"]


def first_tokens(model, prompt: str, sentence: str) -> tuple[str, str]:
    """Gemma's greedy first token after the translation prompt, and the sentence's first word."""
    sites = Sites(model.white_box())
    native = model.decode(greedy_generate(model, model.encode(prompt).ids, None, sites, 1, False))
    return native, " " + sentence.split()[0]


def mean_values(model, prompts: list[str], names: list[str]) -> dict[str, float]:
    sites = Sites(model.white_box())
    acts = np.mean([source_activations(model, p) for p in prompts], axis=0)
    return {n: float(acts[sites.flat(n)]) for n in names}


def random_names(model, names: list[str], seed: int) -> list[str]:
    sites = Sites(model.white_box())
    picked = sites.random_like([sites.flat(n) for n in names], np.random.default_rng(seed))
    return [sites.name(c) for c in picked]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--language", choices=sorted(LANGUAGES), default="fr")
    ap.add_argument("--p", type=float, default=0.5, help="deletion probability per word of the source")
    ap.add_argument("--max-new-tokens", type=int, default=8)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "steering.json"))
    args = ap.parse_args()
    t0 = time.perf_counter()
    model = whyllm.load_model(cache=False, threads=args.threads)
    lang = LANGUAGES[args.language]
    sources, found = [], []
    for sentence in SENTENCES:
        prompt = f"English: {sentence}\n{lang}:"
        target = first_tokens(model, prompt, sentence)
        if target[0].strip() == target[1].strip():
            print(f"{prompt!r}: Gemma does not translate it ({target[0]!r}); skipped", file=sys.stderr)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exp = sufficient_set(prompt, target, model=model, sample_proba=args.p, seed=0, max_size=64)
        fit = exp.fit
        names = [r["name"] for r in fit.neurons]
        found.append({"prompt": prompt, "target": list(target), "size": len(names), "neurons": names,
                      "precision": fit.precision, "unenforced": fit.precision_unenforced,
                      "passes": exp.cost.forward_passes})
        sources.append(prompt)
        print(f"{prompt!r} {target}: {len(names)} neurons, precision {fit.precision:.3f} "
              f"(unenforced {fit.precision_unenforced:.3f})", file=sys.stderr, flush=True)
    union = sorted({n for f in found for n in f["neurons"]})
    steered = steer(TEST_PROMPTS, mean_values(model, sources, union), model=model, language=args.language,
                    max_new_tokens=args.max_new_tokens)
    controls = [steer(TEST_PROMPTS, mean_values(model, sources, random_names(model, union, s)), model=model,
                      language=args.language, max_new_tokens=args.max_new_tokens) for s in range(3)]
    report = {"language": args.language, "sources": found, "set_size": len(union),
              "success_rate": steered.success_rate, "fluency": steered.mean_fluency,
              "control_success_rate": float(np.mean([c.success_rate for c in controls])),
              "control_fluency": float(np.mean([c.mean_fluency for c in controls])),
              "rows": steered.rows, "control_rows": controls[0].rows, "seconds": time.perf_counter() - t0}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    print("| prompt | unsteered | steered | control (seed 0) |\n|---|---|---|---|")
    for r, c in zip(steered.rows, controls[0].rows):
        print(f"| {r['prompt']} | {r['unsteered']!r} | {r['steered']!r} | {c['steered']!r} |")
    print(f"\n{len(union)} neurons from {len(found)} source prompts; success ({lang}) "
          f"{steered.success_rate:.2f} vs random control {report['control_success_rate']:.2f}; "
          f"fluency {steered.mean_fluency:.2f} vs {report['control_fluency']:.2f} nats/token; "
          f"{report['seconds']:.0f} s")


if __name__ == "__main__":
    main()
