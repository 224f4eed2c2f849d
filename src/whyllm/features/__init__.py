"""Features (what is attributed to) and how they are removed."""

from whyllm.features.prompt_input import PERTURBATIONS, Feature, PromptInput, check_text, split_template
from whyllm.features.segmenters import SEGMENTERS

__all__ = ["PERTURBATIONS", "SEGMENTERS", "Feature", "PromptInput", "check_text", "split_template"]
