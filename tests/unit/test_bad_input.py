"""Every bad input gets one typed error in the API and exit code 2 without traceback in the CLI."""

from __future__ import annotations

import pytest

import whyllm
from whyllm.cli import main
from whyllm.models import ToyModel, additive_model


@pytest.fixture
def toy():
    return additive_model({"a": 1.0, "b": 2.0}, max_context=12)


@pytest.mark.parametrize("text", ["", "   \n "])
def test_empty_prompt(toy, text):
    with pytest.raises(whyllm.InputError, match="prompt is empty"):
        whyllm.explain(text, target=" yes", model=toy)


def test_empty_target(toy):
    with pytest.raises(whyllm.InputError, match="empty"):
        whyllm.explain("a b", target="", model=toy)


def test_target_empty_after_tokenization(toy):
    with pytest.raises(whyllm.InputError, match="empty after tokenization"):
        whyllm.explain("a b", target="   ", model=toy)


def test_prompt_over_context_window(toy):
    with pytest.raises(whyllm.ContextLengthError, match="context window is 12"):
        whyllm.explain(" ".join(["a"] * 20), target=" yes", model=toy)
    # the prompt fits but the continuation does not
    with pytest.raises(whyllm.ContextLengthError):
        whyllm.explain(" ".join(["a"] * 10), target=" yes yes yes", model=toy)


def test_unknown_method_and_feature_kind(toy):
    with pytest.raises(whyllm.UnknownNameError, match="choose one of"):
        whyllm.explain("a b", target=" yes", model=toy, method="integrated-magic")
    with pytest.raises(whyllm.UnknownNameError, match="feature kind"):
        whyllm.explain("a b", target=" yes", model=toy, features="letters")


def test_template_without_slot(toy):
    with pytest.raises(whyllm.InputError, match=r"\{text\}"):
        whyllm.explain("a b", target=" yes", model=toy, template="Review: \nSentiment:")


@pytest.mark.parametrize("method,budget", [("kernelshap", 3), ("lime", 4), ("occlusion", 3)])
def test_budget_below_need(toy, method, budget):
    with pytest.raises(whyllm.BudgetError, match="at least"):
        whyllm.explain("a b a b", target=" yes", model=toy, method=method, budget=budget)


def test_bad_target_type(toy):
    with pytest.raises(whyllm.InputError, match="target must be"):
        whyllm.explain("a b", target=(" yes",), model=toy)
    with pytest.raises(whyllm.InputError, match="tokenize identically"):
        whyllm.explain("a b", target=(" yes", "yes"), model=toy)


def test_greedy_answer_that_is_empty():
    model = ToyModel(lambda ws: {"<eos>": 0.0, "x": -1.0})
    with pytest.raises(whyllm.InputError, match="greedy continuation is empty"):
        whyllm.explain("a b", model=model)


def test_errors_are_raised_before_any_model_work(toy):
    with pytest.raises(whyllm.BudgetError):
        whyllm.explain("a b a b", target=" yes", model=toy, budget=2)
    assert toy.rows_scored == 0


# --- CLI: exit code 2, one line, no traceback -------------------------------------------------
@pytest.mark.parametrize("argv,message", [
    (["explain", "", "--target", " x"], "prompt is empty"),
    (["explain", "x", "--template", "no slot"], "{text}"),
    (["explain", "x", "--against", " y"], "--against needs --target"),
    (["explain", "x", "--json", "/no/such/folder/out.json"], "does not exist"),
    (["evaluate", "/no/such/file.json"], "no such file"),
])
def test_cli_errors_exit_2(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_cli_non_utf8_file(tmp_path, capsys):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9 au lait".encode("latin-1"))
    assert main(["explain", "--text-file", str(bad), "--target", " x"]) == 2
    assert "not UTF-8" in capsys.readouterr().err
    assert main(["evaluate", str(bad)]) == 2
    assert "not UTF-8" in capsys.readouterr().err


def test_cli_unknown_method_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["explain", "x", "--method", "magic"])
    assert exc.value.code == 2


def test_unknown_method_parameter(toy):
    with pytest.raises(whyllm.InputError, match="lime has no parameter 'kernel'; did you mean 'kernel_w"):
        whyllm.explain("a b", target=" yes", model=toy, method="lime", kernel="gaussian")
    before = toy.rows_scored
    for method, bad in [("anchors", "beam_sise"), ("kernelshap", "l1_reg"), ("focus", "kep"),
                        ("occlusion", "sliding_window")]:
        with pytest.raises(whyllm.InputError, match=f"no parameter '{bad}'"):
            whyllm.explain("a b", target=" yes", model=toy, method=method, **{bad: 1})
    assert toy.rows_scored == before  # refused before any model call


def test_cli_misspelt_option_names_the_right_one(capsys):
    assert main(["explain", "a b", "--target", " yes", "--method", "anchors", "--option", "beam_sise=1",
                 "--model", "/nonexistent-model-folder"]) == 2  # refused before the model loads
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'beam_sise'" in err and "did you mean 'beam_size'" in err


def test_cli_option_that_collides_with_a_flag(capsys):
    for key in ("budget", "seed"):
        assert main(["explain", "a b", "--option", f"{key}=3", "--model", "/nonexistent"]) == 2
        assert f"give it as --{key}" in capsys.readouterr().err


def test_method_repr_shows_exactly_its_parameters():
    from whyllm.methods import METHODS

    for name in METHODS.names():
        cls = METHODS.get(name)
        method = cls()
        names = cls.param_names()
        shown = ", ".join(f"{k}={getattr(method, k)!r}" for k in names)
        assert repr(method) == f"{cls.__name__}({shown})"
        assert list(method.get_params()) == list(names)
    assert repr(METHODS.get("lime")(alpha=2.0)) == "Lime(kernel_width=25.0, alpha=2.0, underdetermined=False)"
    assert repr(METHODS.get("kernelshap")()) == "KernelShap(design='ckernel')"


def test_cli_options_parse():
    from whyllm.cli import parse_options

    assert parse_options(["threshold=0.9", "beam-size=2", "decision_threshold=none", "x=abc", "f=true"]) == {
        "threshold": 0.9, "beam_size": 2, "decision_threshold": None, "x": "abc", "f": True}
    with pytest.raises(whyllm.InputError, match="KEY=VALUE"):
        parse_options(["nonsense"])
