#!/usr/bin/env python3
"""Run the Python peers (Tangram, novoSpaRc) on one scRNA benchmark case.

Usage:
  bench/.venv/bin/python bench/scrna_peers.py --case-dir DIR --method tangram|novosparc [--fold K]

Input contract (written by bench/scrna_inputs.R): see bench/scrna_peers.md (same folder).
kind "genes": for each fold k, map the query cells onto the reference
locations with the training genes (fold != k) only, predict the held-out genes
(fold == k) at every location -> DIR/pred_<method>_fold<k>.tsv.gz
kind "cells": map on all shared genes and place each query cell at the
mapping-weighted mean of the location coordinates -> DIR/pred_<method>_coords.tsv.gz
One line per run is appended to DIR/timings.tsv
(method, fold, seconds, n_query, n_locations); seconds = mapping + projection.
"""
import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
           "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json
import logging
import platform
import sys
import time
import warnings

import numpy as np
import pandas as pd
import scipy.io
import scipy.sparse as sp

NOVOSPARC_ALPHA = 0.8       # tutorial value (atlas weight)
NOVOSPARC_EPSILON = 5e-3    # tutorial value (entropic regularisation)
NOVOSPARC_NEIGHBORS = 5     # num_neighbors_s = num_neighbors_t = 5 (package default / tutorial)
TANGRAM_SEED = 0


# --------------------------------------------------------------------- input
def read_case(case_dir):
    with open(os.path.join(case_dir, "meta.json")) as f:
        meta = json.load(f)

    def rd(prefix):
        m = scipy.io.mmread(os.path.join(case_dir, prefix + ".mtx"))
        m = sp.csr_matrix(m).T.tocsr().astype(np.float64)   # -> obs x genes
        genes = pd.read_csv(os.path.join(case_dir, prefix + "_genes.txt"),
                            header=None, sep="\t", dtype=str)[0].tolist()
        obs = pd.read_csv(os.path.join(case_dir, prefix + "_obs.tsv"), sep="\t",
                          dtype={"cell": str})
        if m.shape != (obs.shape[0], len(genes)):
            raise ValueError(f"{prefix}: matrix {m.shape} vs obs {obs.shape[0]} x genes {len(genes)}")
        return m, genes, obs

    ref, ref_genes, ref_obs = rd("ref")
    qry, qry_genes, qry_obs = rd("query")
    folds = None
    if meta["kind"] == "genes":
        folds = pd.read_csv(os.path.join(case_dir, "folds.tsv"), sep="\t", dtype={"gene": str})
    return meta, (ref, ref_genes, ref_obs), (qry, qry_genes, qry_obs), folds


def normalise(m, values):
    """counts: per row (cell/location) scale to total 1e4 over all genes, log1p."""
    m = m.toarray() if sp.issparse(m) else np.asarray(m, dtype=np.float64)
    if values == "counts":
        lib = m.sum(axis=1, keepdims=True)
        lib[lib == 0] = 1.0
        m = np.log1p(m / lib * 1e4)
    elif values != "normalized":
        raise ValueError(f"unknown values {values!r}")
    return m


def coord_cols(obs):
    return [c for c in ("x", "y", "z") if c in obs.columns]


# ------------------------------------------------------------------- tangram
def run_tangram(ref_X, ref_genes, qry_X, qry_genes, train_genes, ref_obs, qry_obs):
    """Return (mapping cells x locations, projected locations x query genes or None)."""
    import anndata as ad
    import tangram as tg
    import torch
    torch.manual_seed(TANGRAM_SEED)
    # Tangram lower-cases gene names; use neutral lower-case ids and map back.
    allg = list(dict.fromkeys(list(qry_genes) + list(ref_genes)))
    gid = {g: f"g{i}" for i, g in enumerate(allg)}
    inv = {v: k for k, v in gid.items()}
    ad_sc = ad.AnnData(X=qry_X.astype(np.float32),
                       obs=pd.DataFrame(index=qry_obs["cell"].astype(str).values),
                       var=pd.DataFrame(index=[gid[g] for g in qry_genes]))
    ad_sp = ad.AnnData(X=ref_X.astype(np.float32),
                       obs=pd.DataFrame(index=ref_obs["cell"].astype(str).values),
                       var=pd.DataFrame(index=[gid[g] for g in ref_genes]))
    tg.pp_adatas(ad_sc, ad_sp, genes=[gid[g] for g in train_genes])
    ad_map = tg.map_cells_to_space(ad_sc, ad_sp, mode="cells", device="cpu",
                                   random_state=TANGRAM_SEED, verbose=False)
    M = np.asarray(ad_map.X, dtype=np.float64)     # cells x locations
    ad_ge = tg.project_genes(ad_map, ad_sc)         # locations x genes
    ge = pd.DataFrame(np.asarray(ad_ge.X, dtype=np.float64),
                      index=ref_obs["cell"].astype(str).values,
                      columns=[inv.get(g, g) for g in ad_ge.var_names])
    return M, ge


