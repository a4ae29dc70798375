//! Secondary structure per residue from NetSurfP-2.0's CSV files (`CB513_HHblits.csv`,
//! `TS115_HHblits.csv`, the test sets TAPE's secondary-structure task and so BERTology's
//! probing use): a header `input, dssp3, dssp8, disorder, cb513_mask`, then one protein per
//! line, each field space-separated with one value per residue. The files carry no protein
//! ids: protein r (1-based line after the header) is named `<file stem>_<r>`.

use std::path::Path;

use crate::{Error, Result};

/// 3-state DSSP letters, in class order (class 0 = helix, 1 = strand, 2 = coil).
pub const SS3_CLASSES: [char; 3] = ['H', 'E', 'C'];
/// 8-state DSSP letters, in class order.
pub const SS8_CLASSES: [char; 8] = ['H', 'G', 'I', 'E', 'B', 'T', 'S', 'C'];

/// One protein's secondary structure.
#[derive(Debug, Clone, PartialEq)]
pub struct SecondaryStructure {
    /// `<file stem>_<record>`.
    pub id: String,
    pub sequence: String,
    /// Class index into [`SS3_CLASSES`] per residue.
    pub ss3: Vec<u8>,
    /// Class index into [`SS8_CLASSES`] per residue.
    pub ss8: Vec<u8>,
    /// Residues the file marks for evaluation (`cb513_mask` 1).
    pub evaluated: Vec<bool>,
}

const COLUMNS: [&str; 5] = ["input", "dssp3", "dssp8", "disorder", "cb513_mask"];

/// Reads a NetSurfP-2.0 CSV (gzip allowed). Errors name the file, the record (1-based protein
/// line) and what to fix.
pub fn read_netsurfp_csv(path: &Path) -> Result<Vec<SecondaryStructure>> {
    let bytes = crate::io::read_all_maybe_gzip(path)?;
    parse_netsurfp_csv(super::utf8(&bytes, path)?, path)
}

