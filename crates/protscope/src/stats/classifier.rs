//! L2-regularised logistic regression, the linear diagnostic classifier of probing studies
//! (BERTology §5; provis `protein_attention/probing/`). The objective is scikit-learn's
//! `LogisticRegression(C)` with its default `lbfgs` solver and an unpenalised intercept:
//!
//! minimise  Σᵢ −log p(yᵢ | xᵢ) + ‖W‖² / (2C)
//!
//! with p the softmax over the k classes' logits xᵢ·w_c + b_c (multinomial, k > 2) or, for two
//! classes, the sigmoid of one logit xᵢ·w + b (class 1 against class 0), as scikit-learn does.
//! It is solved by L-BFGS (Nocedal & Wright, algorithm 7.4, ten pairs of history) with a
//! backtracking Armijo line search; the products with X run on candle tensors. It stops when
//! every component of the gradient of the objective divided by n (scikit-learn's scale, where
//! its `tol` applies) is at most `tolerance`. The objective is strictly convex in W; for k > 2
//! the intercepts are determined up to a common shift, and like scikit-learn's (which starts
//! at 0 and only moves along gradients, whose intercept parts sum to 0) they sum to 0.
//!
//! [`Standardizer`] is scikit-learn's `StandardScaler`: features centred on the training mean
//! and divided by the population standard deviation (1 where a feature is constant).

use candle_core::{DType, Device, Tensor, D};

use crate::{Error, Result};

/// Per-feature mean and scale from training rows (scikit-learn's `StandardScaler`).
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    pub mean: Vec<f64>,
    /// Population standard deviation; 1 for a constant feature.
    pub scale: Vec<f64>,
}

impl Standardizer {
    /// Mean and population standard deviation of each column of `x` (row-major, rows ×
    /// `num_features`).
    pub fn fit(x: &[f32], num_features: usize) -> Result<Self> {
        check_shape(x, num_features, None)?;
        let n = x.len() / num_features;
        if n == 0 {
            return Err(Error::invalid("standardising needs at least one row"));
        }
        let mut mean = vec![0f64; num_features];
        for row in x.chunks_exact(num_features) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut var = vec![0f64; num_features];
        for row in x.chunks_exact(num_features) {
            for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
                let d = v as f64 - m;
                *s += d * d;
            }
        }
        let scale = var
            .into_iter()
            .map(|s| {
                let sd = (s / n as f64).sqrt();
                // scikit-learn's `_handle_zeros_in_scale`: near-constant features are not scaled.
                if sd < 10.0 * f64::EPSILON {
                    1.0
                } else {
                    sd
                }
            })
            .collect();
        Ok(Standardizer { mean, scale })
    }

    /// `x` centred and scaled in place (row-major, rows × the fitted feature count).
    pub fn transform_in_place(&self, x: &mut [f32]) -> Result<()> {
        check_shape(x, self.mean.len(), None)?;
        for row in x.chunks_exact_mut(self.mean.len()) {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *v = ((*v as f64 - m) / s) as f32;
            }
        }
        Ok(())
    }
}

/// How to fit.
#[derive(Debug, Clone)]
pub struct L2LogisticOptions {
    /// Inverse strength of the L2 penalty (scikit-learn's `C`): larger fits the training rows
    /// more closely.
    pub c: f64,
    /// The most L-BFGS steps.
    pub max_iterations: usize,
    /// Largest allowed component of the gradient of objective / n.
    pub tolerance: f64,
}

impl Default for L2LogisticOptions {
    fn default() -> Self {
        L2LogisticOptions {
            c: 1.0,
            max_iterations: 1000,
            tolerance: 1e-6,
        }
    }
}

/// A fitted classifier.
#[derive(Debug, Clone)]
pub struct L2LogisticFit {
    pub num_features: usize,
    pub num_classes: usize,
    /// scikit-learn's `coef_`, row-major: one row per class (k > 2) or one row for class 1
    /// (k = 2), `num_features` columns.
    pub weights: Vec<f64>,
    /// scikit-learn's `intercept_`: one per weight row.
    pub intercepts: Vec<f64>,
    /// L-BFGS steps taken.
    pub iterations: usize,
    /// Whether the gradient condition held at the end.
    pub converged: bool,
    /// The largest component of the gradient of objective / n at the end.
    pub gradient: f64,
    /// Σ log-loss + ‖W‖² / (2C) at the solution.
    pub objective: f64,
}

