//! Deposited (reference) chain sequences: PDB `SEQRES` records and the mmCIF
//! `_pdbx_poly_seq_scheme` loop. pdbtbx does not expose these, and they are what tells observed
//! residues from missing ones.

use std::collections::HashMap;

/// One-letter code for a residue name; common modified residues map to their parent.
pub(crate) fn one_letter(name: &str) -> char {
    match name.trim().to_ascii_uppercase().as_str() {
        "ALA" => 'A',
        "ARG" => 'R',
        "ASN" => 'N',
        "ASP" => 'D',
        "CYS" => 'C',
        "GLN" => 'Q',
        "GLU" => 'E',
        "GLY" => 'G',
        "HIS" => 'H',
        "ILE" => 'I',
        "LEU" => 'L',
        "LYS" => 'K',
        "MET" | "MSE" => 'M',
        "PHE" => 'F',
        "PRO" | "HYP" => 'P',
        "SER" | "SEP" => 'S',
        "THR" | "TPO" => 'T',
        "TRP" => 'W',
        "TYR" | "PTR" => 'Y',
        "VAL" => 'V',
        "SEC" => 'U',
        "PYL" => 'O',
        "CSO" | "CME" => 'C',
        _ => 'X',
    }
}

/// Nucleotides and caps that SEQRES lists but that are not amino acids.
fn is_amino_acid_name(name: &str) -> bool {
    one_letter(name) != 'X' || (name.len() == 3 && !matches!(name, "NH2" | "ACE" | "HOH"))
}

/// Chain id -> one-letter SEQRES sequence. Chains whose SEQRES holds no amino acid (DNA/RNA)
/// are left out.
pub(crate) fn pdb_seqres(text: &str) -> HashMap<String, String> {
    let mut names: HashMap<String, Vec<String>> = HashMap::new();
    for line in text.lines().filter(|l| l.starts_with("SEQRES")) {
        let Some(chain) = line.get(11..12) else {
            continue;
        };
        let residues = line.get(19..).unwrap_or("");
        names
            .entry(chain.trim().to_string())
            .or_default()
            .extend(residues.split_whitespace().map(str::to_string));
    }
    to_sequences(names)
}

fn to_sequences(names: HashMap<String, Vec<String>>) -> HashMap<String, String> {
    names
        .into_iter()
        .filter(|(_, n)| n.iter().any(|r| one_letter(r) != 'X'))
        .map(|(chain, n)| {
            let seq = n
                .iter()
                .filter(|r| is_amino_acid_name(r))
                .map(|r| one_letter(r))
                .collect();
            (chain, seq)
        })
        .collect()
}

/// Chain (author strand id) -> one-letter sequence from `_pdbx_poly_seq_scheme`.
pub(crate) fn mmcif_poly_seq(text: &str) -> HashMap<String, String> {
    let mut names: HashMap<String, Vec<String>> = HashMap::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() != "loop_" {
            continue;
        }
        let mut tags = Vec::new();
        while let Some(next) = lines.peek() {
            let t = next.trim();
            if t.starts_with('_') {
                tags.push(t.split_whitespace().next().unwrap_or("").to_string());
                lines.next();
            } else {
                break;
            }
        }
        if !tags.iter().any(|t| t.starts_with("_pdbx_poly_seq_scheme.")) {
            continue;
        }
        let column = |name: &str| tags.iter().position(|t| t == name);
        let (Some(mon), Some(strand)) = (
            column("_pdbx_poly_seq_scheme.mon_id"),
            column("_pdbx_poly_seq_scheme.pdb_strand_id"),
        ) else {
            return HashMap::new();
        };
        let mut row: Vec<String> = Vec::new();
        while let Some(next) = lines.peek() {
            let t = next.trim();
            if t.starts_with('#') || t.starts_with('_') || t == "loop_" || t.starts_with("data_") {
                break;
            }
            row.extend(t.split_whitespace().map(str::to_string));
            lines.next();
            while row.len() >= tags.len() {
                let rest = row.split_off(tags.len());
                names
                    .entry(row[strand].clone())
                    .or_default()
                    .push(row[mon].clone());
                row = rest;
            }
        }
        break;
    }
    to_sequences(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_seqres_and_poly_seq_scheme() {
        let pdb = "SEQRES   1 A    3  MSE LYS GLY\nSEQRES   1 B    2   DA  DT\n";
        let seqs = pdb_seqres(pdb);
        assert_eq!(seqs.get("A").map(String::as_str), Some("MKG"));
        assert!(!seqs.contains_key("B"));
        let cif = "loop_\n_pdbx_poly_seq_scheme.asym_id\n_pdbx_poly_seq_scheme.mon_id\n\
                   _pdbx_poly_seq_scheme.pdb_strand_id\nA SER X\nA MET X\n#\n";
        assert_eq!(mmcif_poly_seq(cif).get("X").map(String::as_str), Some("SM"));
        assert!(mmcif_poly_seq("loop_\n_other.x\n1\n").is_empty());
    }
}
