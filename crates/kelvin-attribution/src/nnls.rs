//! Non-negative least squares: `min ‖A x − b‖₂` subject to `x ≥ 0`.
//!
//! The solver is the active-set method of Lawson & Hanson (*Solving Least Squares Problems*,
//! 1974, ch. 23): start from `x = 0` with every variable held at its bound, repeatedly free
//! the variable whose gradient most wants to grow, solve the unconstrained least-squares
//! problem on the free ("passive") variables and, when that solution leaves the feasible set,
//! step back along the segment to the boundary and fix the variables that hit zero.
//!
//! Numerics:
//! - every column of `A` and the right-hand side are scaled to unit Euclidean norm before
//!   solving (and the solution is unscaled afterwards), so columns of wildly different
//!   magnitude (watts against cycles per second) behave like columns of the same magnitude;
//! - when there are more rows than columns, one Householder QR factorisation reduces the
//!   problem to an equivalent `columns × columns` triangular one (`‖A x − b‖² = ‖R x − Qᵀb‖²`
//!   plus a constant), so the iteration costs nothing per row;
//! - every passive subproblem is solved by a Householder QR of its columns (never the normal
//!   equations, which would square the condition number); only when those columns are
//!   numerically dependent is a small ridge (`1e-12` of the unit diagonal, growing ×100 up to
//!   three times) added;
//! - a freed variable whose subproblem solution is not positive is put back at its bound for
//!   the rest of that step (Lawson & Hanson's guard against cycling on round-off).

use ndarray::{Array1, ArrayView1, ArrayView2};

use crate::AttributionError;

/// Relative tolerance on the scaled gradient: a variable at zero is optimal when
/// `a_jᵀ (b − A x) ≤ TOL · ‖a_j‖ · ‖b‖`.
const TOL: f64 = 1e-10;

/// The solution of a non-negative least-squares problem (see [`nnls`]).
///
/// ```
/// use kelvin_attribution::nnls::nnls;
/// use ndarray::array;
/// // b = 2·a₀ − 1·a₁: the negative coefficient is clamped to zero.
/// let a = array![[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]];
/// let b = array![2.0, -1.0, 1.0];
/// let s = nnls(a.view(), b.view())?;
/// assert!(s.x[1] == 0.0 && s.x[0] > 0.0);
/// assert!((s.x[0] - 1.5).abs() < 1e-12);
/// # Ok::<(), kelvin_attribution::AttributionError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Nnls {
    /// The minimiser, every entry ≥ 0 (exactly zero for variables at their bound).
    pub x: Array1<f64>,
    /// `‖A x − b‖₂`, in the units of `b`.
    pub residual_norm: f64,
    /// Outer iterations (variables freed) the active-set method took.
    pub iterations: usize,
}