impl L2LogisticFit {
    fn rows(&self) -> usize {
        self.intercepts.len()
    }

    /// Class probabilities of each row of `x` (row-major, rows × `num_features`): rows ×
    /// `num_classes`, row-major.
    pub fn probabilities(&self, x: &[f32]) -> Result<Vec<f64>> {
        check_shape(x, self.num_features, None)?;
        let n = x.len() / self.num_features;
        let device = Device::Cpu;
        let xs = Tensor::from_slice(x, (n, self.num_features), &device)?.to_dtype(DType::F64)?;
        let w = Tensor::from_slice(
            self.weights.as_slice(),
            (self.rows(), self.num_features),
            &device,
        )?;
        let b = Tensor::from_slice(self.intercepts.as_slice(), (1, self.rows()), &device)?;
        let z = xs.matmul(&w.t()?)?.broadcast_add(&b)?;
        let p = if self.rows() == 1 {
            let p1 = candle_nn::ops::sigmoid(&z)?;
            Tensor::cat(&[&p1.affine(-1.0, 1.0)?, &p1], 1)?
        } else {
            softmax_rows(&z)?.0
        };
        Ok(p.flatten_all()?.to_vec1()?)
    }

    /// The most probable class of each row (the first on ties).
    pub fn predict(&self, x: &[f32]) -> Result<Vec<u32>> {
        let p = self.probabilities(x)?;
        Ok(p.chunks_exact(self.num_classes).map(argmax).collect())
    }
}

/// Index of the largest value, the first on ties.
pub fn argmax(values: &[f64]) -> u32 {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best as u32
}

fn check_shape(x: &[f32], num_features: usize, rows: Option<usize>) -> Result<()> {
    if num_features == 0 || !x.len().is_multiple_of(num_features) {
        return Err(Error::invalid(format!(
            "logistic regression: {} values are not rows × {num_features} features",
            x.len()
        )));
    }
    if let Some(n) = rows {
        if x.len() != n * num_features {
            return Err(Error::invalid(format!(
                "logistic regression: {} values are not {n} rows × {num_features} features",
                x.len()
            )));
        }
    }
    Ok(())
}

/// Softmax of each row and its log-sum-exp, computed stably.
fn softmax_rows(z: &Tensor) -> Result<(Tensor, Tensor)> {
    let max = z.max_keepdim(D::Minus1)?;
    let e = z.broadcast_sub(&max)?.exp()?;
    let s = e.sum_keepdim(D::Minus1)?;
    let lse = (s.log()? + max)?;
    Ok((e.broadcast_div(&s)?, lse))
}

