"""Features (what is attributed to) and how they are removed."""

from whyllm.features.perturbations import DEFAULT_FILLER, PERTURBATIONS, Perturbation
from whyllm.features.prompt_input import Feature, PromptInput, check_text, split_template
from whyllm.features.protocol import InterpretableInput
from whyllm.features.segmenters import SEGMENTERS

__all__ = ["DEFAULT_FILLER", "PERTURBATIONS", "SEGMENTERS", "Feature", "InterpretableInput", "Perturbation",
           "PromptInput", "check_text", "split_template"]