/// Solves `min ‖A x − b‖₂` subject to `x ≥ 0` by the Lawson–Hanson active-set method.
///
/// `a` is `rows × columns`, `b` has one entry per row. A column of zeros gets `x = 0`; with no
/// columns the solution is empty and the residual is `‖b‖`. At most `3·columns + 30` outer
/// iterations are taken.
///
/// # Errors
/// [`crate::AttributionErrorKind::InvalidInput`] when `b` does not have one entry per row of
/// `a`, `a` has no rows, any entry is NaN or infinite, the iteration limit is reached, or the
/// solution does not fit in `f64`.
pub fn nnls(a: ArrayView2<'_, f64>, b: ArrayView1<'_, f64>) -> Result<Nnls, AttributionError> {
    let (m, n) = a.dim();
    if b.len() != m {
        return Err(AttributionError::invalid(
            "nnls",
            format!(
                "right-hand side has {} entries, matrix has {m} rows",
                b.len()
            ),
        ));
    }
    if m == 0 {
        return Err(AttributionError::invalid("nnls", "matrix has no rows"));
    }
    if let Some(((i, j), v)) = a.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(AttributionError::invalid(
            "nnls",
            format!("matrix entry ({i}, {j}) is {v}"),
        ));
    }
    if let Some((i, v)) = b.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(AttributionError::invalid(
            "nnls",
            format!("right-hand side entry {i} is {v}"),
        ));
    }
    let b_norm = norm(b.iter().copied());
    if n == 0 || b_norm == 0.0 {
        return Ok(Nnls {
            x: Array1::zeros(n),
            residual_norm: b_norm,
            iterations: 0,
        });
    }

    // Scaled, column-major copy of the non-zero columns: unit norms, b of unit norm.
    let col_norm: Vec<f64> = (0..n).map(|j| norm(a.column(j).iter().copied())).collect();
    let keep: Vec<usize> = (0..n).filter(|&j| col_norm[j] > 0.0).collect();
    let mut cols: Vec<Vec<f64>> = keep
        .iter()
        .map(|&j| a.column(j).iter().map(|v| v / col_norm[j]).collect())
        .collect();
    let mut rhs: Vec<f64> = b.iter().map(|v| v / b_norm).collect();

    // With more rows than columns, reduce to the triangular problem min ‖R y − (Qᵀb)₁‖.
    let k = keep.len();
    if m > k {
        householder(&mut cols, &mut rhs);
        for c in &mut cols {
            c.truncate(k);
        }
        rhs.truncate(k);
    }

    let (y, iterations) = active_set(&cols, &rhs)?;
    let mut x = Array1::zeros(n);
    for (&j, &v) in keep.iter().zip(&y) {
        if v > 0.0 {
            let v = v * (b_norm / col_norm[j]);
            if !v.is_finite() {
                return Err(AttributionError::invalid(
                    "nnls",
                    format!("coefficient {j} does not fit in f64"),
                ));
            }
            x[j] = v;
        }
    }
    let residual_norm = norm((0..m).map(|i| {
        let fitted: f64 = keep
            .iter()
            .filter(|&&j| x[j] != 0.0)
            .map(|&j| a[[i, j]] * x[j])
            .sum();
        fitted - b[i]
    }));
    Ok(Nnls {
        x,
        residual_norm,
        iterations,
    })
}

/// The Lawson–Hanson iteration on `min ‖C y − d‖, y ≥ 0` (columns of `C` given, all of the
/// same length as `d`). Returns the solution and the number of outer iterations.
fn active_set(c: &[Vec<f64>], d: &[f64]) -> Result<(Vec<f64>, usize), AttributionError> {
    let n = c.len();
    let max_iter = 3 * n + 30;
    let mut x = vec![0.0; n];
    let mut passive = vec![false; n];
    // Variables rejected by the cycling guard since the last change of x.
    let mut excluded = vec![false; n];
    let mut iterations = 0;
    let mut r = d.to_vec();
    loop {
        // Residual and gradient of −½‖C y − d‖²: w = Cᵀ (d − C y).
        r.copy_from_slice(d);
        for (cj, &xj) in c.iter().zip(&x) {
            if xj != 0.0 {
                for (ri, cij) in r.iter_mut().zip(cj) {
                    *ri -= cij * xj;
                }
            }
        }
        let candidate = (0..n)
            .filter(|&j| !passive[j] && !excluded[j])
            .map(|j| (j, dot(&c[j], &r)))
            .filter(|&(_, w)| w > TOL)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let Some((t, _)) = candidate else {
            return Ok((x, iterations));
        };
        iterations += 1;
        if iterations > max_iter {
            return Err(AttributionError::invalid(
                "nnls",
                format!("no convergence in {max_iter} iterations"),
            ));
        }
        passive[t] = true;
        let mut first = true;
        loop {
            let idx: Vec<usize> = (0..n).filter(|&j| passive[j]).collect();
            let z_p = solve_passive(c, d, &idx)?;
            let mut z = vec![0.0; n];
            for (&j, &v) in idx.iter().zip(&z_p) {
                z[j] = v;
            }
            if first {
                first = false;
                if z[t] <= 0.0 {
                    // Round-off made t look profitable; keep it at zero for now.
                    passive[t] = false;
                    excluded[t] = true;
                    break;
                }
            }
            if idx.iter().all(|&j| z[j] > 0.0) {
                x = z;
                excluded.iter_mut().for_each(|e| *e = false);
                break;
            }
            // Step from x towards z until the first passive variable reaches zero.
            let mut alpha = f64::INFINITY;
            let mut hit = idx[0];
            for &j in &idx {
                if z[j] <= 0.0 {
                    let denom = x[j] - z[j];
                    let a = if denom > 0.0 { x[j] / denom } else { 0.0 };
                    if a < alpha {
                        alpha = a;
                        hit = j;
                    }
                }
            }
            let alpha = alpha.clamp(0.0, 1.0);
            for &j in &idx {
                x[j] += alpha * (z[j] - x[j]);
            }
            x[hit] = 0.0;
            for &j in &idx {
                if x[j] <= 0.0 {
                    x[j] = 0.0;
                    passive[j] = false;
                }
            }
            excluded.iter_mut().for_each(|e| *e = false);
            if !passive.iter().any(|&p| p) {
                break;
            }
        }
    }
}

