"""Cell-type task: OBO parsing, the GPTCelltype-style scorer, answer parsing, marker input, the
explanation on an exact toy model, and the HTML report (no language model needed)."""

from __future__ import annotations

import pytest

from whyllm.errors import InputError
from whyllm.models import additive_model
from whyllm.tasks.celltype import (
    CellOntology,
    CelltypeResources,
    CelltypeScorer,
    Cluster,
    ClusterResult,
    annotate_cluster,
    celltype_template,
    normalize_celltype,
    parse_answer,
    read_marker_table,
)
from whyllm.tasks.celltype.report import render_celltype_html

SMALL_OBO = """format-version: 1.2
data-version: test/2024

[Term]
id: CL:0000000
name: cell

[Term]
id: CL:0000542
name: lymphocyte
is_a: CL:0000000 ! cell

[Term]
id: CL:0000236
name: B cell
synonym: "B lymphocyte" EXACT []
synonym: "B-cell" EXACT []
synonym: "antibody factory" RELATED []
is_a: CL:0000542 ! lymphocyte
relationship: present_in_taxon NCBITaxon:9606

[Term]
id: CL:0000787
name: memory B cell
is_a: CL:0000236 ! B cell

[Term]
id: CL:0000999
name: retired cell
is_obsolete: true

[Typedef]
id: present_in_taxon
name: present in taxon
"""


@pytest.fixture(scope="module")
def res():
    return CelltypeResources.load()


@pytest.fixture
def small(tmp_path):
    path = tmp_path / "small.obo"
    path.write_text(SMALL_OBO, encoding="utf-8")
    return CellOntology.load(path)


def test_obo_parsing_names_synonyms_and_is_a(small):
    assert small.version == "test/2024"
    assert set(small.names) == {"CL:0000000", "CL:0000542", "CL:0000236", "CL:0000787"}  # obsolete skipped
    assert small.parents["CL:0000236"] == ("CL:0000542",)  # the taxon relationship is not an is_a
    assert small.lookup("B lymphocytes") == ("CL:0000236",)
    assert small.lookup("b-cells") == ("CL:0000236",)
    assert small.lookup("antibody factory") == ()  # RELATED synonyms are not names
    assert small.ancestors("CL:0000787") == {"CL:0000787": 0, "CL:0000236": 1, "CL:0000542": 2,
                                             "CL:0000000": 3}
    assert small.related("CL:0000542", "CL:0000787") and not small.related("CL:0000787", "CL:0000999")


