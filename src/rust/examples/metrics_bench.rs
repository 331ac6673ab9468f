//! Exactness and speed checks of `dpvae::metrics` against spdep and scanpy.
//!
//! ```text
//! metrics_bench spdep DIR              # DIR written by bench/metrics_spdep_check.R
//! metrics_bench bench DIR [THREADS] [REPS]   # DIR written by bench/metrics_bench.py
//! ```
//! `spdep` compares every field of spdep's moran.test / geary.test (randomisation TRUE and
//! FALSE) with `moran_geary`, on spdep's own neighbour list and on `knn_indices`.
//! `bench` times kNN + Moran's I + Geary's C on the inputs scanpy was timed on and compares
//! the values with scanpy's. Prints one JSON object. Uses only `dpvae::metrics::...`.

use dpvae::metrics::autocorrelation::{
    gearys_c, moran_geary, morans_i, AutocorrOptions, GeneMatrix,
};
use dpvae::metrics::correlation::{spatial_expression_correlation, CorrelationOptions};
use dpvae::metrics::distortion::distortion;
use dpvae::metrics::knn::knn_indices;
use dpvae::metrics::weights::SpatialWeights;
use ndarray::{Array2, ArrayView2, ShapeBuilder};
use std::time::Instant;

type R<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn read_csv(path: &str) -> R<Vec<Vec<String>>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').map(|s| s.trim().to_string()).collect())
        .collect())
}

fn num_matrix(rows: &[Vec<String>]) -> R<Array2<f64>> {
    let (r, c) = (rows.len(), rows.first().map_or(0, |x| x.len()));
    let mut v = Vec::with_capacity(r * c);
    for row in rows {
        for s in row {
            v.push(s.parse::<f64>()?);
        }
    }
    Ok(Array2::from_shape_vec((r, c), v)?)
}

fn read_f64(path: &str) -> R<Vec<f64>> {
    let b = std::fs::read(path)?;
    Ok(b.chunks_exact(8)
        .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect())
}