/// Unconstrained least squares on the columns `idx` of `c` by Householder QR, adding a small
/// ridge only if those columns are numerically dependent.
fn solve_passive(c: &[Vec<f64>], d: &[f64], idx: &[usize]) -> Result<Vec<f64>, AttributionError> {
    let p = idx.len();
    let rows = d.len();
    let mut ridge = 0.0f64;
    for _ in 0..4 {
        let extra = if ridge > 0.0 { p } else { 0 };
        let mut cols: Vec<Vec<f64>> = idx
            .iter()
            .enumerate()
            .map(|(q, &j)| {
                let mut v = c[j].clone();
                v.resize(rows + extra, 0.0);
                if extra > 0 {
                    v[rows + q] = ridge.sqrt();
                }
                v
            })
            .collect();
        let mut rhs = d.to_vec();
        rhs.resize(rows + extra, 0.0);
        householder(&mut cols, &mut rhs);
        // Columns have unit norm, so the diagonal of R is on the scale of 1.
        if cols
            .iter()
            .enumerate()
            .all(|(q, col)| col.get(q).is_some_and(|r| r.abs() > 1e-12))
        {
            let mut z = rhs[..p].to_vec();
            for q in (0..p).rev() {
                for k in q + 1..p {
                    z[q] -= cols[k][q] * z[k];
                }
                z[q] /= cols[q][q];
            }
            if z.iter().all(|v| v.is_finite()) {
                return Ok(z);
            }
        }
        ridge = if ridge == 0.0 { 1e-12 } else { ridge * 100.0 };
    }
    Err(AttributionError::invalid(
        "nnls",
        "passive subproblem is numerically singular",
    ))
}

