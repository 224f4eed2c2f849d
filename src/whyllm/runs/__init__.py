"""Dataset runs: explanations over a whole dataset, resumable, on local workers or Ray, with global
summaries (see :mod:`whyllm.runs.runner`, :mod:`whyllm.runs.store`, :mod:`whyllm.runs.summary`)."""

from whyllm.runs.config import MethodSpec, RunConfig, build_config, read_config
from whyllm.runs.dataset import Columns, Example, read_dataset
from whyllm.runs.runner import RunSummary, run_dataset
from whyllm.runs.store import Row, Store
from whyllm.runs.summary import summarize_store, summary_html

__all__ = ["Columns", "Example", "MethodSpec", "Row", "RunConfig", "RunSummary", "Store", "build_config",
           "read_config", "read_dataset", "run_dataset", "summarize_store", "summary_html"]
