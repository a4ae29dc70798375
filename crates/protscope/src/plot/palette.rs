//! The colours of every figure: colour-blind-safe categorical (Okabe–Ito), sequential (viridis)
//! and diverging (ColorBrewer RdBu) maps, one grey for masked values, and the neutral greys of
//! axes and text.

use plotters::style::colors::colormaps::ViridisRGB;
use plotters::style::RGBColor;

/// Okabe & Ito (2008) colours, ordered so that neighbouring series differ in hue and lightness;
/// yellow (weak on white) comes last.
pub const CATEGORICAL: [RGBColor; 8] = [
    RGBColor(0x00, 0x72, 0xB2), // blue
    RGBColor(0xD5, 0x5E, 0x00), // vermillion
    RGBColor(0x00, 0x9E, 0x73), // bluish green
    RGBColor(0xE6, 0x9F, 0x00), // orange
    RGBColor(0xCC, 0x79, 0xA7), // reddish purple
    RGBColor(0x56, 0xB4, 0xE9), // sky blue
    RGBColor(0x00, 0x00, 0x00), // black
    RGBColor(0xF0, 0xE4, 0x42), // yellow
];

/// The `i`-th categorical colour (wraps after eight).
pub fn categorical(i: usize) -> RGBColor {
    CATEGORICAL[i % CATEGORICAL.len()]
}

/// Fill of masked cells (excluded, not significant, undefined); hatched in [`MASK_HATCH`].
pub const MASKED: RGBColor = RGBColor(0xD9, 0xD9, 0xD9);
/// Hatch lines over [`MASKED`] fills, so a masked cell never reads as a low value.
pub const MASK_HATCH: RGBColor = RGBColor(0x8C, 0x8C, 0x8C);
/// Text, axes, frames.
pub const INK: RGBColor = RGBColor(0x1A, 0x1A, 0x1A);
/// Secondary text (units, notes) and reference lines.
pub const MUTED: RGBColor = RGBColor(0x59, 0x59, 0x59);
/// Light grid lines.
pub const GRID: RGBColor = RGBColor(0xE6, 0xE6, 0xE6);
pub const WHITE: RGBColor = RGBColor(0xFF, 0xFF, 0xFF);
/// Single-series bars (Okabe–Ito blue).
pub const BAR: RGBColor = CATEGORICAL[0];
/// Overlays on the sequential map (contacts): vermillion stands out on both viridis ends.
pub const OVERLAY: RGBColor = CATEGORICAL[1];

/// Viridis at `t` in [0, 1] (clamped): perceptually uniform, for magnitudes.
pub fn sequential(t: f64) -> RGBColor {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    ViridisRGB::get_color(t as f32)
}

/// ColorBrewer RdBu (11 classes), from negative (blue) to positive (red), with its near-white
/// centre at zero.
const RDBU: [(u8, u8, u8); 11] = [
    (0x05, 0x30, 0x61),
    (0x21, 0x66, 0xAC),
    (0x43, 0x93, 0xC3),
    (0x92, 0xC5, 0xDE),
    (0xD1, 0xE5, 0xF0),
    (0xF7, 0xF7, 0xF7),
    (0xFD, 0xDB, 0xC7),
    (0xF4, 0xA5, 0x82),
    (0xD6, 0x60, 0x4D),
    (0xB2, 0x18, 0x2B),
    (0x67, 0x00, 0x1F),
];

/// The diverging map at `t` in [-1, 1] (clamped): blue below zero, white at zero, red above.
pub fn diverging(t: f64) -> RGBColor {
    let t = if t.is_finite() {
        t.clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let x = (t + 1.0) / 2.0 * (RDBU.len() - 1) as f64;
    let i = (x.floor() as usize).min(RDBU.len() - 2);
    let f = x - i as f64;
    let (a, b) = (RDBU[i], RDBU[i + 1]);
    let mix = |p: u8, q: u8| (p as f64 + (q as f64 - p as f64) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Black or white, whichever reads better on `background` (text on cells).
pub fn text_on(background: RGBColor) -> RGBColor {
    let RGBColor(r, g, b) = background;
    let luma = 0.299 * r as f64 + 0.587 * g as f64 + 0.114 * b as f64;
    if luma > 140.0 {
        INK
    } else {
        WHITE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diverging_is_white_at_zero_and_blue_red_at_the_ends() {
        assert_eq!(diverging(0.0), RGBColor(0xF7, 0xF7, 0xF7));
        assert_eq!(diverging(-1.0), RGBColor(0x05, 0x30, 0x61));
        assert_eq!(diverging(1.0), RGBColor(0x67, 0x00, 0x1F));
        assert_eq!(diverging(5.0), diverging(1.0));
        assert_eq!(diverging(f64::NAN), diverging(0.0));
    }

    #[test]
    fn sequential_runs_from_dark_purple_to_yellow() {
        let (lo, hi) = (sequential(0.0), sequential(1.0));
        assert!(lo.2 > lo.1, "viridis starts purple: {lo:?}");
        assert!(
            hi.0 > 200 && hi.1 > 200 && hi.2 < 100,
            "viridis ends yellow: {hi:?}"
        );
    }
}