/// Fits the classifier on `x` (row-major, `labels.len()` rows × `num_features`) against
/// `labels` in 0..`num_classes`; every class must occur.
pub fn fit_l2_logistic(
    x: &[f32],
    num_features: usize,
    labels: &[u32],
    num_classes: usize,
    options: &L2LogisticOptions,
) -> Result<L2LogisticFit> {
    let n = labels.len();
    check_shape(x, num_features, Some(n))?;
    if num_classes < 2 {
        return Err(Error::invalid(format!(
            "logistic regression needs at least 2 classes, not {num_classes}"
        )));
    }
    let mut counts = vec![0usize; num_classes];
    for &l in labels {
        let Some(count) = counts.get_mut(l as usize) else {
            return Err(Error::invalid(format!(
                "logistic regression: label {l} is not one of the {num_classes} classes"
            )));
        };
        *count += 1;
    }
    if let Some(missing) = counts.iter().position(|&c| c == 0) {
        return Err(Error::invalid(format!(
            "logistic regression needs every class among the training rows; class {missing} has \
             none ({n} rows)"
        )));
    }
    if !(options.c > 0.0 && options.c.is_finite()) {
        return Err(Error::invalid(format!(
            "logistic regression: C = {}; the inverse penalty strength must be a positive number",
            options.c
        )));
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(Error::invalid(
            "logistic regression: a feature value is NaN or infinite",
        ));
    }
    let device = Device::Cpu;
    let xs = Tensor::from_slice(x, (n, num_features), &device)?.to_dtype(DType::F64)?;
    let m = if num_classes == 2 { 1 } else { num_classes };
    let mut y = vec![0f64; n * m];
    for (i, &l) in labels.iter().enumerate() {
        if m == 1 {
            y[i] = l as f64;
        } else {
            y[i * m + l as usize] = 1.0;
        }
    }
    let problem = Problem {
        xt: xs.t()?.contiguous()?,
        xs,
        y: Tensor::from_vec(y, (n, m), &device)?,
        n: n as f64,
        f: num_features,
        m,
        c: options.c,
    };

    // L-BFGS on θ = [W (f × m, row-major), b (m)].
    let size = num_features * m + m;
    let mut theta = vec![0f64; size];
    let (mut value, mut grad) = problem.evaluate(&theta)?;
    let mut history: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> =
        std::collections::VecDeque::new();
    let mut iterations = 0;
    let mut gnorm = max_abs(&grad);
    while gnorm > options.tolerance && iterations < options.max_iterations {
        iterations += 1;
        // Two-loop recursion: d = −H g.
        let mut q = grad.clone();
        let mut alphas = Vec::with_capacity(history.len());
        for (s, y, rho) in history.iter().rev() {
            let a = rho * dot(s, &q);
            axpy(-a, y, &mut q);
            alphas.push(a);
        }
        let gamma = match history.back() {
            Some((s, y, _)) => dot(s, y) / dot(y, y),
            None => 1.0 / norm(&grad).max(1e-300),
        };
        q.iter_mut().for_each(|v| *v *= gamma);
        for ((s, y, rho), a) in history.iter().zip(alphas.into_iter().rev()) {
            let b = rho * dot(y, &q);
            axpy(a - b, s, &mut q);
        }
        let mut direction: Vec<f64> = q.into_iter().map(|v| -v).collect();
        let mut slope = dot(&grad, &direction);
        if slope >= 0.0 {
            // Not a descent direction (rounding): restart from steepest descent.
            history.clear();
            let scale = 1.0 / norm(&grad).max(1e-300);
            direction = grad.iter().map(|g| -g * scale).collect();
            slope = dot(&grad, &direction);
        }
        // Backtracking Armijo line search from the unit step.
        let mut step = 1.0;
        let accepted = loop {
            let trial: Vec<f64> = theta
                .iter()
                .zip(&direction)
                .map(|(t, d)| t + step * d)
                .collect();
            let (v, g) = problem.evaluate(&trial)?;
            // Armijo; near the optimum, where the decrease is below the objective's rounding,
            // a step that keeps the objective within rounding and shrinks the gradient.
            let armijo = v <= value + 1e-4 * step * slope;
            let flat = v <= value + 4.0 * f64::EPSILON * value.abs() && max_abs(&g) < gnorm;
            if v.is_finite() && (armijo || flat) {
                break Some((trial, v, g));
            }
            step *= 0.5;
            if step < 1e-20 {
                break None;
            }
        };
        let Some((next, next_value, next_grad)) = accepted else {
            break;
        };
        let s: Vec<f64> = next.iter().zip(&theta).map(|(a, b)| a - b).collect();
        let yv: Vec<f64> = next_grad.iter().zip(&grad).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &yv);
        if sy > 1e-12 * norm(&s) * norm(&yv) {
            if history.len() == 10 {
                history.pop_front();
            }
            history.push_back((s, yv, 1.0 / sy));
        }
        theta = next;
        value = next_value;
        grad = next_grad;
        gnorm = max_abs(&grad);
    }
    let f = num_features;
    let mut weights = vec![0f64; m * f];
    for j in 0..f {
        for c in 0..m {
            weights[c * f + j] = theta[j * m + c];
        }
    }
    Ok(L2LogisticFit {
        num_features,
        num_classes,
        weights,
        intercepts: theta[f * m..].to_vec(),
        iterations,
        converged: gnorm <= options.tolerance,
        gradient: gnorm,
        objective: value * problem.n,
    })
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

struct Problem {
    /// (n, f) features and their transpose.
    xs: Tensor,
    xt: Tensor,
    /// (n, m) targets: one-hot (m = k) or the class-1 indicator (m = 1).
    y: Tensor,
    n: f64,
    f: usize,
    m: usize,
    c: f64,
}