fn read_u32(path: &str) -> R<Vec<u32>> {
    let b = std::fs::read(path)?;
    Ok(b.chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// max |a − b| / max(|b|, 1e-300) and max |a − b| over finite pairs; (count of NaN mismatches)
fn diffs(a: &[f64], b: &[f64]) -> (f64, f64, usize) {
    let (mut rel, mut abs, mut nan) = (0.0f64, 0.0f64, 0);
    for (&x, &y) in a.iter().zip(b) {
        if x.is_nan() || y.is_nan() {
            nan += (x.is_nan() != y.is_nan()) as usize;
            continue;
        }
        abs = abs.max((x - y).abs());
        rel = rel.max((x - y).abs() / y.abs().max(1e-300));
    }
    (rel, abs, nan)
}

fn spdep(dir: &str) -> R<()> {
    let expr = num_matrix(&read_csv(&format!("{dir}/expr.csv"))?)?; // genes x cells
    let coords = num_matrix(&read_csv(&format!("{dir}/coords.csv"))?)?;
    let nb = read_csv(&format!("{dir}/nb.csv"))?;
    let tab = read_csv(&format!("{dir}/spdep.csv"))?;
    let n = coords.nrows();
    let mut rows = vec![vec![]; n];
    for e in &nb {
        rows[e[0].parse::<usize>()?].push(e[1].parse::<usize>()?);
    }
    let k = rows[0].len();
    let w_spdep = SpatialWeights::from_knn(&rows, true)?;
    let ours = knn_indices(coords.view(), k)?;
    let differing_rows = (0..n)
        .filter(|&i| {
            let mut a = ours[i].clone();
            let mut b = rows[i].clone();
            a.sort();
            b.sort();
            a != b
        })
        .count();
    let w_ours = SpatialWeights::from_knn(&ours, true)?;
    let header = &tab[0];
    let col = |name: &str| -> R<Vec<f64>> {
        let j = header
            .iter()
            .position(|h| h == name)
            .ok_or(format!("no column {name}"))?;
        Ok(tab[1..]
            .iter()
            .map(|r| r[j].parse::<f64>().unwrap_or(f64::NAN))
            .collect())
    };
    let mut out = vec![format!(
        "\"n_cells\": {n}, \"n_genes\": {}, \"k\": {k}, \"knn_rows_differing_from_spdep\": {differing_rows}",
        expr.nrows()
    )];
    for (label, w) in [("spdep_nb", &w_spdep), ("dpvae_knn", &w_ours)] {
        let r = moran_geary(
            &GeneMatrix::Dense(expr.view()),
            w,
            &AutocorrOptions::default(),
        )?;
        let fields: Vec<(&str, Vec<f64>)> = vec![
            ("moran_I", r.iter().map(|g| g.moran.statistic).collect()),
            ("moran_E", r.iter().map(|g| g.moran.expected).collect()),
            (
                "moran_V_rand",
                r.iter().map(|g| g.moran.variance_randomisation).collect(),
            ),
            ("moran_z_rand", r.iter().map(|g| g.moran.z).collect()),
            ("moran_p_rand", r.iter().map(|g| g.moran.p_value).collect()),
            (
                "moran_V_norm",
                r.iter().map(|g| g.moran.variance_normal).collect(),
            ),
            ("moran_z_norm", r.iter().map(|g| g.moran.z_normal).collect()),
            (
                "moran_p_norm",
                r.iter().map(|g| g.moran.p_value_normal).collect(),
            ),
            ("geary_C", r.iter().map(|g| g.geary.statistic).collect()),
            ("geary_E", r.iter().map(|g| g.geary.expected).collect()),
            (
                "geary_V_rand",
                r.iter().map(|g| g.geary.variance_randomisation).collect(),
            ),
            ("geary_z_rand", r.iter().map(|g| g.geary.z).collect()),
            ("geary_p_rand", r.iter().map(|g| g.geary.p_value).collect()),
            (
                "geary_V_norm",
                r.iter().map(|g| g.geary.variance_normal).collect(),
            ),
            ("geary_z_norm", r.iter().map(|g| g.geary.z_normal).collect()),
            (
                "geary_p_norm",
                r.iter().map(|g| g.geary.p_value_normal).collect(),
            ),
        ];
        let mut worst = (0.0f64, "");
        let mut parts = vec![];
        for (name, v) in &fields {
            let (rel, abs, nan) = diffs(v, &col(name)?);
            if rel > worst.0 {
                worst = (rel, name);
            }
            parts.push(format!("\"{name}\": [{rel:.3e}, {abs:.3e}, {nan}]"));
        }
        out.push(format!(
            "\"{label}\": {{\"max_rel_diff\": {:.3e}, \"worst_field\": \"{}\", \"fields_[rel,abs,nan_mismatch]\": {{{}}}}}",
            worst.0,
            worst.1,
            parts.join(", ")
        ));
    }
    println!("{{{}}}", out.join(",\n "));
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn bench(dir: &str, threads: usize, reps: usize) -> R<()> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()?;
    let dims: Vec<usize> = std::fs::read_to_string(format!("{dir}/dims.txt"))?
        .split_whitespace()
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    let (g, n, k) = (dims[0], dims[1], dims[2]);
    let vals = read_f64(&format!("{dir}/vals.f64"))?; // genes x cells, row-major
    let coords = Array2::from_shape_vec((n, 2), read_f64(&format!("{dir}/coords.f64"))?)?;
    let py_knn = read_u32(&format!("{dir}/knn.u32"))?;
    let sc_mi = read_f64(&format!("{dir}/scanpy_morans_i.f64"))?;
    let sc_gc = read_f64(&format!("{dir}/scanpy_gearys_c.f64"))?;
    let row_major = ArrayView2::from_shape((g, n), &vals)?;
    // the layout R hands over: column-major genes x cells
    let mut cm = vec![0.0; g * n];
    for gi in 0..g {
        for c in 0..n {
            cm[gi + c * g] = vals[gi * n + c];
        }
    }
    let col_major = ArrayView2::from_shape((g, n).f(), &cm)?;
    // dgCMatrix (columns = cells)
    let (mut p, mut ii, mut xx) = (vec![0i32], vec![], vec![]);
    for c in 0..n {
        for gi in 0..g {
            let v = cm[gi + c * g];
            if v != 0.0 {
                ii.push(gi as i32);
                xx.push(v);
            }
        }
        p.push(ii.len() as i32);
    }
    let sparse = GeneMatrix::SparseCsc {
        nrow: g,
        ncol: n,
        p: &p,
        i: &ii,
        x: &xx,
    };

    // kNN: ours vs scipy cKDTree (the weights scanpy was given)
    let mut t_knn = vec![];
    let mut knn = vec![];
    for _ in 0..reps {
        let t = Instant::now();
        knn = knn_indices(coords.view(), k)?;
        t_knn.push(t.elapsed().as_secs_f64());
    }
    let py_rows: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            py_knn[i * k..(i + 1) * k]
                .iter()
                .map(|&j| j as usize)
                .collect()
        })
        .collect();
    let differing = (0..n)
        .filter(|&i| {
            let (mut a, mut b) = (knn[i].clone(), py_rows[i].clone());
            a.sort();
            b.sort();
            a != b
        })
        .count();
    let w = SpatialWeights::from_knn(&py_rows, true)?;
    let w_ours = SpatialWeights::from_knn(&knn, true)?;

    let mut res = vec![format!(
        "\"n_genes\": {g}, \"n_cells\": {n}, \"k\": {k}, \"threads\": {threads}, \"reps\": {reps}, \"nnz_expr\": {}, \"knn_rows_differing_from_cKDTree\": {differing}",
        xx.len()
    )];
    res.push(format!("\"knn_s_median\": {:.6}", median(t_knn)));
    for (label, m) in [
        ("dense_colmajor_R", GeneMatrix::Dense(col_major)),
        ("dense_rowmajor", GeneMatrix::Dense(row_major)),
        ("sparse_csc", sparse),
    ] {
        let (mut tm, mut tg, mut tb, mut tp) = (vec![], vec![], vec![], vec![]);
        let (mut mi, mut gc) = (vec![], vec![]);
        for _ in 0..reps {
            let t = Instant::now();
            mi = morans_i(&m, &w)?;
            tm.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            gc = gearys_c(&m, &w)?;
            tg.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let full = moran_geary(&m, &w, &AutocorrOptions::default())?;
            tb.push(t.elapsed().as_secs_f64());
            std::hint::black_box(full);
        }
        let t = Instant::now();
        let perm = moran_geary(
            &m,
            &w,
            &AutocorrOptions {
                n_perm: 99,
                ..Default::default()
            },
        )?;
        tp.push(t.elapsed().as_secs_f64());
        std::hint::black_box(perm);
        let (rm, am, nm) = diffs(&mi, &sc_mi);
        let (rg, ag, ng) = diffs(&gc, &sc_gc);
        res.push(format!(
            "\"{label}\": {{\"morans_i_s\": {:.6}, \"gearys_c_s\": {:.6}, \"moran_geary_full_tests_s\": {:.6}, \"moran_geary_99perm_s\": {:.4}, \
             \"morans_i_vs_scanpy_[maxrel,maxabs,nan_mismatch]\": [{rm:.3e}, {am:.3e}, {nm}], \"gearys_c_vs_scanpy\": [{rg:.3e}, {ag:.3e}, {ng}]}}",
            median(tm),
            median(tg),
            median(tb),
            tp[0]
        ));
    }
    // with our own kNN (differs from cKDTree only on ties)
    let mi2 = morans_i(&GeneMatrix::Dense(col_major), &w_ours)?;
    let (r2, a2, _) = diffs(&mi2, &sc_mi);
    res.push(format!(
        "\"morans_i_own_knn_vs_scanpy\": [{r2:.3e}, {a2:.3e}]"
    ));
    // spatial distance vs expression dissimilarity: all pairs (max_cells 3000) and 200k sampled pairs
    for (max_cells, n_perm) in [(3000usize, 0usize), (3000, 99), (0, 0), (0, 99)] {
        let t = Instant::now();
        let opts = CorrelationOptions {
            max_cells,
            n_perm,
            ..Default::default()
        };
        let r =
            spatial_expression_correlation(&GeneMatrix::Dense(col_major), coords.view(), &opts)?;
        res.push(format!(
            "\"correlation_max_cells{max_cells}_perm{n_perm}\": {{\"s\": {:.4}, \"pearson\": {:.6}, \"spearman\": {:.6}, \"n_pairs\": {}, \"sampled\": {}, \"p\": {}}}",
            t.elapsed().as_secs_f64(),
            r.pearson,
            r.spearman,
            r.n_pairs,
            r.sampled,
            r.p_value_pearson.map_or("null".to_string(), |p| p.to_string())
        ));
    }
    // distortion of a noisy similarity transform, 1e6 sampled pairs
    let latent = coords.mapv(|v| 2.0 * v)
        + &Array2::from_shape_fn((n, 2), |(i, d)| ((i * 31 + d * 17) % 13) as f64 * 0.01);
    let t = Instant::now();
    let d = distortion(latent.view(), coords.view(), 1_000_000, 1)?;
    res.push(format!(
        "\"distortion_1e6_pairs\": {{\"s\": {:.4}, \"median\": {:.6}, \"robust_distortion\": {:.6}, \"stress\": {:.3e}}}",
        t.elapsed().as_secs_f64(),
        d.median,
        d.robust_distortion,
        d.stress1
    ));
    println!("{{{}}}", res.join(",\n "));
    Ok(())
}

fn main() -> R<()> {
    let a: Vec<String> = std::env::args().collect();
    match a.get(1).map(|s| s.as_str()) {
        Some("spdep") => spdep(a.get(2).map_or("/tmp/spdep_check", |s| s.as_str())),
        Some("bench") => bench(
            a.get(2).map_or("/tmp/metrics_bench", |s| s.as_str()),
            a.get(3).and_then(|s| s.parse().ok()).unwrap_or(2),
            a.get(4).and_then(|s| s.parse().ok()).unwrap_or(5),
        ),
        _ => {
            Err("usage: metrics_bench spdep DIR | metrics_bench bench DIR [THREADS] [REPS]".into())
        }
    }
}
