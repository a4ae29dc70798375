//! Integration nodes and weights on [0, 1], named and computed as Captum's
//! `approximation_parameters` does.

use crate::{Error, Result};

/// Quadrature rule for the path integral.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quadrature {
    /// Gauss–Legendre (the paper's default): α = (x + 1)/2, w = w_x / 2.
    GaussLegendre,
    RiemannLeft,
    RiemannRight,
    RiemannMiddle,
    RiemannTrapezoid,
}

impl Quadrature {
    pub fn name(&self) -> &'static str {
        match self {
            Quadrature::GaussLegendre => "gausslegendre",
            Quadrature::RiemannLeft => "riemann_left",
            Quadrature::RiemannRight => "riemann_right",
            Quadrature::RiemannMiddle => "riemann_middle",
            Quadrature::RiemannTrapezoid => "riemann_trapezoid",
        }
    }

    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "gausslegendre" => Quadrature::GaussLegendre,
            "riemann_left" => Quadrature::RiemannLeft,
            "riemann_right" => Quadrature::RiemannRight,
            "riemann_middle" => Quadrature::RiemannMiddle,
            "riemann_trapezoid" => Quadrature::RiemannTrapezoid,
            other => {
                return Err(Error::invalid(format!(
                    "unknown method `{other}`: use gausslegendre, riemann_left, riemann_right, \
                     riemann_middle or riemann_trapezoid"
                )))
            }
        })
    }

    /// Nodes α (ascending) and weights w with Σ w f(α) ≈ ∫₀¹ f.
    pub fn nodes(&self, steps: usize) -> Result<(Vec<f64>, Vec<f64>)> {
        if steps == 0 {
            return Err(Error::setting("steps", steps, "must be at least 1"));
        }
        let n = steps as f64;
        Ok(match self {
            Quadrature::GaussLegendre => {
                let (x, w) = gauss_legendre(steps);
                (
                    x.iter().map(|x| 0.5 * (1.0 + x)).collect(),
                    w.iter().map(|w| 0.5 * w).collect(),
                )
            }
            Quadrature::RiemannLeft => (linspace(0.0, 1.0 - 1.0 / n, steps), vec![1.0 / n; steps]),
            Quadrature::RiemannRight => (linspace(1.0 / n, 1.0, steps), vec![1.0 / n; steps]),
            Quadrature::RiemannMiddle => (
                linspace(1.0 / (2.0 * n), 1.0 - 1.0 / (2.0 * n), steps),
                vec![1.0 / n; steps],
            ),
            Quadrature::RiemannTrapezoid => {
                if steps < 2 {
                    return Err(Error::setting(
                        "steps",
                        steps,
                        "riemann_trapezoid needs at least 2",
                    ));
                }
                // Captum's rule, kept for parity: nodes 0..1 inclusive, every weight 1/n with the
                // two ends halved, so the weights sum to (n-1)/n rather than 1 (a textbook
                // trapezoid would use 1/(n-1)); the difference vanishes as n grows.
                let mut w = vec![1.0 / n; steps];
                w[0] /= 2.0;
                w[steps - 1] /= 2.0;
                (linspace(0.0, 1.0, steps), w)
            }
        })
    }
}

/// `steps` evenly spaced values from `a` to `b` inclusive (numpy/torch `linspace`).
fn linspace(a: f64, b: f64, steps: usize) -> Vec<f64> {
    if steps == 1 {
        return vec![a];
    }
    let step = (b - a) / (steps - 1) as f64;
    // torch.linspace fills the second half from the end so that the last value is exactly b.
    (0..steps)
        .map(|i| {
            if i < steps / 2 {
                a + step * i as f64
            } else {
                b - step * (steps - 1 - i) as f64
            }
        })
        .collect()
}

/// Gauss–Legendre nodes (ascending) and weights on [-1, 1]: Newton's method on the Legendre
/// recurrence from Tricomi's initial guesses; converges to machine precision for any n.
pub fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut x = vec![0.0; n];
    let mut w = vec![0.0; n];
    let nf = n as f64;
    for i in 0..n.div_ceil(2) {
        let mut z = (std::f64::consts::PI * (i as f64 + 0.75) / (nf + 0.5)).cos();
        let mut dp = 0.0;
        for _ in 0..100 {
            let (p, d) = legendre(n, z);
            dp = d;
            let dz = p / d;
            z -= dz;
            if dz.abs() < 1e-16 {
                break;
            }
        }
        let (_, d) = legendre(n, z);
        dp = if d != 0.0 { d } else { dp };
        let weight = 2.0 / ((1.0 - z * z) * dp * dp);
        // z runs from near +1 downwards; fill symmetric pairs in ascending order.
        x[n - 1 - i] = z;
        x[i] = -z;
        w[n - 1 - i] = weight;
        w[i] = weight;
    }
    if n % 2 == 1 {
        x[n / 2] = 0.0;
    }
    (x, w)
}

/// P_n(z) and P_n'(z) by the three-term recurrence.
fn legendre(n: usize, z: f64) -> (f64, f64) {
    let (mut p0, mut p1) = (1.0, z);
    if n == 0 {
        return (1.0, 0.0);
    }
    for k in 2..=n {
        let kf = k as f64;
        let p2 = ((2.0 * kf - 1.0) * z * p1 - (kf - 1.0) * p0) / kf;
        p0 = p1;
        p1 = p2;
    }
    let d = n as f64 * (z * p1 - p0) / (z * z - 1.0);
    (p1, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_legendre_integrates_polynomials_exactly() {
        for n in [1usize, 2, 3, 7, 16, 50, 500] {
            let (a, w) = Quadrature::GaussLegendre.nodes(n).unwrap();
            assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-13, "n={n}");
            assert!(a.windows(2).all(|p| p[0] < p[1]), "ascending, n={n}");
            // Exact for degree 2n-1: ∫ x^k = 1/(k+1).
            let k = (2 * n - 1).min(30) as i32;
            let integral: f64 = a.iter().zip(&w).map(|(x, w)| w * x.powi(k)).sum();
            assert!((integral - 1.0 / (k as f64 + 1.0)).abs() < 1e-12, "n={n}");
        }
    }

    #[test]
    fn riemann_rules_match_captum() {
        let (a, w) = Quadrature::RiemannTrapezoid.nodes(5).unwrap();
        assert_eq!(a, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(w, vec![0.1, 0.2, 0.2, 0.2, 0.1]);
        let (a, _) = Quadrature::RiemannLeft.nodes(4).unwrap();
        assert_eq!(a, vec![0.0, 0.25, 0.5, 0.75]);
        let (a, _) = Quadrature::RiemannMiddle.nodes(2).unwrap();
        assert_eq!(a, vec![0.25, 0.75]);
        assert!(Quadrature::parse("simpson").is_err());
        assert!(Quadrature::RiemannTrapezoid.nodes(1).is_err());
    }
}
