"""Neuron-level sufficient conditions and steering for local transformers models."""

from whyllm.neurons.hooks import Clamp, NeuronHooks
from whyllm.neurons.result import NeuronSet
from whyllm.neurons.search import sufficient_set
from whyllm.neurons.sites import Sites
from whyllm.neurons.steer import SteerResult, random_control, steer

__all__ = ["Clamp", "NeuronHooks", "NeuronSet", "Sites", "SteerResult", "random_control", "steer",
           "sufficient_set"]
