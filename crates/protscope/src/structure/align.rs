//! Placing observed structure residues on a sequence: a global alignment that is free at the
//! sequence's ends (a structure often covers part of the sequence) and cheap inside it for
//! sequence residues the structure lacks (missing / disordered residues), while a structure
//! residue left without a position is expensive.

const MATCH: i32 = 2;
const MISMATCH: i32 = -1;
/// A structure residue with no sequence position.
const UNPLACED: i32 = -3;
/// A sequence residue with no structure residue inside the covered stretch.
const MISSING: i32 = -1;
/// Largest DP table accepted (residues x residues).
const MAX_CELLS: usize = 40_000_000;

fn score(a: char, b: char) -> i32 {
    if a == 'X' || b == 'X' {
        0
    } else if a == b {
        MATCH
    } else {
        MISMATCH
    }
}

/// For each observed residue, its 0-based index in `target`, or `None`.
pub(crate) fn semi_global(
    observed: &[char],
    target: &[char],
) -> Result<Vec<Option<usize>>, String> {
    let (n, m) = (observed.len(), target.len());
    if n.saturating_mul(m) > MAX_CELLS {
        return Err(format!(
            "{n} structure residues x {m} sequence residues is too large to align"
        ));
    }
    let width = m + 1;
    let mut h = vec![0i32; (n + 1) * width];
    // 0 = diagonal, 1 = observed residue unplaced (up), 2 = sequence residue missing (left).
    let mut from = vec![0u8; (n + 1) * width];
    for i in 1..=n {
        h[i * width] = UNPLACED * i as i32;
        from[i * width] = 1;
    }
    // Row 0: leading sequence residues are free (h = 0), reached from the left.
    for cell in from.iter_mut().take(width).skip(1) {
        *cell = 2;
    }
    for i in 1..=n {
        for j in 1..=m {
            let diag = h[(i - 1) * width + j - 1] + score(observed[i - 1], target[j - 1]);
            let up = h[(i - 1) * width + j] + UNPLACED;
            // After the last observed residue the rest of the sequence is free.
            let left_cost = if i == n { 0 } else { MISSING };
            let left = h[i * width + j - 1] + left_cost;
            let (best, dir) = if diag >= up && diag >= left {
                (diag, 0)
            } else if up >= left {
                (up, 1)
            } else {
                (left, 2)
            };
            h[i * width + j] = best;
            from[i * width + j] = dir;
        }
    }
    let mut out = vec![None; n];
    let (mut i, mut j) = (n, m);
    while i > 0 {
        match from[i * width + j] {
            0 if j > 0 => {
                out[i - 1] = Some(j - 1);
                i -= 1;
                j -= 1;
            }
            2 if j > 0 => j -= 1,
            _ => i -= 1,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn places_residues_across_gaps_and_offsets() {
        // Structure lacks the first two and one middle residue.
        let got = semi_global(&chars("GLSTVW"), &chars("MKGLSATVW")).unwrap();
        assert_eq!(got, [Some(2), Some(3), Some(4), Some(6), Some(7), Some(8)]);
        // Identical sequences map one to one.
        let got = semi_global(&chars("ACDE"), &chars("ACDE")).unwrap();
        assert_eq!(got, [Some(0), Some(1), Some(2), Some(3)]);
        // An extra structure residue stays unplaced.
        let got = semi_global(&chars("ACWWWWDE"), &chars("ACDE")).unwrap();
        assert_eq!(got.iter().filter(|p| p.is_some()).count(), 4);
        assert!(semi_global(&[], &chars("AC")).unwrap().is_empty());
        assert_eq!(semi_global(&chars("AC"), &[]).unwrap(), [None, None]);
    }
}
