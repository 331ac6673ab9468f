#!/usr/bin/env python3
"""metrics_bench.py -- dpvae's Moran's I / Geary's C (Rust) against scanpy, same inputs.

Builds the inputs exactly as ../shared/reference/peers_bench.py part 3 (synthetic 3000 cells x
2000 genes from np.random.default_rng(0), or --data DIR: up to 3000 cells, log1p-normalised,
top-2000 genes by variance), binary kNN (k = 5, scipy cKDTree, not symmetrised), times
scanpy.metrics.morans_i / gearys_c (first call = numba JIT, then warm median), writes the inputs
as little-endian binaries to --out, and (with --rust BIN) runs `BIN bench OUT THREADS REPS`
(the example src/rust/examples/metrics_bench.rs) and merges its JSON into OUT/results.json.

Usage: python bench/metrics_bench.py --out /tmp/metrics_bench [--data DIR] [--threads 2]
       [--rust target/release/examples/metrics_bench] [--reps 5]
"""
import argparse, json, os, subprocess, sys, time
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rust", default=None)
    a = ap.parse_args()
    for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[v] = str(a.threads)
    import numba
    numba.set_num_threads(a.threads)
    import scipy.sparse as sp
    from scipy.spatial import cKDTree
    import scanpy as sc
    from importlib.metadata import version
    rng = np.random.default_rng(0)
    n_cells, n_genes, k = 3000, 2000, 5
    if a.data:
        # same steps as ../shared/reference/dpvae_ref.py (read_dataset, lognorm, select_hvg),
        # inlined so that torch is not needed
        import scipy.io
        import pandas as pd
        X = sp.csr_matrix(scipy.io.mmread(os.path.join(a.data, "counts.mtx.gz")).T, dtype=np.float32)
        obs = pd.read_csv(os.path.join(a.data, "obs.tsv.gz"), sep="\t", dtype={"cell": str})
        S = obs[[c for c in ("x", "y", "z") if c in obs.columns]].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)

        def lognorm(X, target=1e4):
            lib = np.asarray(X.sum(axis=1)).ravel()
            f = np.divide(target, lib, out=np.zeros_like(lib), where=lib > 0).astype(np.float32)
            X = sp.csr_matrix(sp.diags(f) @ X)
            X.data = np.log1p(X.data)
            return X

        def select_hvg(X, n_top):
            n = X.shape[0]
            mean = np.asarray(X.sum(axis=0)).ravel() / n
            sq = X.copy()
            sq.data = sq.data.astype(np.float64) ** 2
            var = np.asarray(sq.sum(axis=0)).ravel() / n - mean.astype(np.float64) ** 2
            if n_top <= 0 or n_top >= X.shape[1]:
                return np.arange(X.shape[1])
            return np.sort(np.argsort(-var, kind="stable")[:n_top])

        ok = np.flatnonzero(np.isfinite(S).all(axis=1))
        if len(ok) > n_cells:
            ok = np.sort(rng.choice(ok, n_cells, replace=False))
        L = lognorm(X[ok])
        hv = select_hvg(L, n_genes)
        vals = np.ascontiguousarray(L[:, hv].toarray().T.astype(np.float64))
        coords = S[ok][:, :2]
        src = a.data
    else:
        coords = rng.uniform(size=(n_cells, 2)) * 100
        lam = np.exp(np.sin(coords[:, :1] / 10 * rng.uniform(0.2, 2, n_genes)[None, :]))
        vals = np.log1p(rng.poisson(lam).astype(np.float64)).T.copy()
        src = "synthetic"
    n_genes, n_cells = vals.shape
    t = time.perf_counter()
    _, idx = cKDTree(coords).query(coords, k=k + 1)
    t_knn = time.perf_counter() - t
    rows = np.repeat(np.arange(n_cells), k)
    W = sp.csr_matrix((np.ones(n_cells * k), (rows, idx[:, 1:].ravel())), shape=(n_cells, n_cells))

    def timeit(f, reps):
        ts, out = [], None
        for _ in range(reps):
            t0 = time.perf_counter()
            out = f()
            ts.append(time.perf_counter() - t0)
        return out, ts

    mi, ts_mi = timeit(lambda: sc.metrics.morans_i(W, vals), a.reps)
    gc, ts_gc = timeit(lambda: sc.metrics.gearys_c(W, vals), a.reps)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "dims.txt"), "w") as fh:
        fh.write(f"{n_genes} {n_cells} {k}\n")
    np.ascontiguousarray(vals, dtype="<f8").tofile(os.path.join(a.out, "vals.f64"))
    np.ascontiguousarray(coords, dtype="<f8").tofile(os.path.join(a.out, "coords.f64"))
    np.ascontiguousarray(idx[:, 1:], dtype="<u4").tofile(os.path.join(a.out, "knn.u32"))
    np.asarray(mi, dtype="<f8").tofile(os.path.join(a.out, "scanpy_morans_i.f64"))
    np.asarray(gc, dtype="<f8").tofile(os.path.join(a.out, "scanpy_gearys_c.f64"))
    res = dict(source=src, n_genes=n_genes, n_cells=n_cells, k=k, threads=a.threads,
               versions=dict(scanpy=version("scanpy"), numba=version("numba"), numpy=np.__version__),
               scanpy=dict(knn_cKDTree_s=t_knn, morans_i_times_s=ts_mi, gearys_c_times_s=ts_gc,
                           morans_i_warm_median_s=float(np.median(ts_mi[1:])),
                           gearys_c_warm_median_s=float(np.median(ts_gc[1:]))),
               loadavg=list(os.getloadavg()))
    if a.rust:
        env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))
        out = subprocess.run([a.rust, "bench", a.out, str(a.threads), str(a.reps)], env=env,
                             capture_output=True, text=True, check=True).stdout
        res["dpvae"] = json.loads(out)
        d = res["dpvae"]["dense_colmajor_R"]
        res["speedup_vs_scanpy_warm"] = dict(
            morans_i=res["scanpy"]["morans_i_warm_median_s"] / d["morans_i_s"],
            gearys_c=res["scanpy"]["gearys_c_warm_median_s"] / d["gearys_c_s"],
            both_full_tests_vs_scanpy_sum=(res["scanpy"]["morans_i_warm_median_s"] + res["scanpy"]["gearys_c_warm_median_s"])
            / d["moran_geary_full_tests_s"])
    with open(os.path.join(a.out, "results.json"), "w") as fh:
        json.dump(res, fh, indent=1)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
