//! Per-position scoring profiles of the IMGT-gapped germline frameworks, one per receptor chain
//! type, built once from `imgt_germlines.tsv` (IMGT/GENE-DB V- and J-REGIONs; see the file's
//! header and `scripts/make_imgt_fixtures.py`).

use std::sync::OnceLock;

/// The IMGT-gapped germlines the profiles are built from.
const GERMLINES: &str = include_str!("imgt_germlines.tsv");

/// Amino acids in BLOSUM62's order; index 20 is "any other letter".
const AMINO_ACIDS: &[u8; 20] = b"ARNDCQEGHILKMFPSTWYV";
pub(crate) const UNKNOWN: usize = 20;

/// BLOSUM62 (Henikoff & Henikoff 1992), rows and columns in [`AMINO_ACIDS`] order. Written out
/// here because the crate's dependencies carry no substitution matrix; a bioinformatics crate
/// would bring a large dependency tree for 400 numbers.
#[rustfmt::skip]
const BLOSUM62: [[i8; 20]; 20] = [
    [ 4, -1, -2, -2,  0, -1, -1,  0, -2, -1, -1, -1, -1, -2, -1,  1,  0, -3, -2,  0],
    [-1,  5,  0, -2, -3,  1,  0, -2,  0, -3, -2,  2, -1, -3, -2, -1, -1, -3, -2, -3],
    [-2,  0,  6,  1, -3,  0,  0,  0,  1, -3, -3,  0, -2, -3, -2,  1,  0, -4, -2, -3],
    [-2, -2,  1,  6, -3,  0,  2, -1, -1, -3, -4, -1, -3, -3, -1,  0, -1, -4, -3, -3],
    [ 0, -3, -3, -3,  9, -3, -4, -3, -3, -1, -1, -3, -1, -2, -3, -1, -1, -2, -2, -1],
    [-1,  1,  0,  0, -3,  5,  2, -2,  0, -3, -2,  1,  0, -3, -1,  0, -1, -2, -1, -2],
    [-1,  0,  0,  2, -4,  2,  5, -2,  0, -3, -3,  1, -2, -3, -1,  0, -1, -3, -2, -2],
    [ 0, -2,  0, -1, -3, -2, -2,  6, -2, -4, -4, -2, -3, -3, -2,  0, -2, -2, -3, -3],
    [-2,  0,  1, -1, -3,  0,  0, -2,  8, -3, -3, -1, -2, -1, -2, -1, -2, -2,  2, -3],
    [-1, -3, -3, -3, -1, -3, -3, -4, -3,  4,  2, -3,  1,  0, -3, -2, -1, -3, -1,  3],
    [-1, -2, -3, -4, -1, -2, -3, -4, -3,  2,  4, -2,  2,  0, -3, -2, -1, -2, -1,  1],
    [-1,  2,  0, -1, -3,  1,  1, -2, -1, -3, -2,  5, -1, -3, -1,  0, -1, -3, -2, -2],
    [-1, -1, -2, -3, -1,  0, -2, -3, -2,  1,  2, -1,  5,  0, -2, -1, -1, -1, -1,  1],
    [-2, -3, -3, -3, -2, -3, -3, -3, -1,  0,  0, -3,  0,  6, -4, -2, -2,  1,  3, -1],
    [-1, -2, -2, -1, -3, -1, -1, -2, -2, -3, -3, -1, -2, -4,  7, -1, -1, -4, -3, -2],
    [ 1, -1,  1,  0, -1,  0,  0,  0, -1, -2, -2,  0, -1, -2, -1,  4,  1, -3, -2, -2],
    [ 0, -1,  0, -1, -1, -1, -1, -2, -2, -1, -1, -1, -1, -2, -1,  1,  5, -2, -2,  0],
    [-3, -3, -4, -4, -2, -2, -3, -2, -2, -3, -2, -3, -1,  1, -4, -3, -2, 11,  2, -3],
    [-2, -2, -2, -3, -2, -1, -2, -3,  2, -1, -1, -2, -1,  3, -3, -2, -2,  2,  7, -1],
    [ 0, -3, -3, -3, -1, -2, -2, -3, -3,  3,  1, -2,  1, -1, -2, -2,  0, -3, -1,  4],
];

/// Index of an amino-acid letter in [`AMINO_ACIDS`] (upper or lower case); [`UNKNOWN`] for
/// anything else (X, B, Z, U, O, …).
pub(crate) fn residue_index(letter: u8) -> usize {
    let upper = letter.to_ascii_uppercase();
    AMINO_ACIDS
        .iter()
        .position(|&a| a == upper)
        .unwrap_or(UNKNOWN)
}

/// Receptor chain types with a germline profile: the antibody chains and the T-cell receptor
/// chains (the latter only so that TCR domains are recognised and refused, not numbered as
/// antibodies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Locus {
    H,
    K,
    L,
    A,
    B,
    G,
    D,
}

impl Locus {
    pub(crate) const ALL: [Locus; 7] = [
        Locus::H,
        Locus::K,
        Locus::L,
        Locus::A,
        Locus::B,
        Locus::G,
        Locus::D,
    ];