/// Householder QR in place: on return the upper triangle of the column-major `cols` holds
/// `R` (entries below the diagonal are zero) and `rhs` holds `Qᵀ rhs`. Columns past the
/// number of rows are only transformed.
fn householder(cols: &mut [Vec<f64>], rhs: &mut [f64]) {
    let rows = rhs.len();
    for j in 0..cols.len().min(rows) {
        let (head, tail) = cols.split_at_mut(j + 1);
        let v = &mut head[j];
        let sigma = norm(v[j..].iter().copied());
        if sigma == 0.0 {
            continue;
        }
        let alpha = if v[j] > 0.0 { -sigma } else { sigma };
        // Reflector u = x − alpha e₁, stored in v[j..]; uᵀu = 2 σ (σ + |x₀|).
        v[j] -= alpha;
        let utu = 2.0 * sigma * (sigma + (v[j] + alpha).abs());
        let u = &v[j..];
        for other in tail.iter_mut() {
            let tau = 2.0 * dot(u, &other[j..]) / utu;
            for (o, ui) in other[j..].iter_mut().zip(u) {
                *o -= tau * ui;
            }
        }
        let tau = 2.0 * dot(u, &rhs[j..]) / utu;
        for (o, ui) in rhs[j..].iter_mut().zip(u) {
            *o -= tau * ui;
        }
        v[j] = alpha;
        v[j + 1..].iter_mut().for_each(|x| *x = 0.0);
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Euclidean norm without overflow or underflow for finite input.
fn norm(v: impl Iterator<Item = f64> + Clone) -> f64 {
    let big = v.clone().fold(0.0f64, |m, x| m.max(x.abs()));
    if big == 0.0 || !big.is_finite() {
        return big;
    }
    big * v.map(|x| (x / big) * (x / big)).sum::<f64>().sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};
    use proptest::prelude::*;

    /// Unconstrained least squares on the columns in `set` (normal equations, Gaussian
    /// elimination with partial pivoting); `None` when singular.
    fn ls_on(a: &Array2<f64>, b: &Array1<f64>, set: &[usize]) -> Option<Vec<f64>> {
        let p = set.len();
        // Unit-norm columns keep the normal equations well scaled.
        let d: Vec<f64> = set
            .iter()
            .map(|&j| a.column(j).dot(&a.column(j)).sqrt().max(1e-300))
            .collect();
        let mut m = vec![vec![0.0; p + 1]; p];
        for r in 0..p {
            for c in 0..p {
                m[r][c] = a.column(set[r]).dot(&a.column(set[c])) / (d[r] * d[c]);
            }
            m[r][p] = a.column(set[r]).dot(b) / d[r];
        }
        for c in 0..p {
            let piv = (c..p).max_by(|&i, &j| m[i][c].abs().total_cmp(&m[j][c].abs()))?;
            if m[piv][c].abs() < 1e-10 {
                return None;
            }
            m.swap(c, piv);
            let pivot_row = m[c].clone();
            for (r, row) in m.iter_mut().enumerate() {
                if r != c {
                    let f = row[c] / pivot_row[c];
                    for (v, pv) in row[c..].iter_mut().zip(&pivot_row[c..]) {
                        *v -= f * pv;
                    }
                }
            }
        }
        Some((0..p).map(|r| m[r][p] / m[r][r] / d[r]).collect())
    }

    fn residual(a: &Array2<f64>, b: &Array1<f64>, x: &Array1<f64>) -> f64 {
        (a.dot(x) - b).mapv(|v| v * v).sum().sqrt()
    }

    /// Minimum residual over all supports whose unconstrained solution is non-negative.
    fn brute_force(a: &Array2<f64>, b: &Array1<f64>) -> (f64, Array1<f64>) {
        let n = a.ncols();
        let mut best = (b.mapv(|v| v * v).sum().sqrt(), Array1::zeros(n));
        for mask in 1u32..(1 << n) {
            let set: Vec<usize> = (0..n).filter(|j| mask & (1 << j) != 0).collect();
            if let Some(z) = ls_on(a, b, &set)
                && z.iter().all(|&v| v >= 0.0)
            {
                let mut x = Array1::zeros(n);
                for (&j, &v) in set.iter().zip(&z) {
                    x[j] = v;
                }
                let r = residual(a, b, &x);
                if r < best.0 {
                    best = (r, x);
                }
            }
        }
        best
    }

    fn check_kkt(a: &Array2<f64>, b: &Array1<f64>, s: &Nnls) -> Result<(), String> {
        let r = b - &a.dot(&s.x);
        let bn = b.mapv(|v| v * v).sum().sqrt();
        for j in 0..a.ncols() {
            let aj = a.column(j);
            let an = aj.mapv(|v| v * v).sum().sqrt();
            // w_j = a_jᵀ r: ≤ tol at the bound, ≈ 0 when free.
            let wj = aj.dot(&r);
            let tol = 1e-7 * an * bn + 1e-12;
            if s.x[j] < 0.0 {
                return Err(format!("x[{j}] = {} < 0", s.x[j]));
            }
            if s.x[j] == 0.0 && wj > tol {
                return Err(format!("gradient {wj} at bound for {j}, tol {tol}"));
            }
            if s.x[j] > 0.0 && wj.abs() > tol {
                return Err(format!("gradient {wj} for free {j}, tol {tol}"));
            }
        }
        Ok(())
    }

    #[test]
    fn known_problems() {
        // Unconstrained optimum already feasible.
        let a = array![[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]];
        let b = array![1.0, 2.0, 3.0];
        let s = nnls(a.view(), b.view()).unwrap();
        assert!((s.x[0] - 1.0).abs() < 1e-12 && (s.x[1] - 2.0).abs() < 1e-12);
        assert!(s.residual_norm < 1e-12);
        // All-negative target: x = 0.
        let s = nnls(a.view(), (-&b).view()).unwrap();
        assert_eq!(s.x, array![0.0, 0.0]);
        assert!((s.residual_norm - 14f64.sqrt()).abs() < 1e-12);
        assert_eq!(s.iterations, 0);
        // Zero column and zero rhs.
        let a = array![[1.0, 0.0], [2.0, 0.0]];
        let s = nnls(a.view(), array![1.0, 2.0].view()).unwrap();
        assert!((s.x[0] - 1.0).abs() < 1e-15 && s.x[1] == 0.0);
        let s = nnls(a.view(), array![0.0, 0.0].view()).unwrap();
        assert_eq!(s.x, array![0.0, 0.0]);
        // No columns.
        let a = Array2::<f64>::zeros((2, 0));
        let s = nnls(a.view(), array![3.0, 4.0].view()).unwrap();
        assert_eq!((s.x.len(), s.residual_norm), (0, 5.0));
    }

    #[test]
    fn clamps_a_negative_true_coefficient() {
        // b = 3 + 2 u − 1.5 v exactly; NNLS must set the v coefficient to 0 and refit.
        let rows = 40;
        let mut a = Array2::zeros((rows, 3));
        let mut b = Array1::zeros(rows);
        for i in 0..rows {
            let u = (i as f64 * 0.37).sin().abs();
            let v = (i as f64 * 0.11).cos().abs();
            a[[i, 0]] = 1.0;
            a[[i, 1]] = u;
            a[[i, 2]] = v;
            b[i] = 3.0 + 2.0 * u - 1.5 * v;
        }
        let s = nnls(a.view(), b.view()).unwrap();
        assert_eq!(s.x[2], 0.0);
        assert!(s.x[0] > 0.0 && s.x[1] > 0.0);
        check_kkt(&a, &b, &s).unwrap();
        let (best, _) = brute_force(&a, &b);
        assert!((s.residual_norm - best).abs() <= 1e-9 * (1.0 + best));
    }

    #[test]
    fn columns_of_very_different_scale() {
        // watts ~ 1e2, cycles ~ 1e10, a fraction ~ 1e-3.
        let rows = 60;
        let mut a = Array2::zeros((rows, 3));
        let mut b = Array1::zeros(rows);
        for i in 0..rows {
            let t = i as f64;
            a[[i, 0]] = 1.0;
            a[[i, 1]] = 1e10 * (0.5 + 0.5 * (t * 0.3).sin());
            a[[i, 2]] = 1e-3 * (0.5 + 0.5 * (t * 0.17).cos());
            b[i] = 40.0 + 6e-9 * a[[i, 1]] + 2e4 * a[[i, 2]];
        }
        let s = nnls(a.view(), b.view()).unwrap();
        assert!((s.x[0] - 40.0).abs() < 1e-7, "{}", s.x);
        assert!((s.x[1] / 6e-9 - 1.0).abs() < 1e-9, "{}", s.x);
        assert!((s.x[2] / 2e4 - 1.0).abs() < 1e-9, "{}", s.x);
    }

    #[test]
    fn bad_input_is_an_error() {
        let a = array![[1.0, 2.0], [3.0, 4.0]];
        assert!(nnls(a.view(), array![1.0].view()).is_err());
        assert!(nnls(a.view(), array![1.0, f64::NAN].view()).is_err());
        let bad = array![[1.0, f64::INFINITY], [3.0, 4.0]];
        let e = nnls(bad.view(), array![1.0, 2.0].view()).unwrap_err();
        assert_eq!(e.kind(), crate::AttributionErrorKind::InvalidInput);
        let empty = Array2::<f64>::zeros((0, 2));
        assert!(nnls(empty.view(), Array1::zeros(0).view()).is_err());
        // Huge but finite entries do not overflow the scaling...
        let big = array![[1e200, 0.0], [0.0, 1e-100]];
        let s = nnls(big.view(), array![1e200, 1e199].view()).unwrap();
        assert!((s.x[0] - 1.0).abs() < 1e-12 && (s.x[1] / 1e299 - 1.0).abs() < 1e-12);
        // ...but a solution beyond f64 is an error, not an infinity.
        let big = array![[1e200, 0.0], [0.0, 1e-200]];
        let e = nnls(big.view(), array![1e200, 1e199].view()).unwrap_err();
        assert!(e.reason().contains("does not fit"), "{e}");
    }

    #[test]
    fn ill_conditioned_underdetermined_case() {
        // Found by proptest against a normal-equations solver (residual 1e-8 instead of 1e-12):
        // the exact fit needs coefficients ~1e4 from entries ~1.
        let v = vec![
            0.0,
            0.9191115835205166,
            -0.050803026981013515,
            0.7949134719422115,
            -0.309717439420246,
            0.0,
            0.9029782247411461,
            -0.4825036549608951,
            0.0,
            0.2493497105496733,
            0.0,
            0.7668287373150218,
            -0.11581297032742566,
            0.0,
            -0.16426120077901799,
        ];
        let a = Array2::from_shape_vec((3, 5), v).unwrap();
        let b = array![0.0, 0.0, 1.4630642721040967];
        let s = nnls(a.view(), b.view()).unwrap();
        check_kkt(&a, &b, &s).unwrap();
        let (best, _) = brute_force(&a, &b);
        assert!(
            s.residual_norm <= best + 1e-10,
            "{} vs {best}",
            s.residual_norm
        );
    }

    fn problem() -> impl Strategy<Value = (Array2<f64>, Array1<f64>)> {
        (1usize..=5, 0usize..12).prop_flat_map(|(n, extra)| {
            let m = n + extra;
            (
                proptest::collection::vec(-1.0f64..1.0, m * n),
                proptest::collection::vec(-3i32..=3, n),
                proptest::collection::vec(-2.0f64..2.0, m),
            )
                .prop_map(move |(v, exps, b)| {
                    let mut a = Array2::from_shape_vec((m, n), v).unwrap();
                    for (j, e) in exps.iter().enumerate() {
                        a.column_mut(j).mapv_inplace(|x| x * 10f64.powi(*e));
                    }
                    (a, Array1::from(b))
                })
        })
    }

    proptest! {
        #[test]
        fn matches_brute_force_and_kkt((a, b) in problem()) {
            let s = nnls(a.view(), b.view()).unwrap();
            prop_assert!(s.x.iter().all(|&v| v >= 0.0));
            prop_assert!((s.residual_norm - residual(&a, &b, &s.x)).abs() < 1e-9 * (1.0 + s.residual_norm));
            let (best, xb) = brute_force(&a, &b);
            prop_assert!(
                s.residual_norm <= best * (1.0 + 1e-7) + 1e-9,
                "nnls {} vs brute force {} ({} vs {})", s.residual_norm, best, s.x, xb
            );
            check_kkt(&a, &b, &s).map_err(TestCaseError::fail)?;
            // The fitted values of a convex problem are unique even when x is not.
            let gap = (a.dot(&s.x) - a.dot(&xb)).mapv(|v| v * v).sum().sqrt();
            prop_assert!(gap <= 1e-6 * (1.0 + b.mapv(|v| v * v).sum().sqrt()), "fitted values differ by {}", gap);
        }

        #[test]
        fn underdetermined_problems_still_satisfy_kkt(
            v in proptest::collection::vec(-1.0f64..1.0, 15),
            b in proptest::collection::vec(-2.0f64..2.0, 3),
        ) {
            let a = Array2::from_shape_vec((3, 5), v).unwrap();
            let b = Array1::from(b);
            let s = nnls(a.view(), b.view()).unwrap();
            check_kkt(&a, &b, &s).map_err(TestCaseError::fail)?;
            let (best, _) = brute_force(&a, &b);
            prop_assert!(s.residual_norm <= best * (1.0 + 1e-7) + 1e-9);
        }
    }
}
