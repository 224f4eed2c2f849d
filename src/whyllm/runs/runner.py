"""Run explanations over a whole dataset, resumably, on local worker processes or a Ray cluster.

The driver reads the dataset, skips every (example, method, configuration) already in the store,
and hands the rest to workers: in-process (``workers=1``), ``workers`` local processes (each with its
own model; spawned, not forked), or the actors of a Ray cluster (``ray=True`` for a local one started
for the run, or an address). Workers send rows back and only the driver writes the store, one row per
transaction. Each explanation depends only on its example and its method's seed, so the rows are the
same whichever way they are computed. A failing example is stored with its error and the run goes
on; :class:`RunSummary` counts what was done, skipped and failed.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from whyllm.errors import InputError, ModelError, WhyllmError
from whyllm.runs.config import MethodSpec, RunConfig
from whyllm.runs.dataset import Example
from whyllm.runs.store import Row, Store, finite_json

Task = tuple[Example, MethodSpec, int]


@dataclass(frozen=True)
class RunSummary:
    examples: int
    computed: int
    skipped: int
    failed: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.computed / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        return (f"{self.computed} computed ({self.failed} failed), {self.skipped} already in the store, "
                f"{self.examples} examples; {self.per_second:.2f} per second")


def model_factory(spec: str):
    """The function a ``py:module:function`` spec names (imported, not called)."""
    module, _, func = spec[3:].partition(":")
    try:
        factory = getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError, ValueError) as exc:
        raise InputError(f"cannot import the model factory {spec!r}: {exc}") from exc
    if not callable(factory):
        raise InputError(f"the model factory {spec!r} is not callable")
    return factory


def check_run_model(spec: str | None) -> None:
    """What the driver checks before any worker starts: the factory imports, or the model's files
    exist (and a GGUF is converted here, once, rather than by every worker at the same time)."""
    if spec is not None and spec.startswith("py:"):
        model_factory(spec)
        return
    from whyllm.models import local_model_dir

    local_model_dir(spec)


def load_run_model(spec: str | None, dtype: str = "auto", threads: int | None = None):
    """A load_model spec, or ``py:module:function`` (a factory that returns a model)."""
    if spec is not None and spec.startswith("py:"):
        factory = model_factory(spec)
        try:
            return factory()
        except WhyllmError:
            raise
        except Exception as exc:
            raise ModelError(f"the model factory {spec!r} failed: {type(exc).__name__}: {exc}") from exc
    from whyllm.models import load_model

    return load_model(spec, dtype=dtype, threads=threads)


def explain_one(model, config: RunConfig, spec: MethodSpec, ex: Example, position: int) -> Row:
    """One stored row: the explanation of ``ex`` by ``spec``, or the error that stopped it."""
    from whyllm.api import evaluate, explain

    key = {"example": ex.id, "method": spec.label, "config": config.config_hash(spec), "label": ex.label,
           "text": ex.text, "position": position}
    if ex.error is not None:
        return Row(status="error", error=ex.error, **key)
    t = time.perf_counter()
    target = tuple(ex.target) if isinstance(ex.target, list) else ex.target
    try:
        exp = explain(ex.text, target, model=model, method=spec.method, features=spec.features,
                      template=config.template, budget=spec.budget, seed=spec.seed,
                      max_new_tokens=config.max_new_tokens, **spec.options)
        faith = finite_json(evaluate(exp, model=model).to_dict()) if config.evaluate else None
    except Exception as exc:
        return Row(status="error", error=f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - t,
                   **key)
    return Row(status="ok", explanation=exp.to_json(indent=None), faithfulness=faith,
               cost=json.dumps(exp.cost.to_dict()), seconds=time.perf_counter() - t, **key)


_WORKER: dict[str, Any] = {}


class WorkerStartError(Exception):
    """A worker process could not load its model (raised by each of its tasks, so that the driver
    stops the run instead of the pool starting new workers for ever)."""


def _init_worker(model: str | None, dtype: str, threads: int | None, config: RunConfig) -> None:
    try:
        _WORKER["model"] = load_run_model(model, dtype, threads)
    except Exception as exc:  # kept, and reported by the first task: an initializer that raises
        _WORKER["error"] = f"{type(exc).__name__}: {exc}"  # would be restarted by the pool, or break it
    _WORKER["config"] = config


def _work(task: Task) -> Row:
    if "error" in _WORKER:
        raise WorkerStartError(_WORKER["error"])
    ex, spec, position = task
    return explain_one(_WORKER["model"], _WORKER["config"], spec, ex, position)


class RayWorker:
    """A Ray actor holding one model."""

    def __init__(self, model: str | None, dtype: str, threads: int | None, config: RunConfig) -> None:
        _init_worker(model, dtype, threads, config)

    def run(self, task: Task) -> Row:
        return _work(task)


def pending(examples: Iterable[Example], config: RunConfig, done: set) -> list[Task]:
    return [(ex, spec, i) for i, ex in enumerate(examples) for spec in config.methods
            if (ex.id, spec.label, config.config_hash(spec)) not in done]


def run_local(tasks: list[Task], config: RunConfig, workers: int, threads: int | None,
              model=None) -> Iterator[Row]:
    if workers <= 1:
        model = model if model is not None else load_run_model(config.model, config.dtype, threads)
        for ex, spec, position in tasks:
            yield explain_one(model, config, spec, ex, position)
        return
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    per = max(1, (threads or os.cpu_count() or 1) // workers)
    init = (config.model, config.dtype, per, config)
    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                               initargs=init)
    try:
        running = {pool.submit(_work, task) for task in tasks}
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    except WorkerStartError as exc:
        name = config.model or "gemma-3-270m"
        raise ModelError(f"a worker could not load the model {name!r}: {exc}") from exc
    except BrokenProcessPool as exc:
        raise ModelError(f"a worker process died ({exc}); rows finished so far are in the store") from exc
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_ray(tasks: list[Task], config: RunConfig, workers: int, address: str | None,
            threads: int | None) -> Iterator[Row]:
    try:
        import ray
        from ray.util import ActorPool
    except ImportError as exc:
        raise InputError("--ray needs Ray: pip install 'whyllm[ray]'") from exc
    started = not ray.is_initialized()
    if started:
        env = {"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}}
        if address:
            ray.init(address=address, runtime_env=env, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, runtime_env=env, log_to_driver=False)
    try:
        actor = ray.remote(num_cpus=1)(RayWorker)
        per = max(1, threads // workers) if threads else 1  # --threads counts all workers' threads
        pool = ActorPool([actor.remote(config.model, config.dtype, per, config) for _ in range(workers)])
        yield from pool.map_unordered(lambda a, t: a.run.remote(t), tasks)
    except Exception as exc:  # Ray wraps a worker's error (a model that did not load) in its own types
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"a Ray worker failed: {first}") from exc
    finally:
        if started:
            ray.shutdown()


def run_dataset(examples: list[Example], config: RunConfig, store: Store, *, workers: int = 1,
                ray: bool | str | None = None, threads: int | None = None, progress: bool = True,
                model=None) -> RunSummary:
    """Explain every (example, method) not yet in ``store``; see the module docstring."""
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    if threads is not None and threads < 1:
        raise InputError(f"--threads must be at least 1, got {threads}")
    if model is None and (workers > 1 or ray):
        check_run_model(config.model)
    t = time.perf_counter()
    store.set_meta("config", {"model": config.model, "dtype": config.dtype, "template": config.template,
                              "methods": [m.label for m in config.methods]})
    tasks = pending(examples, config, store.keys())
    skipped = len(examples) * len(config.methods) - len(tasks)
    if ray:
        rows = run_ray(tasks, config, workers, ray if isinstance(ray, str) else None, threads)
    else:
        rows = run_local(tasks, config, workers, threads, model)
    failed = computed = 0
    with progress_bar(len(tasks), progress) as advance:
        for row in rows:
            store.put(row)
            computed += 1
            failed += row.status != "ok"
            advance()
    return RunSummary(len(examples), computed, skipped, failed, time.perf_counter() - t)


class progress_bar:
    """A rich progress bar with examples per second and the time left (nothing when quiet)."""

    def __init__(self, total: int, show: bool) -> None:
        self.total, self.show, self._bar = total, show and total > 0, None

    def __enter__(self):
        if not self.show:
            return lambda: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(TextColumn("explaining"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[rate]}"),
                             TimeRemainingColumn())
        self._bar.start()
        task = self._bar.add_task("run", total=self.total, rate="")
        t0 = time.perf_counter()

        def advance() -> None:
            done = self._bar.tasks[0].completed + 1
            rate = done / max(time.perf_counter() - t0, 1e-9)
            self._bar.update(task, advance=1, rate=f"{rate:.2f} examples/s")

        return advance

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