# ----------------------------------------------------------------- novosparc
def run_novosparc(ref_X, ref_genes, qry_X, qry_genes, train_genes, ref_obs, qry_obs):
    """Atlas-assisted novoSpaRc. Returns (gw cells x locations, sdge locations x query genes)."""
    import anndata as ad
    import novosparc
    dataset = ad.AnnData(X=qry_X.astype(np.float64),
                         obs=pd.DataFrame(index=qry_obs["cell"].astype(str).values),
                         var=pd.DataFrame(index=list(qry_genes)))
    locations = ref_obs[coord_cols(ref_obs)].to_numpy(dtype=np.float64)
    qpos = {g: i for i, g in enumerate(qry_genes)}
    rpos = {g: i for i, g in enumerate(ref_genes)}
    markers_to_use = np.array([qpos[g] for g in train_genes], dtype=int)
    atlas_matrix = ref_X[:, [rpos[g] for g in train_genes]]
    tissue = novosparc.cm.Tissue(dataset=dataset, locations=locations,
                                 atlas_matrix=atlas_matrix, markers_to_use=markers_to_use)
    # == tissue.setup_reconstruction(atlas_matrix=..., markers_to_use=..., 5, 5)
    # except that the cell-cell expression graph is built on the training genes
    # only (setup_reconstruction would use all query genes, held-out included).
    tissue.setup_linear_cost(markers_to_use=markers_to_use, atlas_matrix=atlas_matrix)
    tissue.setup_smooth_costs(dge_rep=qry_X[:, markers_to_use],
                              num_neighbors_s=NOVOSPARC_NEIGHBORS,
                              num_neighbors_t=NOVOSPARC_NEIGHBORS, verbose=False)
    tissue.reconstruct(alpha_linear=NOVOSPARC_ALPHA, epsilon=NOVOSPARC_EPSILON, verbose=False)
    print(f"novosparc: epsilon used {tissue.epsilon:.2e}", flush=True)
    gw = np.asarray(tissue.gw, dtype=np.float64)
    sdge = np.asarray(tissue.sdge, dtype=np.float64)          # genes x locations
    ge = pd.DataFrame(sdge.T, index=ref_obs["cell"].astype(str).values,
                      columns=list(qry_genes))
    return gw, ge


RUNNERS = {"tangram": run_tangram, "novosparc": run_novosparc}


# --------------------------------------------------------------------- output
def append_timing(case_dir, method, fold, secs, n_query, n_loc):
    path = os.path.join(case_dir, "timings.tsv")
    new = not os.path.exists(path)
    with open(path, "a") as f:
        if new:
            f.write("method\tfold\tseconds\tn_query\tn_locations\n")
        f.write(f"{method}\t{fold}\t{secs:.3f}\t{n_query}\t{n_loc}\n")


