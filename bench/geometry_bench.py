#!/usr/bin/env python3
"""Time scikit-learn's metric SMACOF on seeded latent distance matrices and save those
matrices (.npy, float64, C order) so `src/rust/examples/geometry_bench.rs` runs the very
same inputs.

Data: n points of a 10-D Gaussian mixture (8 components, means ~ N(0, 3^2 I), unit
within-component noise) drawn with numpy's default_rng(seed + n); dissimilarities are the
Euclidean distances (scipy pdist). The comparison is 10-D latent -> 2-D map, as dpvae does when
latent_dim > spatial dim.

Usage:
    python3 bench/geometry_bench.py --n 1000 2000 --out /tmp/dpvae-geometry-bench
prints one JSON object per line (tool, n, init, time_s, iterations, stress1).
"""
import argparse
import json
import os
import time

import numpy as np
from scipy.spatial.distance import pdist, squareform


def latent(n, seed, dim=10, k=8):
    rng = np.random.default_rng(seed + n)
    means = rng.normal(0.0, 3.0, size=(k, dim))
    lab = rng.integers(0, k, size=n)
    return means[lab] + rng.normal(size=(n, dim))


def stress1(x, d):
    iu = np.triu_indices(d.shape[0], 1)
    e = pdist(x) - d[iu]
    return float(np.sqrt((e ** 2).sum() / (d[iu] ** 2).sum()))


def make_mds(init, max_iter, eps, seed):
    from sklearn.manifold import MDS

    try:  # scikit-learn >= 1.8
        return MDS(n_components=2, metric_mds=True, metric="precomputed", n_init=1,
                   max_iter=max_iter, eps=eps, init=init, random_state=seed)
    except TypeError:  # older releases
        return MDS(n_components=2, metric=True, dissimilarity="precomputed", n_init=1,
                   max_iter=max_iter, eps=eps, random_state=seed)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 2000])
    ap.add_argument("--seed", type=int, default=20240801)
    ap.add_argument("--max-iter", type=int, default=300)
    ap.add_argument("--eps", type=float, default=1e-6)
    ap.add_argument("--init", nargs="+", default=["random", "classical_mds"])
    ap.add_argument("--out", default="/tmp/dpvae-geometry-bench")
    ap.add_argument("--no-sklearn", action="store_true", help="only write the inputs")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    import sklearn

    for n in args.n:
        d = squareform(pdist(latent(n, args.seed)))
        path = os.path.join(args.out, f"geometry_n{n}.npy")
        np.save(path, np.ascontiguousarray(d, dtype=np.float64))
        if args.no_sklearn:
            continue
        for init in args.init:
            mds = make_mds(init, args.max_iter, args.eps, args.seed)
            t0 = time.perf_counter()
            y = mds.fit_transform(d)
            dt = time.perf_counter() - t0
            print(json.dumps({
                "tool": f"scikit-learn {sklearn.__version__}", "task": "smacof", "n": n,
                "init": init, "max_iter": args.max_iter, "eps": args.eps,
                "time_s": round(dt, 3), "iterations": int(mds.n_iter_),
                "stress1": round(stress1(y, d), 6), "input": path,
            }), flush=True)


if __name__ == "__main__":
    main()