impl Problem {
    /// Objective / n and its gradient at θ.
    fn evaluate(&self, theta: &[f64]) -> Result<(f64, Vec<f64>)> {
        let (f, m) = (self.f, self.m);
        let device = self.xs.device();
        let w = Tensor::from_slice(&theta[..f * m], (f, m), device)?;
        let b = Tensor::from_slice(&theta[f * m..], (1, m), device)?;
        let z = self.xs.matmul(&w)?.broadcast_add(&b)?; // (n, m)
        let (loss, residual) = if m == 1 {
            let softplus = (z.relu()? + z.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?)?;
            let loss = (softplus - (&z * &self.y)?)?.sum_all()?;
            (loss, (candle_nn::ops::sigmoid(&z)? - &self.y)?)
        } else {
            let (p, lse) = softmax_rows(&z)?;
            let loss = (lse.sum_all()? - (&z * &self.y)?.sum_all()?)?;
            (loss, (p - &self.y)?)
        };
        let w_sq: f64 = theta[..f * m].iter().map(|v| v * v).sum();
        let value = (loss.to_scalar::<f64>()? + w_sq / (2.0 * self.c)) / self.n;
        let gw = self.xt.matmul(&residual)?; // (f, m)
        let gb = residual.sum(0)?; // (m)
        let mut grad: Vec<f64> = gw.flatten_all()?.to_vec1()?;
        for (g, w) in grad.iter_mut().zip(&theta[..f * m]) {
            *g = (*g + w / self.c) / self.n;
        }
        grad.extend(gb.to_vec1::<f64>()?.into_iter().map(|g| g / self.n));
        Ok((value, grad))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic(n: usize, f: usize, k: usize) -> (Vec<f32>, Vec<u32>) {
        let mut state = 11u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f64 / (1u64 << 31) as f64) * 2.0 - 1.0
        };
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..n {
            let class = (i % k) as u32;
            for j in 0..f {
                let shift = if j % k == class as usize { 0.8 } else { 0.0 };
                x.push((next() + shift) as f32);
            }
            y.push(class);
        }
        (x, y)
    }

    #[test]
    fn the_gradient_vanishes_and_probabilities_sum_to_one() {
        for k in [2, 3] {
            let (x, y) = synthetic(300, 5, k);
            let fit = fit_l2_logistic(&x, 5, &y, k, &L2LogisticOptions::default()).unwrap();
            assert!(fit.converged, "k {k}: gradient {}", fit.gradient);
            let p = fit.probabilities(&x).unwrap();
            for row in p.chunks_exact(k) {
                assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            }
            let predicted = fit.predict(&x).unwrap();
            let correct = predicted.iter().zip(&y).filter(|(a, b)| a == b).count();
            assert!(correct as f64 / y.len() as f64 > 0.6, "k {k}: {correct}");
            if k > 2 {
                assert!(fit.intercepts.iter().sum::<f64>().abs() < 1e-8);
            }
        }
    }

    #[test]
    fn standardizer_matches_standard_scaler() {
        let x = [1.0f32, 5.0, 3.0, 5.0, 5.0, 5.0];
        let s = Standardizer::fit(&x, 2).unwrap();
        assert_eq!(s.mean, vec![3.0, 5.0]);
        assert!((s.scale[0] - (8.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(s.scale[1], 1.0);
        let mut t = x;
        s.transform_in_place(&mut t).unwrap();
        assert_eq!(t[1], 0.0);
    }

    #[test]
    fn bad_input_is_an_error() {
        let (x, y) = synthetic(30, 3, 3);
        let o = L2LogisticOptions::default();
        assert!(fit_l2_logistic(&x, 4, &y, 3, &o).is_err());
        assert!(fit_l2_logistic(&x, 3, &y, 4, &o).is_err()); // class 3 absent
        assert!(fit_l2_logistic(&x, 3, &y, 2, &o).is_err()); // label 2 out of range
        assert!(fit_l2_logistic(&x, 3, &y, 1, &o).is_err());
        let zero = L2LogisticOptions { c: 0.0, ..o };
        assert!(fit_l2_logistic(&x, 3, &y, 3, &zero).is_err());
    }
}
