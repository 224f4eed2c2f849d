"""Terminal view: the prompt coloured by value and a ranked table (rich)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from whyllm.fits import AnchorFit, Fit, LoreFit, WrapperFit
from whyllm.report.chunks import prompt_chunks
from whyllm.report.matrix import answer_sentences, top_sources

if TYPE_CHECKING:
    from whyllm.explanation import Explanation


def _style(value: float | None, intensity: float) -> str:
    if value is None:
        return "dim"
    level = "bold " if intensity > 0.5 else ""
    return f"{level}{'red' if value >= 0 else 'blue'}" if intensity > 0.15 else ""


def print_explanation(exp: Explanation, console: Console | None = None, top: int = 15) -> None:
    console = console or Console()
    line = Text()
    for c in prompt_chunks(exp):
        line.append(c.text, style=_style(c.value, c.intensity))
    line.append(exp.target.texts[0], style="bold green underline")
    console.print(line)
    console.print(Text(f"{exp.method} · {exp.target.describe()}", style="bold"))
    if rule_lines(exp):
        for text, style in rule_lines(exp):
            console.print(Text(text, style=style))
        _print_cost(exp, console)
        return
    table = Table()
    table.add_column("rank", justify="right")
    table.add_column(exp.feature_kind[:-1] if exp.feature_kind.endswith("s") else exp.feature_kind)
    table.add_column("value", justify="right")
    errors = exp.interval is not None
    if errors:
        table.add_column("±", justify="right")
    peak = max((abs(v) for v in exp.values), default=0.0) or 1.0
    table.add_column("")
    certain = exp.certain_top or 0
    for rank, i in enumerate(exp.ranking()[:top], start=1):
        v = exp.values[i]
        bar = "█" * max(1, round(12 * abs(v) / peak)) if abs(v) > 1e-9 * peak else ""
        cells = [str(rank), Text(exp.features[i].text), f"{v:+.4f}"]
        if errors:
            cells.append(plus_minus(exp, i))
        table.add_row(*cells, Text(bar, style="red" if v >= 0 else "blue"),
                      end_section=rank == certain and rank < min(top, len(exp.values)))
    console.print(table)
    for text, style in certainty_lines(exp):
        console.print(Text(text, style=style))
    print_answer_sources(exp, console)
    _print_cost(exp, console)


def plus_minus(exp: Explanation, i: int) -> str:
    """How far the 95 % interval of value ``i`` reaches from it ("exact" at zero width, "?" where
    unknown)."""
    lo, hi = exp.interval[i]
    if exp.exact:
        return "exact"
    v = exp.values[i]
    half = max(hi - v, v - lo)  # the larger side, where an interval is not centred on the value (LIME)
    return "?" if half != half else f"{half:.4f}"


def certainty_lines(exp: Explanation) -> list[tuple[str, str]]:
    """Where the ranking is settled: the certain top-k (the line under it in the table), and why
    sampling stopped under ``budget="auto"``."""
    info = exp.uncertainty
    if not info or info.get("kind") == "completeness":
        gap = info.get("completeness_gap") if info else None
        return [] if gap is None else [(f"completeness gap {gap:+.4f} (sum of values minus the change they "
                                        "explain: the integral's error)", "dim")]
    if exp.exact:
        lines = [("exact values (no sampling): every rank is certain", "dim")]
    elif exp.certain_top:
        lines = [(f"top {exp.certain_top} certain at 95 % (the line in the table); below it the order is "
                  "within the sampling noise", "green")]
    else:
        lines = [("no top-k set is certain at 95 %: the order is within the sampling noise (raise the "
                  "budget, or use budget='auto')", "yellow")]
    stop = info.get("stopping")
    if stop:
        lines.append((f"budget auto: stopped at {stop['budgets'][-1]} evaluations after {stop['rounds']} "
                      f"rounds ({stop['reason']})", "dim"))
    lines.append((f"± is how far the 95 % interval reaches ({info.get('kind')}); estimand: "
                  f"{info.get('estimand')}", "dim"))
    return lines


def print_answer_sources(exp: Explanation, console: Console, k: int = 3) -> None:
    """For an answer of several tokens: the top sources of each of its sentences."""
    sentences = answer_sentences(exp)
    if not sentences:
        return
    console.print(Text("top sources of each answer sentence", style="bold"))
    for s in sentences:
        tops = ", ".join(f"{text!r} {value:+.3f}" for text, value in top_sources(s, exp, k))
        console.print(Text(f"{s.text.strip()!r}: ") + Text(tops))


def _print_cost(exp: Explanation, console: Console) -> None:
    c = exp.cost
    fit = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in exp.fit.summary().items())
    if not rule_lines(exp):
        console.print(Text(f"full {exp.full_value:.4f} · base {exp.base_value:.4f} · "
                           f"sum {sum(exp.values):+.4f}" + (f" · {fit}" if fit else "")))
    start = getattr(exp.model, "empty_context", None)
    if start is not None:
        console.print(Text(f"with every feature removed the answer is scored after {start} (the tokenizer "
                           "adds no BOS of its own)"), style="dim")
    console.print(f"cost: {c.sequences} sequences in {c.forward_passes} forward passes, {c.tokens} tokens, "
                  f"{c.cache_hits} cache hits, {c.seconds:.2f} s", style="dim")


def print_faithfulness(metrics: dict, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title="faithfulness (probability of the target)", title_justify="left")
    table.add_column("metric")
    for name in metrics["comprehensiveness"]:
        table.add_column(f"top {name}", justify="right")
    table.add_column("AOPC", justify="right")
    for kind in ("comprehensiveness", "sufficiency"):
        table.add_row(kind, *(f"{v:.4f}" for v in metrics[kind].values()), f"{metrics['aopc_' + kind]:.4f}")
    console.print(table)
    console.print(f"deletion AUC {metrics['deletion_auc']:.4f} (lower is better) · "
                  f"insertion AUC {metrics['insertion_auc']:.4f} (higher is better)")


def core_fit(fit: Fit) -> Fit:
    """The fit of the method that sampled, under any wrapper (proxy, focus)."""
    while isinstance(fit, WrapperFit):
        fit = fit.inner
    return fit


def rule_lines(exp: Explanation) -> list[tuple[str, str]]:
    """Plain-language lines for rule explanations (Anchors, LORE); empty for attributions."""
    fit = core_fit(exp.fit)
    concepts = exp.feature_kind == "concepts"
    if isinstance(fit, AnchorFit):
        words = " AND ".join(repr(w) for w in fit.anchor_words) or "nothing"
        held = (f"the input mentions {words}" if concepts else
                f"{words} {'is' if len(fit.anchor) == 1 else 'are'} kept")
        lines = [(f"IF {held} THEN {fit.decision}", "bold red"),
                 (f"precision {fit.precision:.3f} (confidence bound {fit.precision_lb:.3f}.."
                  f"{fit.precision_ub:.3f}, {fit.samples} samples) · "
                  f"coverage {fit.coverage:.3f}", "")]
        if not fit.confident:
            lines.append((f"warning: {fit.warning or 'not confident'}", "yellow"))
        return lines
    if isinstance(fit, LoreFit):
        if concepts:
            cond = " AND ".join(f"the input {'mentions' if c['kept'] else 'does not mention'} {c['word']!r}"
                                for c in fit.rule)
        else:
            cond = " AND ".join(f"{c['word']!r} {'kept' if c['kept'] else 'perturbed'}" for c in fit.rule)
        lines = [(f"rule: IF {cond or 'anything'} THEN {fit.decision}", "bold red")]
        for c in fit.counterfactuals:
            mark = "flips the output (verified)" if c["flips"] else "does not flip it (checked)"
            lines.append((f"counterfactual: perturb {' + '.join(repr(w) for w in c['words'])} -> {mark}", ""))
        lines.append((f"fidelity {fit.fidelity:.3f} · hit {fit.hit} · c-hit {fit.c_hit:.2f} · "
                      f"neighbourhood {fit.neighbourhood}", ""))
        return lines
    return []


def print_neurons(result, console: Console | None = None) -> None:
    """A neuron set (:class:`whyllm.neurons.NeuronSet`): the prompt, the decision, the neurons with
    the values they are enforced at, and the precision with and without them."""
    console = console or Console()
    fit = result.fit
    console.print(Text(result.prompt) + Text(result.target.texts[0], style="bold green underline"))
    console.print(Text(f"neurons · keeps: {fit.decision}", style="bold"))
    table = Table()
    for col, justify in (("neuron", "left"), ("layer", "right"), ("enforced value", "right"),
                         ("attribution", "right")):
        table.add_column(col, justify=justify)
    for n in fit.neurons:
        table.add_row(n["name"], str(n["layer"]), f"{n['value']:+.4g}", f"{n['attribution']:+.4g}")
    console.print(table)
    console.print(f"precision {fit.precision:.3f} enforced (lower bound {fit.precision_lb:.3f}) vs "
                  f"{fit.precision_unenforced:.3f} unenforced, on {fit.held_out} held-out perturbations")
    if fit.warning:
        console.print(Text(f"warning: {fit.warning}", style="yellow"))
    c = result.cost
    console.print(f"cost: {c.sequences} sequences in {c.forward_passes} forward passes, {c.tokens} tokens, "
                  f"{c.seconds:.2f} s", style="dim")
