"""AnnData input through real scanpy: markers of each cluster by a Wilcoxon rank-sum test, on a
small AnnData with planted marker genes (built here, no downloads)."""

from __future__ import annotations

import numpy as np
import pytest

from whyllm.cli import main
from whyllm.errors import InputError
from whyllm.tasks.celltype import read_anndata

anndata = pytest.importorskip("anndata")
PLANTED = {"tcell": ["CD3D", "CD3E", "IL7R"], "bcell": ["MS4A1", "CD79A", "CD19"],
           "mono": ["LYZ", "CD14", "S100A8"]}


def planted_adata(seed: int = 0):
    """40 cells per group, 60 genes of Poisson(1) noise; each group's planted genes at Poisson(12)."""
    rng = np.random.default_rng(seed)
    genes = [g for gs in PLANTED.values() for g in gs] + [f"NOISE{i}" for i in range(51)]
    groups = np.repeat(list(PLANTED), 40)
    counts = rng.poisson(1.0, size=(len(groups), len(genes))).astype(np.float32)
    for group, planted in PLANTED.items():
        rows = np.flatnonzero(groups == group)
        for g in planted:
            counts[rows, genes.index(g)] = rng.poisson(12.0, size=len(rows))
    import pandas as pd

    obs = pd.DataFrame({"leiden": [str(list(PLANTED).index(g)) for g in groups], "label": groups},
                       index=[f"cell{i}" for i in range(len(groups))])
    adata = anndata.AnnData(X=np.log1p(counts), obs=obs, var=pd.DataFrame(index=genes))
    return adata


@pytest.fixture
def h5ad(tmp_path):
    path = tmp_path / "planted.h5ad"
    planted_adata().write_h5ad(path)
    return path


def test_read_anndata_finds_planted_markers(h5ad):
    clusters = read_anndata(h5ad, "leiden", top=5, tissue="PBMC", truth_key="label")
    assert [c.name for c in clusters] == ["0", "1", "2"]
    for c, (label, planted) in zip(clusters, PLANTED.items()):
        assert len(c.genes) == 5 and set(c.genes[:3]) == set(planted)  # the planted genes rank first
        assert c.truth == label and c.tissue == "PBMC"


def test_read_anndata_bad_input(h5ad, tmp_path):
    with pytest.raises(InputError, match=r"no obs column 'louvain'.*leiden"):
        read_anndata(h5ad, "louvain")
    with pytest.raises(InputError, match="no obs column 'truth'"):
        read_anndata(h5ad, "leiden", truth_key="truth")
    (tmp_path / "junk.h5ad").write_bytes(b"not hdf5")
    with pytest.raises(InputError, match="cannot read"):
        read_anndata(tmp_path / "junk.h5ad", "leiden")


def test_cli_anndata_needs_groupby(h5ad, capsys):
    assert main(["celltype", str(h5ad), "--quiet"]) == 2
    assert "--groupby" in capsys.readouterr().err