/// Parses a NetSurfP-2.0 CSV; `path` names the proteins and the errors.
pub fn parse_netsurfp_csv(text: &str, path: &Path) -> Result<Vec<SecondaryStructure>> {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().trim_end_matches(".csv").to_string())
        .unwrap_or_else(|| "protein".into());
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<String> = lines
        .next()
        .ok_or_else(|| {
            Error::file(
                path,
                "empty file; expected a NetSurfP-2.0 CSV with the header `input, dssp3, dssp8, \
                 disorder, cb513_mask`",
            )
        })?
        .split(',')
        .map(|c| c.trim().to_string())
        .collect();
    let index = |name: &str| {
        header.iter().position(|c| c == name).ok_or_else(|| {
            Error::file(
                path,
                format!(
                    "the header has no column `{name}` (it has {}); expected a NetSurfP-2.0 CSV \
                     with the columns {}",
                    header.join(", "),
                    COLUMNS.join(", ")
                ),
            )
        })
    };
    let (input, dssp3, dssp8, mask) = (
        index("input")?,
        index("dssp3")?,
        index("dssp8")?,
        index("cb513_mask")?,
    );
    let mut proteins = Vec::new();
    for (r, line) in lines.enumerate() {
        let record = r + 1;
        let bad = |what: String| {
            Error::file(
                path,
                format!("record {record} (protein {stem}_{record}): {what}"),
            )
        };
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != header.len() {
            return Err(bad(format!(
                "{} comma-separated fields, the header has {}; each field holds space-separated \
                 per-residue values",
                fields.len(),
                header.len()
            )));
        }
        let residues: Vec<&str> = fields[input].split_whitespace().collect();
        let n = residues.len();
        if n == 0 {
            return Err(bad("no residues in `input`".into()));
        }
        if let Some(bad_residue) = residues.iter().find(|r| r.chars().count() != 1) {
            return Err(bad(format!(
                "residue `{bad_residue}` in `input` is not one letter"
            )));
        }
        let states = |column: usize, name: &str, alphabet: &[char]| -> Result<Vec<u8>> {
            let values: Vec<&str> = fields[column].split_whitespace().collect();
            if values.len() != n {
                return Err(bad(format!(
                    "`{name}` has {} values for {n} residues; every column needs one value per \
                     residue",
                    values.len()
                )));
            }
            values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let mut chars = v.chars();
                    match (chars.next(), chars.next()) {
                        (Some(c), None) if alphabet.contains(&c) => {
                            Ok(alphabet.iter().position(|&a| a == c).unwrap() as u8)
                        }
                        _ => Err(bad(format!(
                            "`{name}` value `{v}` at residue {} is not one of {}",
                            i + 1,
                            alphabet.iter().collect::<String>()
                        ))),
                    }
                })
                .collect()
        };
        let ss3 = states(dssp3, "dssp3", &SS3_CLASSES)?;
        let ss8 = states(dssp8, "dssp8", &SS8_CLASSES)?;
        let flags: Vec<&str> = fields[mask].split_whitespace().collect();
        if flags.len() != n {
            return Err(bad(format!(
                "`cb513_mask` has {} values for {n} residues; every column needs one value per \
                 residue",
                flags.len()
            )));
        }
        let evaluated = flags
            .iter()
            .enumerate()
            .map(|(i, v)| match v.parse::<f64>() {
                Ok(x) if x == 0.0 || x == 1.0 => Ok(x == 1.0),
                _ => Err(bad(format!(
                    "`cb513_mask` value `{v}` at residue {} is not 0 or 1",
                    i + 1
                ))),
            })
            .collect::<Result<Vec<bool>>>()?;
        proteins.push(SecondaryStructure {
            id: format!("{stem}_{record}"),
            sequence: residues.concat(),
            ss3,
            ss8,
            evaluated,
        });
    }
    if proteins.is_empty() {
        return Err(Error::file(path, "a header but no proteins"));
    }
    Ok(proteins)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "input, dssp3, dssp8, disorder, cb513_mask\n\
        M K V,C H E,C G B,0.0 0.0 1.0,1.0 1.0 0.0\n";

    #[test]
    fn reads_classes_and_mask() {
        let p = parse_netsurfp_csv(CSV, Path::new("TS115_HHblits.csv")).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].id, "TS115_HHblits_1");
        assert_eq!(p[0].sequence, "MKV");
        assert_eq!(p[0].ss3, vec![2, 0, 1]);
        assert_eq!(p[0].ss8, vec![7, 1, 4]);
        assert_eq!(p[0].evaluated, vec![true, true, false]);
    }

    #[test]
    fn errors_name_the_record_and_what_to_fix() {
        let short = "input, dssp3, dssp8, disorder, cb513_mask\nM K V,C H,C G B,0 0 0,1 1 1\n";
        let e = parse_netsurfp_csv(short, Path::new("x.csv"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("x.csv") && e.contains("record 1") && e.contains("`dssp3` has 2"),
            "{e}"
        );
        let letter = "input, dssp3, dssp8, disorder, cb513_mask\nM,Q,C,0,1\n";
        let e = parse_netsurfp_csv(letter, Path::new("x.csv"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`Q`") && e.contains("HEC"), "{e}");
        let header = "sequence,ss\nM,H\n";
        let e = parse_netsurfp_csv(header, Path::new("x.csv"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no column `input`"), "{e}");
        assert!(parse_netsurfp_csv("", Path::new("x.csv")).is_err());
    }
}

/// The secondary-structure properties BERTology reports attention to (provis' `ss4` classes
/// without its blank one): helix (DSSP H, G, I), strand (E, B) and turn/bend (T, S).
pub const ATTENTION_PROPERTIES: [&str; 3] = ["helix", "strand", "turn_bend"];

/// Index into [`ATTENTION_PROPERTIES`] of an 8-state DSSP letter; None for coil (`C`, blank
/// or `-`), polyproline (`P`) and unknown letters.
pub fn attention_property(dssp8: char) -> Option<usize> {
    match dssp8 {
        'H' | 'G' | 'I' => Some(0),
        'E' | 'B' => Some(1),
        'T' | 'S' => Some(2),
        _ => None,
    }
}

/// Per property of [`ATTENTION_PROPERTIES`], per residue: whether the residue's 8-state letter
/// is of that class (a residue without a state is in none).
pub fn attention_indicators(states: &[Option<char>]) -> Vec<Vec<bool>> {
    (0..ATTENTION_PROPERTIES.len())
        .map(|class| {
            states
                .iter()
                .map(|s| s.and_then(attention_property) == Some(class))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod attention_property_tests {
    use super::*;

    #[test]
    fn dssp_letters_map_to_provis_classes() {
        let states = [
            Some('H'),
            Some('G'),
            Some('E'),
            Some('B'),
            Some('T'),
            Some('S'),
        ];
        let more = [Some('C'), Some('P'), None, Some('I')];
        let all: Vec<Option<char>> = states.iter().chain(&more).copied().collect();
        let indicators = attention_indicators(&all);
        assert_eq!(indicators.len(), 3);
        let helix: Vec<usize> = (0..all.len()).filter(|&i| indicators[0][i]).collect();
        let strand: Vec<usize> = (0..all.len()).filter(|&i| indicators[1][i]).collect();
        let turn: Vec<usize> = (0..all.len()).filter(|&i| indicators[2][i]).collect();
        assert_eq!(helix, [0, 1, 9]);
        assert_eq!(strand, [2, 3]);
        assert_eq!(turn, [4, 5]);
    }
}