def write_versions(path):
    import importlib.metadata as md
    import torch
    v = {"python": platform.python_version()}
    for name, dist in (("tangram", "tangram-sc"), ("novosparc", "novosparc"),
                       ("torch", "torch"), ("scanpy", "scanpy"), ("numpy", "numpy"),
                       ("scipy", "scipy"), ("anndata", "anndata"), ("pot", "POT"),
                       ("pandas", "pandas")):
        try:
            v[name] = md.version(dist)
        except md.PackageNotFoundError:
            v[name] = None
    v["torch_threads"] = torch.get_num_threads()
    v["threads_env"] = {k: os.environ.get(k) for k in
                        ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    v["novosparc_params"] = {"alpha_linear": NOVOSPARC_ALPHA, "epsilon": NOVOSPARC_EPSILON,
                             "num_neighbors_s": NOVOSPARC_NEIGHBORS,
                             "num_neighbors_t": NOVOSPARC_NEIGHBORS,
                             "expression_graph_genes": "training genes"}
    v["tangram_params"] = {"mode": "cells", "device": "cpu", "num_epochs": 1000,
                           "density_prior": "rna_count_based (default)",
                           "random_state": TANGRAM_SEED}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(v, f, indent=2)
        f.write("\n")


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--case-dir", required=True)
    ap.add_argument("--method", required=True, choices=sorted(RUNNERS))
    ap.add_argument("--fold", type=int, default=None)
    ap.add_argument("--versions-out", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "out", "scrna", "peers_versions.json"))
    ap.add_argument("--force", action="store_true", help="recompute existing outputs")
    a = ap.parse_args(argv)

    import torch
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=FutureWarning)
    logging.getLogger().setLevel(logging.WARNING)
    write_versions(a.versions_out)

    meta, (ref, ref_genes, ref_obs), (qry, qry_genes, qry_obs), folds = read_case(a.case_dir)
    ref_X = normalise(ref, meta["values"])
    qry_X = normalise(qry, meta["values"])
    n_q, n_l = qry_X.shape[0], ref_X.shape[0]
    runner = RUNNERS[a.method]
    case = meta.get("case", os.path.basename(os.path.normpath(a.case_dir)))

    if meta["kind"] == "genes":
        shared = set(ref_genes) & set(qry_genes)
        folds = folds[folds["gene"].isin(shared)]
        ks = sorted(folds["fold"].unique()) if a.fold is None else [a.fold]
        for k in ks:
            out = os.path.join(a.case_dir, f"pred_{a.method}_fold{k}.tsv.gz")
            if os.path.exists(out) and not a.force:
                print(f"{case} {a.method} fold {k}: exists, skipped", flush=True)
                continue
            test = folds.loc[folds["fold"] == k, "gene"].tolist()
            train = folds.loc[folds["fold"] != k, "gene"].tolist()
            if not test:
                raise ValueError(f"fold {k} has no genes")
            t0 = time.perf_counter()
            _, ge = runner(ref_X, ref_genes, qry_X, qry_genes, train, ref_obs, qry_obs)
            secs = time.perf_counter() - t0
            missing = [g for g in test if g not in ge.columns]
            if missing:  # e.g. tangram drops genes that are all-zero in the query
                print(f"  {len(missing)} held-out genes absent from projection -> 0: "
                      f"{missing[:5]}", flush=True)
                for g in missing:
                    ge[g] = 0.0
            pred = ge[test].copy()
            pred.insert(0, "cell", ref_obs["cell"].astype(str).values)
            pred.to_csv(out, sep="\t", index=False, float_format="%.6g", compression="gzip")
            append_timing(a.case_dir, a.method, k, secs, n_q, n_l)
            print(f"{case} {a.method} fold {k}: {len(train)} train, {len(test)} held out, "
                  f"{secs:.1f}s", flush=True)
    elif meta["kind"] == "cells":
        out = os.path.join(a.case_dir, f"pred_{a.method}_coords.tsv.gz")
        if os.path.exists(out) and not a.force:
            print(f"{case} {a.method} coords: exists, skipped", flush=True)
            return 0
        train = [g for g in qry_genes if g in set(ref_genes)]
        t0 = time.perf_counter()
        M, _ = runner(ref_X, ref_genes, qry_X, qry_genes, train, ref_obs, qry_obs)
        rs = M.sum(axis=1, keepdims=True)
        rs[rs == 0] = 1.0
        W = M / rs
        cc = coord_cols(ref_obs)
        xyz = W @ ref_obs[cc].to_numpy(dtype=np.float64)
        secs = time.perf_counter() - t0
        pred = pd.DataFrame(xyz, columns=cc)
        pred.insert(0, "cell", qry_obs["cell"].astype(str).values)
        pred.to_csv(out, sep="\t", index=False, float_format="%.8g", compression="gzip")
        append_timing(a.case_dir, a.method, "NA", secs, n_q, n_l)
        print(f"{case} {a.method} coords: {len(train)} genes, {secs:.1f}s", flush=True)
    else:
        raise ValueError(f"unknown kind {meta['kind']!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