def test_obo_errors(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        CellOntology.load(tmp_path / "missing.obo")
    (tmp_path / "empty.obo").write_text("format-version: 1.2\n", encoding="utf-8")
    with pytest.raises(InputError, match="no CL: terms"):
        CellOntology.load(tmp_path / "empty.obo")


def test_shipped_ontology(res):
    onto = res.ontology
    assert onto.version == "cl/releases/2022-11-25/cl-basic.owl"
    assert 2500 < len(onto.names) <= 2683
    assert onto.lookup("B cells") == ("CL:0000236",)
    assert "CL:0000542" in onto.ancestors(onto.lookup("memory B cell")[0])  # lymphocyte


@pytest.mark.parametrize(("raw", "name"), [
    ("B Cells.", "b cell"), ("Hepatocytes", "hepatocyte"), ("b-lymphocytes", "b-lymphocyte"),
    ("CD4+  T cells", "cd4+ t cell"), ("Myocytes (muscle cells)", "myocytes (muscle cell)"),
    ("Plasma", "plasma"), ("Glass", "glass")])
def test_normalize(raw, name):
    assert normalize_celltype(raw) == name


def test_agreement_full_partial_mismatch_unknown(res):
    score = res.scorer.score
    full = score("B cells", "B lymphocyte")
    assert (full.score, full.reason) == (1.0, "same term")
    assert score("Intermediate monocytes", "intermediate monocyte").score == 1.0
    # partial through broad types: CD4+ alpha-beta T cell and T cell are both of broad type "t cell"
    cd4, cd8 = "CD4-positive, alpha-beta T cell", "CD8-positive, alpha-beta T cell"
    assert score(cd4, "T cells") == score("T cell", cd8)
    assert score("T cell", "CD4-positive, alpha-beta T cell").score == 0.5
    assert score("monocyte", "neutrophil").score == 0.0  # siblings under "myeloid" are not a match
    assert score("T cell", "hepatocyte").reason == "mismatch"
    assert score("T cell", "zorblax cell").reason == "unknown answer"  # never the root term "cell"
    assert score("zorblax", "T cell").reason == "unknown truth"
    # a modifier the ontology lacks falls back to the head phrase: partial, never full
    assert score("Naive CD4+ T cell", "T cell").score == 0.5


def test_agreement_partial_through_ontology_ancestor(small):
    # "memory B cell" is in the curated map, "lymphocyte" is not and has no broad type: the is_a
    # ancestry decides
    scorer = CelltypeScorer(small, {"memory b cell": (("memory B cell",), ("CL:0000787",), ("b cell",))})
    got = scorer.score("memory B cell", "lymphocyte")
    assert (got.score, got.reason) == (0.5, "ontology")
    # two names the curated map knows: its broad types and relations decide, as in GPTCelltype
    amap = {"memory b cell": (("memory B cell",), ("CL:0000787",), ("b cell",)),
            "lymphocyte": (("lymphocyte",), ("CL:0000542",), ("lymphocyte",))}
    unrelated = CelltypeScorer(small, amap, [("b cell", "plasma cell")])
    assert unrelated.score("memory B cell", "lymphocyte").score == 0
    got = CelltypeScorer(small, amap, [("b cell", "lymphocyte")]).score("memory B cell", "lymphocyte")
    assert (got.score, got.reason) == (0.5, "broad type")
    # with no relation list, broad types are related when one is an is_a ancestor of the other
    assert CelltypeScorer(small, amap).score("memory B cell", "lymphocyte").reason == "broad type"


@pytest.mark.parametrize(("raw", "name"), [
    (" T cells\n\nMarker genes:", "T cell"), (" CD8+ T cells (cytotoxic), likely", "CD8+ T cell"),
    (" Hepatocytes. They express ALB", "Hepatocyte"), (" **Monocytes** or macrophages", "Monocyte"),
    (" Natural killer cells; NK", "Natural killer cell"), (" Glass", "Glass")])
def test_parse_answer(raw, name):
    assert parse_answer(raw) == name


def test_parse_answer_empty():
    with pytest.raises(InputError, match="names no cell type"):
        parse_answer(" \n")


def test_template_has_one_slot_and_escapes_braces():
    t = celltype_template("brain {weird}", style="soar")
    assert t.count("{text}") == 1 and "brain {{weird}}" in t
    assert t.endswith("Marker genes: {text}.\nCell type:")
    assert "Hepatocyte" not in celltype_template("liver", few_shot=False)


def test_marker_table_reading_and_bad_rows(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("cluster\tmarkers\ttruth\n0\tCD3D, CD3E;IL7R\tT cell\n1\t\tB cell\n2\tMS4A1\tNA\n"
                    "3\tNKG7, nkg7, GNLY, not a gene!, GZMB\t\n", encoding="utf-8")
    c = read_marker_table(path, tissue="PBMC")
    assert [x.genes for x in c] == [("CD3D", "CD3E", "IL7R"), (), ("MS4A1",), ("NKG7", "GNLY", "GZMB")]
    assert c[0].truth == "T cell" and c[2].truth is None and c[0].tissue == "PBMC"
    assert any("duplicate" in w for w in c[3].warnings)
    assert any("not gene symbols" in w for w in c[3].warnings)


def test_marker_table_wrong_columns(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id,genez\n1,CD3D\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"no marker column.*its columns are: id, genez"):
        read_marker_table(path, tissue="PBMC")
    path.write_text("cluster,markers\n1,CD3D\n", encoding="utf-8")
    with pytest.raises(InputError, match="--tissue"):
        read_marker_table(path)
    with pytest.raises(InputError, match="no such file"):
        read_marker_table(tmp_path / "nope.csv", tissue="x")


# tokens of the toy model are whitespace words: "ALB," ... and the last gene carries the "."
TOY_WEIGHTS = {"ALB,": 2.0, "TTR,": 1.0, "CD3D,": -0.5, "ZZZ9,": 0.25, "APOA1.": 0.75, "ALB.": 1.5}


def test_annotate_cluster_exact_on_additive_toy(res):
    model = additive_model(TOY_WEIGHTS, bias=0.5, target="Hepatocyte", cache=None)
    cluster = Cluster("liver-1", ("ALB", "TTR", "CD3D", "ZZZ9", "APOA1"), "liver", truth="hepatocytes")
    out = annotate_cluster(cluster, model, res, budget=64)
    assert out.error is None and out.annotation == "Hepatocyte"
    assert (out.agreement, out.agreement_reason) == (1.0, "same term")
    # 2^5 = 32 <= budget: exact Shapley values, i.e. the planted weights
    assert out.contributions == pytest.approx({"ALB": 2.0, "TTR": 1.0, "CD3D": -0.5, "ZZZ9": 0.25,
                                               "APOA1": 0.75}, abs=1e-9)
    assert "Hepatocytes" in out.marker_types and set(out.known_markers) == {"ALB", "TTR", "APOA1"}
    assert out.precision_at_k == 1.0  # ALB, APOA1, TTR
    assert out.random_precision_at_k == pytest.approx(3 / 5)
    assert out.input_order_precision_at_k == pytest.approx(2 / 3)  # ALB, TTR, CD3D
    assert any("ZZZ9" in w for w in out.warnings)  # not in PanglaoDB


def test_annotate_bad_clusters_do_not_raise(res):
    model = additive_model(TOY_WEIGHTS, bias=0.5, target="Hepatocyte", cache=None)
    empty = annotate_cluster(Cluster("e", (), "liver"), model, res)
    assert empty.error == "the cluster has no marker genes" and empty.annotation is None
    one = annotate_cluster(Cluster("one", ("ALB",), "liver"), model, res)
    assert one.error is None and one.contributions == pytest.approx({"ALB": 1.5})  # full - base


def test_celltype_html_escapes_user_text():
    evil = ClusterResult("<script>alert(1)</script>", "liver & <u>", ("<img src=x>", "ALB"),
                         annotation="T <cell>", truth="\"quoted\"", agreement=0.0,
                         agreement_reason="mismatch",
                         contributions={"<img src=x>": 1.0, "ALB": -0.5}, known_markers=("ALB",))
    page = render_celltype_html([evil], model_id="m<1>", style="gptcelltype", method="kernelshap")
    assert "<script>alert" not in page and "<img src=x>" not in page and "<u>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x&gt;" in page
    assert "T &lt;cell&gt;" in page and "m&lt;1&gt;" in page
