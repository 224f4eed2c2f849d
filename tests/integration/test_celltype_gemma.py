"""``whyllm celltype`` end to end on the real default model: a marker table and an AnnData file."""

from __future__ import annotations

import json

import pytest

from whyllm.cli import main

pytestmark = pytest.mark.gemma


def test_celltype_cli_marker_table(gemma, tmp_path, monkeypatch, capsys):
    import whyllm.cli.common

    monkeypatch.setattr(whyllm.cli.common, "load_model_from", lambda args: gemma)
    table = tmp_path / "markers.csv"
    table.write_text('cluster,markers,truth\n'
                     'NK,"NKG7, GNLY, GZMB, PRF1, KLRD1, NKG7",NK cell\n'
                     'empty,,B cell\n'
                     'B,"MS4A1",B cell\n', encoding="utf-8")
    out_json, out_html = tmp_path / "ct.json", tmp_path / "ct.html"
    rc = main(["celltype", str(table), "--tissue", "PBMC", "--budget", "32", "--json", str(out_json),
               "--html", str(out_html)])
    assert rc == 0
    doc = json.loads(out_json.read_text())
    nk, empty, b = doc["clusters"]
    assert empty["error"] == "the cluster has no marker genes"  # reported, the others still run
    assert nk["annotation"] and nk["agreement"] in (0.0, 0.5, 1.0)
    assert list(nk["contributions"]) == ["NKG7", "GNLY", "GZMB", "PRF1", "KLRD1"]  # duplicate dropped
    assert any("duplicate" in w for w in nk["warnings"])
    # efficiency: log p(answer) with all genes minus with none equals the sum of the contributions
    exp = nk["explanation"]
    assert sum(nk["contributions"].values()) == pytest.approx(exp["full_value"] - exp["base_value"], abs=1e-6)
    assert exp["cost"]["sequences"] <= 32 + 1
    assert b["error"] is None and set(b["contributions"]) == {"MS4A1"}
    page = out_html.read_text()
    assert page.count('class="card') == 3 and "NKG7" in page
    assert "clusters" in capsys.readouterr().out


def test_celltype_cli_anndata(gemma, tmp_path, monkeypatch):
    pytest.importorskip("scanpy")
    import whyllm.cli.common
    from tests.unit.test_celltype_anndata import planted_adata

    monkeypatch.setattr(whyllm.cli.common, "load_model_from", lambda args: gemma)
    path = tmp_path / "planted.h5ad"
    planted_adata().write_h5ad(path)
    out_json = tmp_path / "ct.json"
    rc = main(["celltype", str(path), "--groupby", "leiden", "--top", "4", "--truth-key", "label",
               "--tissue", "PBMC", "--budget", "16", "--json", str(out_json), "--quiet"])
    assert rc == 0
    clusters = json.loads(out_json.read_text())["clusters"]
    assert [c["truth"] for c in clusters] == ["tcell", "bcell", "mono"]
    assert all(c["error"] is None and len(c["contributions"]) == 4 for c in clusters)
    assert set(clusters[0]["genes"][:3]) == {"CD3D", "CD3E", "IL7R"}
