//! L1-regularised logistic regression, the regression Rao et al. (2020) fit over attention
//! maps to predict contacts. The objective is scikit-learn's `LogisticRegression(penalty="l1",
//! C)` with an unpenalised intercept (its `saga` solver):
//!
//! minimise  C · Σᵢ log(1 + exp(−ŷᵢ (xᵢ·w + b))) + ‖w‖₁,   ŷᵢ = ±1,
//!
//! solved by FISTA (Beck & Teboulle 2009: accelerated proximal gradient, step 1/L with L the
//! Lipschitz constant of the mean loss) with adaptive restart (O'Donoghue & Candès 2015). The
//! products with X run on candle tensors (its threaded matrix products); the proximal step is a
//! soft threshold. It stops when the optimality (KKT) conditions hold to `tolerance`.

use candle_core::{DType, Device, Tensor};

use crate::{Error, Result};

/// How to fit.
#[derive(Debug, Clone)]
pub struct L1LogisticOptions {
    /// Inverse strength of the L1 penalty (scikit-learn's `C`): smaller is sparser.
    pub c: f64,
    /// The most proximal-gradient steps.
    pub max_iterations: usize,
    /// Largest allowed violation of the optimality conditions, in units of the mean loss's
    /// gradient.
    pub tolerance: f64,
}

impl Default for L1LogisticOptions {
    fn default() -> Self {
        L1LogisticOptions {
            c: 0.15,
            max_iterations: 20_000,
            tolerance: 1e-7,
        }
    }
}

/// A fitted regression.
#[derive(Debug, Clone)]
pub struct L1LogisticFit {
    pub weights: Vec<f64>,
    pub intercept: f64,
    /// Proximal-gradient steps taken.
    pub iterations: usize,
    /// Whether the optimality conditions held to the tolerance.
    pub converged: bool,
    /// The largest violation of the optimality conditions at the end.
    pub violation: f64,
    /// scikit-learn's objective at the solution: C · Σ loss + ‖w‖₁.
    pub objective: f64,
}

impl L1LogisticFit {
    /// Probability of the positive class for one row of features.
    pub fn probability(&self, features: &[f32]) -> f64 {
        let z: f64 = self.intercept
            + self
                .weights
                .iter()
                .zip(features)
                .map(|(w, &x)| w * x as f64)
                .sum::<f64>();
        1.0 / (1.0 + (-z).exp())
    }
}

