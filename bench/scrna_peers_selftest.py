#!/usr/bin/env python3
"""Tiny synthetic check of bench/scrna_peers.py (input contract -> output format).
Usage: bench/.venv/bin/python bench/scrna_peers_selftest.py [TMPDIR]"""
import gzip, json, os, subprocess, sys, tempfile
import numpy as np, pandas as pd, scipy.io, scipy.sparse as sp

HERE = os.path.dirname(os.path.abspath(__file__))


def write_case(d, kind, values, z=False, seed=0):
    rng = np.random.default_rng(seed)
    os.makedirs(d, exist_ok=True)
    n_loc, n_cell, n_gene = 40, 30, 12
    genes = [f"Gene{i}" for i in range(n_gene)] + ["GENE0"]   # case clash after lower-casing
    xy = rng.uniform(0, 100, size=(n_loc, 3 if z else 2))
    cxy = rng.uniform(0, 100, size=(n_cell, 3 if z else 2))
    centres = rng.uniform(0, 100, size=(len(genes), xy.shape[1]))
    def expr(pos):
        d2 = ((pos[:, None, :] - centres[None]) ** 2).sum(-1)
        lam = 20 * np.exp(-d2 / 800)
        return rng.poisson(lam).astype(float) if values == "counts" else np.log1p(lam)
    R, Q = expr(xy), expr(cxy)
    Q[:, 3] = 0  # all-zero gene in the query
    cols = ["x", "y", "z"][: xy.shape[1]]
    scipy.io.mmwrite(os.path.join(d, "ref.mtx"), sp.coo_matrix(R.T))
    scipy.io.mmwrite(os.path.join(d, "query.mtx"), sp.coo_matrix(Q.T))
    for p in ("ref", "query"):
        with open(os.path.join(d, f"{p}_genes.txt"), "w") as f:
            f.write("\n".join(genes) + "\n")
    ro = pd.DataFrame(xy, columns=cols); ro.insert(0, "cell", [f"spot_{i}" for i in range(n_loc)])
    ro.to_csv(os.path.join(d, "ref_obs.tsv"), sep="\t", index=False)
    qo = pd.DataFrame({"cell": [f"c{i}" for i in range(n_cell)], "cell_type": "t"})
    if kind == "cells":
        for j, c in enumerate(cols):
            qo[c] = cxy[:, j]
    qo.to_csv(os.path.join(d, "query_obs.tsv"), sep="\t", index=False)
    nf = 3
    if kind == "genes":
        pd.DataFrame({"gene": genes, "fold": [i % nf + 1 for i in range(len(genes))]}).to_csv(
            os.path.join(d, "folds.tsv"), sep="\t", index=False)
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump({"case": os.path.basename(d), "kind": kind, "values": values, "n_folds": nf}, f)
    return genes, ro, qo


def run(d, method):
    subprocess.run([sys.executable, os.path.join(HERE, "scrna_peers.py"), "--case-dir", d,
                    "--method", method, "--versions-out", os.path.join(d, "versions.json")],
                   check=True)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="peers_selftest_")
    ok = 0
    d = os.path.join(root, "tiny_genes")
    genes, ro, _ = write_case(d, "genes", "counts")
    folds = pd.read_csv(os.path.join(d, "folds.tsv"), sep="\t")
    for m in ("tangram", "novosparc"):
        run(d, m)
        for k in (1, 2, 3):
            p = pd.read_csv(os.path.join(d, f"pred_{m}_fold{k}.tsv.gz"), sep="\t")
            assert list(p.columns) == ["cell"] + folds.gene[folds.fold == k].tolist(), p.columns
            assert p.cell.tolist() == ro.cell.tolist()
            assert np.isfinite(p.iloc[:, 1:].to_numpy()).all()
            ok += 1
    d = os.path.join(root, "tiny_cells")
    _, ro, qo = write_case(d, "cells", "normalized", z=True, seed=1)
    for m in ("tangram", "novosparc"):
        run(d, m)
        p = pd.read_csv(os.path.join(d, f"pred_{m}_coords.tsv.gz"), sep="\t")
        assert list(p.columns) == ["cell", "x", "y", "z"] and p.cell.tolist() == qo.cell.tolist()
        assert (p[["x", "y", "z"]].min() >= ro[["x", "y", "z"]].min() - 1e-6).all()
        ok += 1
    t = pd.read_csv(os.path.join(root, "tiny_genes", "timings.tsv"), sep="\t")
    assert list(t.columns) == ["method", "fold", "seconds", "n_query", "n_locations"] and len(t) == 6
    print(f"{ok} passed, 0 failed")


if __name__ == "__main__":
    main()
