//! Alignment of a sequence to one chain type's IMGT profile.
//!
//! The profile is a chain of nodes: one column per framework position (FR1 1-26, FR2 39-55,
//! FR3 66-104, FR4 118-128) and one loop node per CDR. A framework column is matched to one
//! residue or skipped (cheap where the germlines leave that position empty, e.g. IMGT 10 in heavy
//! chains); a loop takes any number of residues, numbered by IMGT's rule for its length (see
//! [`cdr_positions`]) and scored against the germline CDR residues at those positions, so that
//! the CDR/framework boundaries come out where the IMGT scheme puts them. The alignment is local
//! in the sequence (tags, signal peptides and constant regions around the domain cost nothing)
//! and may begin at any column (at a small cost per framework column skipped) and end at any
//! framework column (a germline V-REGION ends at 104).

use super::profile::{residue_index, Locus, Profile};

/// Cost of leaving a framework position empty that every germline fills (scaled by occupancy).
const FRAMEWORK_GAP: f32 = 10.0;
/// Cost of a residue between two framework columns (IMGT frameworks have no insertions).
const FRAMEWORK_INSERT: f32 = 12.0;
/// Cost per framework column skipped before the alignment begins: above a mild mismatch, so a
/// domain's first residues are numbered from IMGT 1 even where they differ from the germlines.
const BEGIN_SKIP: f32 = 3.0;
/// Weight of the germline CDR residues (CDRs vary; frameworks carry the alignment).
const CDR_WEIGHT: f32 = 0.5;
/// Cost per residue of a CDR outside its usual length range.
const LOOP_LENGTH_COST: f32 = 2.0;

/// The three CDRs: IMGT range, the last position of the loop's first half (insertions beyond the
/// range go after it), usual length range, and the longest loop considered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cdr {
    One,
    Two,
    Three,
}

impl Cdr {
    /// (first, last, last position of the first half).
    fn range(self) -> (u8, u8, u8) {
        match self {
            Cdr::One => (27, 38, 32),
            Cdr::Two => (56, 65, 60),
            Cdr::Three => (105, 117, 111),
        }
    }

    fn usual_lengths(self) -> (usize, usize) {
        match self {
            Cdr::One => (5, 12),
            Cdr::Two => (3, 10),
            Cdr::Three => (3, 26),
        }
    }

    fn max_length(self) -> usize {
        match self {
            Cdr::One => 20,
            Cdr::Two => 20,
            Cdr::Three => 45,
        }
    }
}

/// IMGT positions of a CDR of `length` residues, in sequence order: the first ceil(length/2)
/// residues count up from the CDR's first position, the others count down to its last, so gaps
/// (short loops) and insertions (long loops: 111A, 111B, …, 112B, 112A for CDR3) sit at the top
/// of the loop, as the IMGT scheme places them.
pub(crate) fn cdr_positions(cdr: Cdr, length: usize) -> Vec<(u8, Option<char>)> {
    let (first, last, mid) = cdr.range();
    let left = length.div_ceil(2);
    let right = length / 2;
    let mut out = Vec::with_capacity(length);
    let left_capacity = usize::from(mid - first + 1);
    for t in 0..left {
        if t < left_capacity {
            out.push((first + t as u8, None));
        } else {
            out.push((mid, Some(insertion_letter(t - left_capacity))));
        }
    }
    let right_first = mid + 1;
    let right_capacity = usize::from(last - right_first + 1);
    // u counts from the CDR's last residue backwards.
    for u in (0..right).rev() {
        if u < right_capacity {
            out.push((last - u as u8, None));
        } else {
            out.push((right_first, Some(insertion_letter(u - right_capacity))));
        }
    }
    out
}

/// A, B, …, Z, then AA, BB, … (ANARCI's convention for long insertions).
fn insertion_letter(index: usize) -> char {
    (b'A' + (index % 26) as u8) as char
}

#[derive(Debug, Clone, Copy)]
enum Node {
    Column(u8),
    Loop(Cdr),
}

fn nodes() -> Vec<Node> {
    let mut nodes = Vec::new();
    nodes.extend((1..=26).map(Node::Column));
    nodes.push(Node::Loop(Cdr::One));
    nodes.extend((39..=55).map(Node::Column));
    nodes.push(Node::Loop(Cdr::Two));
    nodes.extend((66..=104).map(Node::Column));
    nodes.push(Node::Loop(Cdr::Three));
    nodes.extend((118..=128).map(Node::Column));
    nodes
}