    fn from_code(code: &str) -> Option<Locus> {
        Some(match code {
            "H" => Locus::H,
            "K" => Locus::K,
            "L" => Locus::L,
            "A" => Locus::A,
            "B" => Locus::B,
            "G" => Locus::G,
            "D" => Locus::D,
            _ => return None,
        })
    }
}

/// Number of IMGT positions in a V domain (1..=128).
pub(crate) const POSITIONS: usize = 128;

/// One chain type's profile: for every IMGT position, the score of each residue and how often
/// the germlines fill the position.
pub(crate) struct Profile {
    pub(crate) locus: Locus,
    /// `score[p - 1][residue_index]`: mean BLOSUM62 score of the residue against the germline
    /// residues at IMGT position p (0 where no germline covers p, i.e. CDR3).
    pub(crate) score: Vec<[f32; 21]>,
    /// Fraction of germlines with a residue (not a gap) at the position; 1 where none covers it.
    pub(crate) occupancy: Vec<f32>,
}

impl Profile {
    fn build(locus: Locus, rows: &[(&str, &str)]) -> Profile {
        let mut counts = vec![[0f32; 20]; POSITIONS];
        let mut covered = vec![0f32; POSITIONS];
        let mut filled = vec![0f32; POSITIONS];
        for &(kind, gapped) in rows {
            // V-REGIONs cover positions 1-104, J-REGIONs 118-128.
            let first = if kind == "J" { 118 } else { 1 };
            for (offset, letter) in gapped.bytes().enumerate() {
                let position = first + offset;
                if position > POSITIONS {
                    break;
                }
                covered[position - 1] += 1.0;
                if letter == b'.' {
                    continue;
                }
                let index = residue_index(letter);
                if index != UNKNOWN {
                    counts[position - 1][index] += 1.0;
                    filled[position - 1] += 1.0;
                }
            }
        }
        let mut score = vec![[0f32; 21]; POSITIONS];
        let mut occupancy = vec![1f32; POSITIONS];
        for p in 0..POSITIONS {
            let total: f32 = counts[p].iter().sum();
            if covered[p] > 0.0 {
                occupancy[p] = filled[p] / covered[p];
            }
            if total == 0.0 {
                continue;
            }
            for (query, row) in BLOSUM62.iter().enumerate() {
                score[p][query] = counts[p]
                    .iter()
                    .zip(row.iter())
                    .map(|(&n, &s)| n * f32::from(s))
                    .sum::<f32>()
                    / total;
            }
            // An unknown letter scores like a mild mismatch.
            score[p][UNKNOWN] = -1.0;
        }
        Profile {
            locus,
            score,
            occupancy,
        }
    }
}

/// All chain types' profiles, built on first use.
pub(crate) fn profiles() -> &'static [Profile] {
    static PROFILES: OnceLock<Vec<Profile>> = OnceLock::new();
    PROFILES.get_or_init(|| {
        let mut rows: Vec<(Locus, &str, &str)> = Vec::new();
        for line in GERMLINES.lines() {
            if line.starts_with('#') || line.starts_with("chain\t") || line.trim().is_empty() {
                continue;
            }
            let cells: Vec<&str> = line.split('\t').collect();
            // The file is part of the source tree; a malformed row is a build mistake that the
            // unit tests catch, so it is skipped rather than turned into a run-time error.
            if let [chain, kind, _species, _allele, gapped] = cells[..] {
                if let Some(locus) = Locus::from_code(chain) {
                    rows.push((locus, kind, gapped));
                }
            }
        }
        Locus::ALL
            .iter()
            .map(|&locus| {
                let mine: Vec<(&str, &str)> = rows
                    .iter()
                    .filter(|r| r.0 == locus)
                    .map(|r| (r.1, r.2))
                    .collect();
                Profile::build(locus, &mine)
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blosum62_is_symmetric_and_residue_letters_map() {
        for (i, row) in BLOSUM62.iter().enumerate() {
            for (j, &s) in row.iter().enumerate() {
                assert_eq!(s, BLOSUM62[j][i], "{i},{j}");
            }
        }
        assert_eq!(BLOSUM62[17][17], 11, "W/W");
        assert_eq!(residue_index(b'c'), 4);
        assert_eq!(residue_index(b'X'), UNKNOWN);
    }

    #[test]
    fn profiles_carry_the_imgt_anchors() {
        let all = profiles();
        assert_eq!(all.len(), Locus::ALL.len());
        let cys = residue_index(b'C');
        let trp = residue_index(b'W');
        for profile in all {
            // Cys 23, Trp 41 and Cys 104 are the best-scoring residues at their positions.
            for (position, residue) in [(23, cys), (41, trp), (104, cys)] {
                let row = &profile.score[position - 1];
                let best = (0..20).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
                assert_eq!(best, residue, "{:?} position {position}", profile.locus);
            }
        }
        let heavy = &all[0];
        // IMGT position 10 is empty in heavy-chain germlines, filled in kappa ones.
        assert!(heavy.occupancy[9] < 0.2, "{}", heavy.occupancy[9]);
        assert!(all[1].occupancy[9] > 0.8, "{}", all[1].occupancy[9]);
        // The J motif W-G-x-G (heavy) starts at 118.
        let g = residue_index(b'G');
        assert!(heavy.score[117][trp] > 8.0 && heavy.score[118][g] > 5.0);
    }
}
