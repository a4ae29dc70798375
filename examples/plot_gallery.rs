//! Writes every figure kind as SVG and PNG (plus its data CSV) from realistic synthetic inputs:
//! `cargo run --example plot_gallery -- OUT_DIR`.

use protscope::plot::*;
use std::path::{Path, PathBuf};

/// Deterministic pseudo-random numbers in [0, 1) (a 64-bit LCG): the gallery is the same on
/// every run.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn write(fig: &Figure, dir: &Path) -> protscope::Result<()> {
    fig.save(&dir.join(format!("{}.svg", fig.name())))?;
    fig.save(&dir.join(format!("{}.png", fig.name())))?;
    std::fs::write(dir.join(format!("{}.csv", fig.name())), fig.data_csv())
        .map_err(|e| protscope::Error::io(dir, e))?;
    println!("{}", fig.name());
    Ok(())
}

/// A grid where a few mid-depth heads specialise on the property.
fn grid(layers: usize, heads: usize, rng: &mut Lcg, masked_every: usize) -> HeadGrid {
    let mut values = Vec::with_capacity(layers * heads);
    for l in 0..layers {
        for h in 0..heads {
            let depth = l as f64 / layers as f64;
            let bump = (-((depth - 0.6) / 0.2).powi(2)).exp();
            let special = if (l * 7 + h * 3) % 11 == 0 { 0.35 } else { 0.0 };
            let v = (0.08 + 0.25 * bump * rng.next() + special * bump).min(1.0);
            let masked = masked_every > 0 && (l * heads + h) % masked_every == 3;
            values.push((!masked).then_some(v));
        }
    }
    HeadGrid {
        num_layers: layers,
        num_heads: heads,
        values,
        statistic: "attention to CDR3".into(),
        unit: "proportion".into(),
        mask_label: "excluded: < 100 edges".into(),
        value_range: None,
    }
}

fn main() -> protscope::Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/plot_gallery".into()),
    );
    std::fs::create_dir_all(&dir).map_err(|e| protscope::Error::io(&dir, e))?;
    let mut rng = Lcg(42);

    write(
        &head_heatmap(
            "heads_antiberty_cdr3",
            "AntiBERTy: attention to CDR3 per head",
            &grid(8, 8, &mut rng, 13),
        )?,
        &dir,
    )?;
    write(
        &head_heatmap(
            "heads_esm2_binding",
            "ESM-2 650M: attention to binding sites per head",
            &grid(33, 20, &mut rng, 0).with_statistic("attention to binding sites", "proportion"),
        )?,
        &dir,
    )?;
    Ok(())
}