/// What the alignment gives each residue of the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placed {
    /// 0-based index in the query.
    pub(crate) index: usize,
    pub(crate) number: u8,
    pub(crate) insertion: Option<char>,
    /// Matched to a framework column (not a CDR residue or a framework insertion).
    pub(crate) framework_match: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Alignment {
    pub(crate) locus: Locus,
    pub(crate) score: f32,
    /// Numbered residues in sequence order.
    pub(crate) placed: Vec<Placed>,
    /// CDRs whose flanking framework columns are both matched (a complete loop), with the
    /// 0-based query range they cover (empty loops have `start == end`).
    pub(crate) complete_cdrs: Vec<(Cdr, usize, usize)>,
    /// Sum of the profile scores of the residues matched to FR4 columns (J-region evidence).
    pub(crate) fr4_score: f32,
}

const MATCH: u8 = 1;
const DELETE: u8 = 2;
const INSERT: u8 = 3;
/// Set when the step's predecessor is the alignment's beginning.
const FROM_BEGIN: u8 = 0x80;

/// Aligns `query` (amino-acid letters) to `profile`; `None` when nothing aligns.
pub(crate) fn align(profile: &Profile, query: &[u8]) -> Option<Alignment> {
    let nodes = nodes();
    let n = query.len();
    let width = n + 1;
    let residues: Vec<usize> = query.iter().map(|&b| residue_index(b)).collect();
    let mut score = vec![f32::NEG_INFINITY; nodes.len() * width];
    // Back-pointers: for columns MATCH/DELETE/INSERT (| FROM_BEGIN); for loops the loop length
    // (| FROM_BEGIN in the high bit; lengths stay below 0x80).
    let mut back = vec![0u8; nodes.len() * width];
    let mut columns_before = 0usize;
    for (node_index, node) in nodes.iter().enumerate() {
        let begin = -BEGIN_SKIP * columns_before as f32;
        // Best predecessor value at query prefix length i: the previous node, or the beginning.
        let previous = |i: usize, score: &[f32]| -> (f32, u8) {
            let from_prev = if node_index == 0 {
                f32::NEG_INFINITY
            } else {
                score[(node_index - 1) * width + i]
            };
            if begin >= from_prev {
                (begin, FROM_BEGIN)
            } else {
                (from_prev, 0)
            }
        };
        let row = node_index * width;
        match *node {
            Node::Column(position) => {
                columns_before += 1;
                let p = usize::from(position) - 1;
                let occupancy = profile.occupancy[p];
                let match_extra = -FRAMEWORK_GAP * (1.0 - occupancy);
                let delete_cost = -FRAMEWORK_GAP * occupancy;
                for i in 0..=n {
                    let (prev_here, here_flag) = previous(i, &score);
                    let mut best = prev_here + delete_cost;
                    let mut op = DELETE | here_flag;
                    if i > 0 {
                        let (prev_diag, diag_flag) = previous(i - 1, &score);
                        let m = prev_diag + profile.score[p][residues[i - 1]] + match_extra;
                        if m > best {
                            best = m;
                            op = MATCH | diag_flag;
                        }
                        let ins = score[row + i - 1] - FRAMEWORK_INSERT;
                        if ins > best {
                            best = ins;
                            op = INSERT;
                        }
                    }
                    score[row + i] = best;
                    back[row + i] = op;
                }
            }
            Node::Loop(cdr) => {
                let (usual_min, usual_max) = cdr.usual_lengths();
                let max_k = cdr.max_length();
                let layouts: Vec<Vec<(u8, Option<char>)>> =
                    (0..=max_k).map(|k| cdr_positions(cdr, k)).collect();
                for i in 0..=n {
                    let mut best = f32::NEG_INFINITY;
                    let mut op = 0u8;
                    for (k, layout) in layouts.iter().enumerate().take(i.min(max_k) + 1) {
                        let (prev, flag) = previous(i - k, &score);
                        if prev == f32::NEG_INFINITY {
                            continue;
                        }
                        let outside = usual_min.saturating_sub(k) + k.saturating_sub(usual_max);
                        let mut s = prev - LOOP_LENGTH_COST * outside as f32;
                        for (t, &(number, insertion)) in layout.iter().enumerate() {
                            if insertion.is_none() {
                                s += CDR_WEIGHT
                                    * profile.score[usize::from(number) - 1][residues[i - k + t]];
                            }
                        }
                        if s > best {
                            best = s;
                            op = k as u8 | flag;
                        }
                    }
                    score[row + i] = best;
                    back[row + i] = op;
                }
            }
        }
    }

    // The alignment ends at a framework column, anywhere in the query.
    let mut end = None;
    let mut end_score = f32::NEG_INFINITY;
    for (node_index, node) in nodes.iter().enumerate() {
        if matches!(node, Node::Column(_)) {
            for i in 1..=n {
                let s = score[node_index * width + i];
                // On a tie the longer alignment wins (a last residue scoring 0 is still numbered).
                if s >= end_score {
                    end_score = s;
                    end = Some((node_index, i));
                }
            }
        }
    }
    let (mut node_index, mut i) = end?;

    // Trace back: collect, per node, what it consumed.
    let mut placed_rev: Vec<Placed> = Vec::new();
    let mut loops: Vec<(usize, Cdr, usize, usize)> = Vec::new(); // (node, cdr, start, end)
    let mut matched_nodes = vec![false; nodes.len()];
    let mut pending_inserts: Vec<usize> = Vec::new();
    let mut fr4_score = 0f32;
    loop {
        let op = back[node_index * width + i];
        let from_begin = op & FROM_BEGIN != 0;
        match nodes[node_index] {
            Node::Column(position) => match op & !FROM_BEGIN {
                MATCH => {
                    // Residues inserted after this column come after it in the sequence; the
                    // list holds them last first, as `placed_rev` wants them.
                    for (rank, &index) in pending_inserts.iter().enumerate() {
                        placed_rev.push(Placed {
                            index,
                            number: position,
                            insertion: Some(insertion_letter(pending_inserts.len() - 1 - rank)),
                            framework_match: false,
                        });
                    }
                    pending_inserts.clear();
                    placed_rev.push(Placed {
                        index: i - 1,
                        number: position,
                        insertion: None,
                        framework_match: true,
                    });
                    matched_nodes[node_index] = true;
                    if position >= 118 {
                        fr4_score += profile.score[usize::from(position) - 1][residues[i - 1]];
                    }
                    i -= 1;
                }
                INSERT => {
                    pending_inserts.push(i - 1);
                    i -= 1;
                    continue;
                }
                _ => {
                    // A deleted column: inserted residues after it are kept on this position.
                    for (rank, &index) in pending_inserts.iter().enumerate() {
                        placed_rev.push(Placed {
                            index,
                            number: position,
                            insertion: Some(insertion_letter(pending_inserts.len() - 1 - rank)),
                            framework_match: false,
                        });
                    }
                    pending_inserts.clear();
                }
            },
            Node::Loop(cdr) => {
                let k = usize::from(op & !FROM_BEGIN);
                let layout = cdr_positions(cdr, k);
                for (t, &(number, insertion)) in layout.iter().enumerate().rev() {
                    placed_rev.push(Placed {
                        index: i - k + t,
                        number,
                        insertion,
                        framework_match: false,
                    });
                }
                loops.push((node_index, cdr, i - k, i));
                i -= k;
            }
        }
        if from_begin || node_index == 0 {
            break;
        }
        node_index -= 1;
    }
    placed_rev.reverse();
    let complete_cdrs = loops
        .into_iter()
        .filter(|&(node, _, _, _)| {
            // A framework residue within three columns on each side (a flanking column may be
            // one of the germlines' empty positions).
            let before = matched_nodes[node.saturating_sub(3)..node]
                .iter()
                .any(|&m| m);
            let after = matched_nodes[(node + 1).min(nodes.len())..(node + 4).min(nodes.len())]
                .iter()
                .any(|&m| m);
            before && after
        })
        .map(|(_, cdr, start, end)| (cdr, start, end))
        .collect();
    Some(Alignment {
        locus: profile.locus,
        score: end_score,
        placed: placed_rev,
        complete_cdrs,
        fr4_score,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(cdr: Cdr, length: usize) -> Vec<String> {
        cdr_positions(cdr, length)
            .into_iter()
            .map(|(n, ins)| format!("{n}{}", ins.map(String::from).unwrap_or_default()))
            .collect()
    }

    #[test]
    fn cdr_gaps_and_insertions_follow_the_imgt_rule() {
        // IMGT germlines: kappa CDR1 of 6 = 27-29 + 36-38; heavy CDR1 of 8 = 27-30 + 35-38.
        assert_eq!(numbers(Cdr::One, 6), ["27", "28", "29", "36", "37", "38"]);
        assert_eq!(
            numbers(Cdr::One, 8),
            ["27", "28", "29", "30", "35", "36", "37", "38"]
        );
        // Kappa CDR2 of 3 = 56, 57, 65.
        assert_eq!(numbers(Cdr::Two, 3), ["56", "57", "65"]);
        assert_eq!(numbers(Cdr::Three, 13).len(), 13);
        assert_eq!(numbers(Cdr::Three, 12)[5..7], ["110", "112"]);
        // Long CDR3: insertions 111A.. and ..112A at the top of the loop.
        assert_eq!(
            numbers(Cdr::Three, 15)[6..10],
            ["111", "111A", "112A", "112"]
        );
        assert_eq!(numbers(Cdr::Three, 16)[7..9], ["111A", "112B"]);
        assert!(numbers(Cdr::Three, 0).is_empty());
    }
}
