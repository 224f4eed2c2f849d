"""Time ContextCite 0.0.4 on one retrieval prompt; runs in its own environment (``.venv-contextcite``:
``pip install torch==2.13.0 context-cite==0.0.4``, which brings nltk, spacy and datasets).

Reads a JSON job on stdin (model folder, documents, template, answer, ablations, threads, source
kind, dtype: float32 unless given) and prints one JSON line. The model and prompt are whyllm's: the
converted Gemma folder, the same template with the documents in its slot, and the gold answer as the
response (ContextCite's own generation is skipped by setting its cached output; its chat template
is replaced by one that passes the prompt through unchanged, after the BOS, since Gemma 3 270M is a
base model). Sources are sentences (split at sentence ends as whyllm does; ContextCite's own
splitter needs nltk data that cannot be downloaded here) or the blank-line separated documents. Its
default batch size of 1 is kept, as the issue's measurement did.
"""

from __future__ import annotations

import json
import re
import sys
import time

import numpy as np
import torch


def main() -> None:
    job = json.loads(sys.stdin.read())
    torch.set_num_threads(int(job["threads"]))
    from context_cite import ContextCiter
    from context_cite.context_partitioner import BaseContextPartitioner
    from transformers import AutoModelForCausalLM, AutoTokenizer

    class Parts(BaseContextPartitioner):
        """Sources split by a pattern: blank lines (documents) or sentence ends (whyllm's rule, since
        ContextCite's own splitter needs nltk data that cannot be downloaded here)."""

        def __init__(self, context: str, pattern: str) -> None:
            super().__init__(context)
            self.parts = [p for p in re.split(pattern, context) if p.strip()]

        @property
        def num_sources(self) -> int:
            return len(self.parts)

        def split_context(self) -> None:
            pass

        def get_source(self, index: int) -> str:
            return self.parts[index]

        def get_context(self, mask=None) -> str:
            mask = np.ones(len(self.parts), dtype=bool) if mask is None else mask
            return self.glue.join(p for p, keep in zip(self.parts, mask) if keep)

    tok = AutoTokenizer.from_pretrained(job["model_dir"])
    tok.chat_template = "{{ bos_token }}{{ messages[0]['content'] }}"
    tok.padding_side = "left"
    dtype = getattr(torch, job.get("dtype", "float32"))
    model = AutoModelForCausalLM.from_pretrained(job["model_dir"], dtype=dtype).eval()
    template = job["template"].replace("{text}", "{context}")
    if job["sources"] == "paragraph":
        part = Parts(job["text"], r"\n\n")
        part.glue = "\n\n"
    else:
        part = Parts(job["text"], r"(?<=[.!?])[\"')\]]*\s+|\n+")
        part.glue = " "
    kw = {"partitioner": part}
    cc = ContextCiter(model, tok, job["text"], query="", prompt_template=template,
                      num_ablations=int(job["num_ablations"]), **kw)
    prompt = cc._get_prompt_ids(return_prompt=True)[1]
    cc._cache["output"] = prompt + job["answer"]
    t = time.perf_counter()
    attributions = cc.get_attributions()
    seconds = time.perf_counter() - t
    peak = 0
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) * 1024
    order = np.argsort(-np.asarray(attributions))[:3]
    print(json.dumps({"seconds": seconds, "peak_rss": peak, "sources": cc.num_sources,
                      "top3": [int(i) for i in order],
                      "attributions": [float(v) for v in np.asarray(attributions)]}))


if __name__ == "__main__":
    main()