/// Fits the regression on `x` (row-major, `labels.len()` rows × `num_features`) against
/// `labels` (true = positive class).
pub fn fit_l1_logistic(
    x: &[f32],
    num_features: usize,
    labels: &[bool],
    options: &L1LogisticOptions,
) -> Result<L1LogisticFit> {
    let n = labels.len();
    if num_features == 0 || x.len() != n * num_features {
        return Err(Error::invalid(format!(
            "logistic regression: {} values are not {n} rows × {num_features} features",
            x.len()
        )));
    }
    let positives = labels.iter().filter(|&&l| l).count();
    if positives == 0 || positives == n {
        return Err(Error::invalid(format!(
            "logistic regression needs both classes; {positives} of {n} rows are positive"
        )));
    }
    if !(options.c > 0.0 && options.c.is_finite()) {
        return Err(Error::Setting {
            field: "c",
            value: options.c.to_string(),
            message: "the inverse penalty strength must be a positive number".into(),
        });
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(Error::invalid(
            "logistic regression: a feature value is NaN or infinite",
        ));
    }
    let device = Device::Cpu;
    let xs = Tensor::from_slice(x, (n, num_features), &device)?.to_dtype(DType::F64)?;
    let y: Vec<f64> = labels.iter().map(|&l| if l { 1.0 } else { 0.0 }).collect();
    let problem = Problem {
        xs,
        y: Tensor::from_vec(y, (n, 1), &device)?,
        n: n as f64,
        // The mean loss's penalty: C Σ loss + ‖w‖₁ = C n (mean loss + ‖w‖₁ / (C n)).
        lambda: 1.0 / (options.c * n as f64),
    };
    let step = 1.0 / problem.lipschitz()?;

    let f = num_features;
    let mut w = vec![0f64; f];
    let mut b = prior_logit(positives, n);
    let (mut w_prev, mut b_prev) = (w.clone(), b);
    let (mut yw, mut yb) = (w.clone(), b);
    let mut theta = 1.0f64;
    let mut iterations = 0;
    let mut violation = f64::INFINITY;
    while iterations < options.max_iterations {
        iterations += 1;
        let (gw, gb) = problem.gradient(&yw, yb)?;
        for j in 0..f {
            w[j] = soft_threshold(yw[j] - step * gw[j], step * problem.lambda);
        }
        b = yb - step * gb;
        // Adaptive restart: drop the momentum when it points uphill.
        let uphill: f64 = (0..f)
            .map(|j| (yw[j] - w[j]) * (w[j] - w_prev[j]))
            .sum::<f64>()
            + (yb - b) * (b - b_prev);
        let theta_next = if uphill > 0.0 {
            1.0
        } else {
            (1.0 + (1.0 + 4.0 * theta * theta).sqrt()) / 2.0
        };
        let momentum = if uphill > 0.0 {
            0.0
        } else {
            (theta - 1.0) / theta_next
        };
        for j in 0..f {
            yw[j] = w[j] + momentum * (w[j] - w_prev[j]);
        }
        yb = b + momentum * (b - b_prev);
        theta = theta_next;
        w_prev.clone_from(&w);
        b_prev = b;
        if iterations % 10 == 0 || iterations == options.max_iterations {
            violation = problem.violation(&w, b)?;
            if violation <= options.tolerance {
                break;
            }
        }
    }
    let objective =
        options.c * problem.n * problem.mean_loss(&w, b)? + w.iter().map(|v| v.abs()).sum::<f64>();
    Ok(L1LogisticFit {
        weights: w,
        intercept: b,
        iterations,
        converged: violation <= options.tolerance,
        violation,
        objective,
    })
}

/// The intercept of the model without features: the log-odds of the positive class.
fn prior_logit(positives: usize, n: usize) -> f64 {
    let p = positives as f64 / n as f64;
    (p / (1.0 - p)).ln()
}

fn soft_threshold(v: f64, t: f64) -> f64 {
    v.signum() * (v.abs() - t).max(0.0)
}

struct Problem {
    /// (n, f) features.
    xs: Tensor,
    /// (n, 1) labels, 0 or 1.
    y: Tensor,
    n: f64,
    lambda: f64,
}

impl Problem {
    fn logits(&self, w: &[f64], b: f64) -> Result<Tensor> {
        let w = Tensor::from_slice(w, (w.len(), 1), self.xs.device())?;
        Ok((self.xs.matmul(&w)? + b)?)
    }

    /// Gradient of the mean loss: Xᵀ(σ(Xw + b) − y) / n and its intercept part.
    fn gradient(&self, w: &[f64], b: f64) -> Result<(Vec<f64>, f64)> {
        let residual = (candle_nn::ops::sigmoid(&self.logits(w, b)?)? - &self.y)?;
        let gw = (self.xs.t()?.matmul(&residual)? / self.n)?;
        let gb = residual.sum_all()?.to_scalar::<f64>()? / self.n;
        Ok((gw.flatten_all()?.to_vec1()?, gb))
    }

    /// Mean of log(1 + exp(z)) − y z, computed stably.
    fn mean_loss(&self, w: &[f64], b: f64) -> Result<f64> {
        let z = self.logits(w, b)?;
        let softplus = (z.relu()? + z.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?)?;
        let loss = (softplus - (&z * &self.y)?)?;
        Ok(loss.sum_all()?.to_scalar::<f64>()? / self.n)
    }

    /// Largest violation of the optimality conditions of mean loss + λ‖w‖₁.
    fn violation(&self, w: &[f64], b: f64) -> Result<f64> {
        let (gw, gb) = self.gradient(w, b)?;
        let mut worst = gb.abs();
        for (wj, gj) in w.iter().zip(&gw) {
            let v = if *wj == 0.0 {
                (gj.abs() - self.lambda).max(0.0)
            } else {
                (gj + self.lambda * wj.signum()).abs()
            };
            worst = worst.max(v);
        }
        Ok(worst)
    }

