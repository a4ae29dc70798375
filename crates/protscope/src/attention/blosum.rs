//! BLOSUM62 substitution scores for the 20 standard amino acids.
//!
//! Source: Henikoff & Henikoff (1992), "Amino acid substitution matrices from protein blocks",
//! PNAS 89:10915–10919; values as distributed with NCBI BLAST (`BLOSUM62`, "Matrix made by
//! matblas from blosum62.iij", 1/2-bit units). Only the 20 standard residues are kept (no B, Z,
//! X, *). Row and column order is [`AMINO_ACIDS`].

use super::heads::AMINO_ACIDS;

#[rustfmt::skip]
const BLOSUM62: [[i8; 20]; 20] = [
    //A   R   N   D   C   Q   E   G   H   I   L   K   M   F   P   S   T   W   Y   V
    [ 4, -1, -2, -2,  0, -1, -1,  0, -2, -1, -1, -1, -1, -2, -1,  1,  0, -3, -2,  0], // A
    [-1,  5,  0, -2, -3,  1,  0, -2,  0, -3, -2,  2, -1, -3, -2, -1, -1, -3, -2, -3], // R
    [-2,  0,  6,  1, -3,  0,  0,  0,  1, -3, -3,  0, -2, -3, -2,  1,  0, -4, -2, -3], // N
    [-2, -2,  1,  6, -3,  0,  2, -1, -1, -3, -4, -1, -3, -3, -1,  0, -1, -4, -3, -3], // D
    [ 0, -3, -3, -3,  9, -3, -4, -3, -3, -1, -1, -3, -1, -2, -3, -1, -1, -2, -2, -1], // C
    [-1,  1,  0,  0, -3,  5,  2, -2,  0, -3, -2,  1,  0, -3, -1,  0, -1, -2, -1, -2], // Q
    [-1,  0,  0,  2, -4,  2,  5, -2,  0, -3, -3,  1, -2, -3, -1,  0, -1, -3, -2, -2], // E
    [ 0, -2,  0, -1, -3, -2, -2,  6, -2, -4, -4, -2, -3, -3, -2,  0, -2, -2, -3, -3], // G
    [-2,  0,  1, -1, -3,  0,  0, -2,  8, -3, -3, -1, -2, -1, -2, -1, -2, -2,  2, -3], // H
    [-1, -3, -3, -3, -1, -3, -3, -4, -3,  4,  2, -3,  1,  0, -3, -2, -1, -3, -1,  3], // I
    [-1, -2, -3, -4, -1, -2, -3, -4, -3,  2,  4, -2,  2,  0, -3, -2, -1, -2, -1,  1], // L
    [-1,  2,  0, -1, -3,  1,  1, -2, -1, -3, -2,  5, -1, -3, -1,  0, -1, -3, -2, -2], // K
    [-1, -1, -2, -3, -1,  0, -2, -3, -2,  1,  2, -1,  5,  0, -2, -1, -1, -1, -1,  1], // M
    [-2, -3, -3, -3, -2, -3, -3, -3, -1,  0,  0, -3,  0,  6, -4, -2, -2,  1,  3, -1], // F
    [-1, -2, -2, -1, -3, -1, -1, -2, -2, -3, -3, -1, -2, -4,  7, -1, -1, -4, -3, -2], // P
    [ 1, -1,  1,  0, -1,  0,  0,  0, -1, -2, -2,  0, -1, -2, -1,  4,  1, -3, -2, -2], // S
    [ 0, -1,  0, -1, -1, -1, -1, -2, -2, -1, -1, -1, -1, -2, -1,  1,  5, -2, -2,  0], // T
    [-3, -3, -4, -4, -2, -2, -3, -2, -2, -3, -2, -3, -1,  1, -4, -3, -2, 11,  2, -3], // W
    [-2, -2, -2, -3, -2, -1, -2, -3,  2, -1, -1, -2, -1,  3, -3, -2, -2,  2,  7, -1], // Y
    [ 0, -3, -3, -3, -1, -2, -2, -3, -3,  3,  1, -2,  1, -1, -2, -2,  0, -3, -1,  4], // V
];

/// BLOSUM62 score of two standard amino acids (upper-case one-letter codes); `None` for any
/// other character.
pub fn blosum62(a: char, b: char) -> Option<i8> {
    let i = AMINO_ACIDS.iter().position(|&x| x == a)?;
    let j = AMINO_ACIDS.iter().position(|&x| x == b)?;
    Some(BLOSUM62[i][j])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_with_known_entries() {
        for a in AMINO_ACIDS {
            for b in AMINO_ACIDS {
                assert_eq!(blosum62(a, b), blosum62(b, a), "{a}{b}");
            }
        }
        assert_eq!(blosum62('W', 'W'), Some(11));
        assert_eq!(blosum62('C', 'C'), Some(9));
        assert_eq!(blosum62('I', 'V'), Some(3));
        assert_eq!(blosum62('D', 'L'), Some(-4));
        assert_eq!(blosum62('X', 'A'), None);
        let diagonal_sum: i32 = AMINO_ACIDS
            .iter()
            .map(|&a| blosum62(a, a).unwrap() as i32)
            .sum();
        // 4+5+6+6+9+5+5+6+8+4+4+5+5+6+7+4+5+11+7+4
        assert_eq!(diagonal_sum, 116);
    }
}