    /// Lipschitz constant of the mean loss's gradient in (w, b): ‖[X 1]‖₂² / (4n), the largest
    /// eigenvalue of the Gram matrix found by power iteration (bounded above by its trace).
    fn lipschitz(&self) -> Result<f64> {
        // [X 1]ᵀ[X 1] from its blocks (XᵀX, the column sums, n), without a copy of X.
        let xtx = self.xs.t()?.matmul(&self.xs)?; // (f, f)
        let sums = self.xs.sum_keepdim(0)?; // (1, f)
        let corner = Tensor::full(self.n, (1, 1), self.xs.device())?;
        let gram = Tensor::cat(
            &[
                Tensor::cat(&[&xtx, &sums.t()?], 1)?,
                Tensor::cat(&[&sums, &corner], 1)?,
            ],
            0,
        )?; // (f+1, f+1)
        let size = gram.dim(0)?;
        let mut v = Tensor::ones((size, 1), DType::F64, gram.device())?;
        let mut eigenvalue = 0.0;
        for _ in 0..200 {
            let next = gram.matmul(&v)?;
            let norm = next.sqr()?.sum_all()?.sqrt()?.to_scalar::<f64>()?;
            if norm == 0.0 {
                break;
            }
            let converged = (norm - eigenvalue).abs() <= 1e-10 * norm;
            eigenvalue = norm;
            v = (next / norm)?;
            if converged {
                break;
            }
        }
        // Power iteration approaches the largest eigenvalue from below; a little headroom keeps
        // the step safe.
        Ok(1.02 * eigenvalue / (4.0 * self.n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows from a fixed generator: a sparse truth over `f` features.
    fn synthetic(n: usize, f: usize) -> (Vec<f32>, Vec<bool>) {
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f64 / (1u64 << 31) as f64) * 2.0 - 1.0
        };
        let mut x = Vec::with_capacity(n * f);
        let mut y = Vec::with_capacity(n);
        for _ in 0..n {
            let row: Vec<f64> = (0..f).map(|_| next()).collect();
            let z = 2.0 * row[0] - 1.5 * row[1] + 0.5;
            y.push(next() * 0.5 + 0.5 < 1.0 / (1.0 + (-z).exp()));
            x.extend(row.iter().map(|&v| v as f32));
        }
        (x, y)
    }

    #[test]
    fn solution_meets_the_optimality_conditions_and_is_sparse() {
        let (x, y) = synthetic(400, 6);
        let fit = fit_l1_logistic(&x, 6, &y, &L1LogisticOptions::default()).unwrap();
        assert!(fit.converged, "violation {}", fit.violation);
        assert!(
            fit.weights[0] > 0.5 && fit.weights[1] < -0.5,
            "{:?}",
            fit.weights
        );
        // A strong penalty keeps only the intercept.
        let strong = L1LogisticOptions {
            c: 1e-4,
            ..Default::default()
        };
        let fit = fit_l1_logistic(&x, 6, &y, &strong).unwrap();
        assert!(fit.weights.iter().all(|&w| w == 0.0), "{:?}", fit.weights);
        let p = y.iter().filter(|&&l| l).count() as f64 / y.len() as f64;
        assert!((fit.probability(&x[..6]) - p).abs() < 1e-6);
    }

    #[test]
    fn bad_input_is_an_error() {
        let (x, y) = synthetic(20, 3);
        assert!(fit_l1_logistic(&x, 4, &y, &L1LogisticOptions::default()).is_err());
        assert!(fit_l1_logistic(&x, 3, &[true; 20], &L1LogisticOptions::default()).is_err());
        let zero = L1LogisticOptions {
            c: 0.0,
            ..Default::default()
        };
        assert!(fit_l1_logistic(&x, 3, &y, &zero).is_err());
        let mut nan = x.clone();
        nan[4] = f32::NAN;
        assert!(fit_l1_logistic(&nan, 3, &y, &L1LogisticOptions::default()).is_err());
    }
}
