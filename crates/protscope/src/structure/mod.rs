//! Protein structures (PDB and mmCIF, via pdbtbx): choose a chain and model, map its residues
//! onto a sequence, and compute distance matrices, contact maps and DSSP secondary structure
//! ([`dssp`]).
//!
//! Residues are the polymer residues of the chain that have a Cα plus N or C (so ions named
//! CA, waters and ligands are left out; modified residues such as MSE stay in). Positions in
//! contacts are 1-based indices into the sequence the residues are mapped onto: the SEQRES /
//! `_pdbx_poly_seq_scheme` sequence by default, or a sequence the caller gives (the model's).

mod align;
pub mod contacts;
pub mod dssp;
mod reference;

pub use contacts::{contacts_frame, Contact, ContactAtom, ContactOptions, DistanceMatrix};
pub use dssp::{
    assign_secondary_structure, secondary_structure_frame, sequence_positions, Dssp3, Dssp8,
    DsspResidue,
};

use crate::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// File extensions read as structures (each also gzip-compressed, `.gz`).
pub const STRUCTURE_EXTENSIONS: [&str; 4] = ["pdb", "cif", "ent", "mmcif"];

/// Lower-case file name without its structure extension (and `.gz`): `1ABC.cif.gz` → `1abc`;
/// None for files that are not structures.
pub fn structure_key(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    let (stem, ext) = name.rsplit_once('.')?;
    STRUCTURE_EXTENSIONS
        .contains(&ext)
        .then(|| stem.to_string())
}

/// The structure files of a folder by name ([`structure_key`]); where two files share a name
/// (1ABC.cif and 1ABC.pdb), the first in sorted order counts.
#[derive(Debug, Clone)]
pub struct StructureFolder {
    pub dir: PathBuf,
    files: Vec<(String, PathBuf)>,
}

impl StructureFolder {
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::file(dir, "not a folder of structure files"));
        }
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        paths.sort();
        let mut files: Vec<(String, PathBuf)> = Vec::new();
        for path in paths {
            if let Some(key) = structure_key(&path) {
                if !files.iter().any(|(k, _)| *k == key) {
                    files.push((key, path));
                }
            }
        }
        Ok(StructureFolder {
            dir: dir.to_path_buf(),
            files,
        })
    }

    /// (name, path) of every structure, sorted by path.
    pub fn files(&self) -> &[(String, PathBuf)] {
        &self.files
    }

    /// `(NAME.CHAIN, path, chain)` of every file: `chain`, else the file's first chain.
    pub fn chains(&self, chain: Option<&str>) -> Result<Vec<(String, PathBuf, ChainResidues)>> {
        self.files
            .iter()
            .map(|(stem, path)| {
                let residues = read_structure(path)?.chain(chain, Some(0))?;
                Ok((format!("{stem}.{}", residues.chain), path.clone(), residues))
            })
            .collect()
    }

    /// The file and chain of record `id`: a file named `id`, or `NAME.CHAIN` / `NAME_CHAIN`
    /// (names compared case-insensitively).
    pub fn find(&self, id: &str) -> Option<(PathBuf, Option<String>)> {
        let by_name = |name: &str| {
            let name = name.to_ascii_lowercase();
            self.files
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, p)| p.clone())
        };
        if let Some(path) = by_name(id) {
            return Some((path, None));
        }
        let (name, chain) = id.rsplit_once(['.', '_'])?;
        by_name(name).map(|path| (path, Some(chain.to_string())))
    }
}

/// Coordinate file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StructureFormat {
    Pdb,
    Mmcif,
}

/// One residue of a chain, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct StructureResidue {
    /// Author residue number.
    pub number: isize,
    pub insertion_code: Option<String>,
    /// Three-letter name, e.g. "MSE".
    pub name: String,
    /// One-letter code ('X' when not a standard amino acid or known modification).
    pub code: char,
    pub ca: [f64; 3],
    /// Cβ; `None` for glycine or when missing.
    pub cb: Option<[f64; 3]>,
}

/// The backbone of one residue (Å), for secondary structure: every residue of a chain with N,
/// Cα, C and O.
#[derive(Debug, Clone, PartialEq)]
pub struct BackboneResidue {
    /// Author chain id.
    pub chain: String,
    /// Author residue number.
    pub number: isize,
    pub insertion_code: Option<String>,
    /// Three-letter name, e.g. "PRO".
    pub name: String,
    /// One-letter code ('X' when not a standard amino acid or known modification).
    pub code: char,
    pub n: [f64; 3],
    pub ca: [f64; 3],
    pub c: [f64; 3],
    pub o: [f64; 3],
}

/// Longest C–N distance (Å) of a peptide bond: beyond it the chain is broken (DSSP's limit).
pub const MAX_PEPTIDE_BOND: f64 = 2.5;

/// A parsed structure file.
pub struct Structure {
    pdb: pdbtbx::PDB,
    path: PathBuf,
    /// Chain id -> reference sequence (one-letter) from SEQRES / `_pdbx_poly_seq_scheme`.
    reference: HashMap<String, String>,
    /// Only the first model could be read (the models do not correspond atom by atom).
    first_model_only: bool,
}

/// Reads a PDB or mmCIF file (gzip allowed; format from the content, not the extension).
pub fn read_structure(path: &Path) -> Result<Structure> {
    let bytes = crate::io::read_all_maybe_gzip(path)?;
    parse_structure(&bytes, path)
}

/// Guesses PDB vs mmCIF from the content.
pub fn detect_structure_format(bytes: &[u8]) -> Option<StructureFormat> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(65536)]);
    if head.trim_start().starts_with("data_") || head.contains("\n_atom_site.") {
        return Some(StructureFormat::Mmcif);
    }
    let pdb_records = [
        "HEADER", "ATOM  ", "HETATM", "MODEL ", "TITLE ", "REMARK", "SEQRES", "CRYST1",
    ];
    if head
        .lines()
        .any(|l| pdb_records.iter().any(|r| l.starts_with(r)))
    {
        return Some(StructureFormat::Pdb);
    }
    None
}

/// Parses structure bytes; `path` names the file in errors.
pub fn parse_structure(bytes: &[u8], path: &Path) -> Result<Structure> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::file(path, "structure file is empty"));
    }
    let format = detect_structure_format(bytes).ok_or_else(|| {
        Error::file(
            path,
            "not a PDB or mmCIF file (no ATOM/HETATM/HEADER records and no `data_` block)",
        )
    })?;
    let text = crate::annotation::utf8(bytes, path)?;
    // PDB records are fixed 80-column lines; files with trailing spaces stripped are common and
    // pdbtbx rejects short lines, so pad them back. Crystal-frame and checksum records are not
    // needed for residue distances and are often filled in loosely (cryo-EM CRYST1 without a Z
    // value, stale MASTER counts), so they are left out.
    let padded;
    let input = match format {
        StructureFormat::Pdb => {
            let skipped = ["CRYST1", "SCALE", "ORIGX", "MTRIX", "MASTER"];
            padded = text
                .lines()
                .filter(|l| !skipped.iter().any(|r| l.starts_with(r)))
                .map(|l| format!("{l:<80}\n"))
                .collect::<String>();
            padded.as_str()
        }
        StructureFormat::Mmcif => text,
    };
    // Hydrogens play no part in Cα/Cβ distances; dropping them also avoids NMR ensembles whose
    // models differ only in hydrogens failing pdbtbx's model-correspondence check.
    let (pdb, first_model_only) = match read_with_pdbtbx(input, format, false, path)? {
        Ok(pdb) => (pdb, false),
        // Models that still do not correspond atom by atom: read the first model only and say so
        // when another model is asked for.
        Err(first_error) => match read_with_pdbtbx(input, format, true, path)? {
            Ok(pdb) => (pdb, true),
            Err(_) => {
                return Err(Error::file(
                    path,
                    format!("cannot read structure: {first_error}"),
                ))
            }
        },
    };
    if pdb.model_count() == 0 {
        return Err(Error::file(path, "structure has no models with atoms"));
    }
    let reference = match format {
        StructureFormat::Pdb => reference::pdb_seqres(text),
        StructureFormat::Mmcif => reference::mmcif_poly_seq(text),
    };
    Ok(Structure {
        pdb,
        path: path.to_path_buf(),
        reference,
        first_model_only,
    })
}

/// One pdbtbx read. The outer error is a crash; the inner one pdbtbx's own failure report.
fn read_with_pdbtbx(
    input: &str,
    format: StructureFormat,
    only_first_model: bool,
    path: &Path,
) -> Result<std::result::Result<pdbtbx::PDB, String>> {
    let mut options = pdbtbx::ReadOptions::new();
    options
        .set_level(pdbtbx::StrictnessLevel::Loose)
        .set_discard_hydrogens(true)
        .set_only_first_model(only_first_model)
        .set_format(match format {
            StructureFormat::Pdb => pdbtbx::Format::Pdb,
            StructureFormat::Mmcif => pdbtbx::Format::Mmcif,
        });
    let reader = std::io::BufReader::new(std::io::Cursor::new(input.as_bytes()));
    // pdbtbx reports problems as errors, but it is third-party code reading untrusted input:
    // a panic inside it becomes an error naming the file rather than aborting the caller.
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| options.read_raw(reader)))
        .map_err(|_| {
            Error::file(
                path,
                "the structure reader crashed on this file; it is malformed",
            )
        })?;
    Ok(match read {
        Ok((pdb, _warnings)) => Ok(pdb),
        Err(errors) => {
            let failing: Vec<String> = errors
                .iter()
                .filter(|e| e.fails(pdbtbx::StrictnessLevel::Loose))
                .take(3)
                .map(|e| e.to_string())
                .collect();
            Err(failing.join(" | "))
        }
    })
}

impl Structure {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when the models do not correspond atom by atom and only the first was read.
    pub fn first_model_only(&self) -> bool {
        self.first_model_only
    }

    /// Number of models (NMR ensembles have several).
    pub fn model_count(&self) -> usize {
        self.pdb.model_count()
    }

    /// Chain ids of the first model, in file order.
    pub fn chain_ids(&self) -> Vec<String> {
        self.pdb
            .model(0)
            .map(|m| m.chains().map(|c| c.id().to_string()).collect())
            .unwrap_or_default()
    }

    /// Residues of one chain in one model (0-based model index; the first by default). Without
    /// a chain id the first chain with amino-acid residues is used. A missing chain or model is
    /// an error listing what exists.
    pub fn chain(&self, chain: Option<&str>, model: Option<usize>) -> Result<ChainResidues> {
        let model_index = model.unwrap_or(0);
        if self.first_model_only && model_index > 0 {
            return Err(Error::file(
                &self.path,
                format!(
                    "model {model_index} cannot be read: the models of this file do not \
                     correspond atom by atom, so only the first model (0) was read"
                ),
            ));
        }
        let m = self.pdb.model(model_index).ok_or_else(|| {
            Error::file(
                &self.path,
                format!(
                    "model {model_index} does not exist; the file has {} model(s), numbered \
                     from 0",
                    self.pdb.model_count()
                ),
            )
        })?;
        let chains: Vec<&pdbtbx::Chain> = m.chains().collect();
        let picked = match chain {
            Some(id) => chains.iter().find(|c| c.id() == id).ok_or_else(|| {
                Error::file(
                    &self.path,
                    format!(
                        "chain `{id}` does not exist; chains in model {model_index}: {}. Pass \
                         one of these as `chain`",
                        self.chain_ids().join(", ")
                    ),
                )
            })?,
            None => chains
                .iter()
                .find(|c| !amino_acid_residues(c).is_empty())
                .ok_or_else(|| {
                    Error::file(&self.path, "no chain has amino-acid residues with Cα atoms")
                })?,
        };
        let residues = amino_acid_residues(picked);
        if residues.is_empty() {
            return Err(Error::file(
                &self.path,
                format!(
                    "chain `{}` has no amino-acid residues with Cα atoms (nucleic acid or \
                     ligands only?)",
                    picked.id()
                ),
            ));
        }
        Ok(ChainResidues {
            chain: picked.id().to_string(),
            model: model_index,
            residues,
            reference: self.reference.get(picked.id()).cloned(),
        })
    }
}

impl Structure {
    /// Residues with a complete backbone (N, Cα, C, O) of every chain of the first model, chains
    /// and residues in file order. Polymer residues only: ATOM records, and HETATM residues
    /// (modified residues such as MSE) where they are peptide-bonded to a neighbour, so a free
    /// amino acid ligand is left out. Where backbone atoms have alternate locations, the last in
    /// the file counts, whatever the occupancies: mkdssp 4.2 reads every location and keeps the
    /// last, and taking the highest occupancy instead changed 16 of 55,363 residues' states.
    pub fn backbone(&self) -> Vec<BackboneResidue> {
        let Some(model) = self.pdb.model(0) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for chain in model.chains() {
            // File order, by the residues' first atoms: pdbtbx sorts a chain by number and
            // insertion code when it fills in SEQRES residues, which reverses runs such as
            // IMGT's 112B, 112A, 112 and would break the chain there.
            let mut in_file_order: Vec<(usize, &pdbtbx::Residue)> = chain
                .residues()
                .filter_map(|r| Some((r.atoms().map(pdbtbx::Atom::serial_number).min()?, r)))
                .collect();
            in_file_order.sort_by_key(|(serial, _)| *serial);
            let mut residues: Vec<(BackboneResidue, bool)> = Vec::new();
            for (_, residue) in in_file_order {
                if let Some(found) = backbone_residue(chain.id(), residue) {
                    residues.push(found);
                }
            }
            let bonded =
                |a: &BackboneResidue, b: &BackboneResidue| distance(&a.c, &b.n) <= MAX_PEPTIDE_BOND;
            for k in 0..residues.len() {
                let (residue, hetero) = &residues[k];
                let polymer = !hetero
                    || (k > 0 && bonded(&residues[k - 1].0, residue))
                    || residues
                        .get(k + 1)
                        .is_some_and(|(next, _)| bonded(residue, next));
                if polymer {
                    out.push(residue.clone());
                }
            }
        }
        out
    }
}

/// The backbone of one residue and whether its atoms are HETATM records; None without all four.
fn backbone_residue(chain: &str, residue: &pdbtbx::Residue) -> Option<(BackboneResidue, bool)> {
    let first = residue.conformers().next()?;
    let name = first.name().to_string();
    let mut hetero = false;
    let mut atom = |atom_name: &str| {
        // Conformers of another residue name (microheterogeneity) are other residues.
        let last = residue
            .conformers()
            .filter(|c| c.name() == name)
            .flat_map(|c| c.atoms())
            .rfind(|a| a.name() == atom_name)?;
        hetero |= last.hetero();
        let (x, y, z) = last.pos();
        Some([x, y, z])
    };
    let (n, ca, c, o) = (atom("N")?, atom("CA")?, atom("C")?, atom("O")?);
    Some((
        BackboneResidue {
            chain: chain.to_string(),
            number: residue.serial_number(),
            insertion_code: residue.insertion_code().map(str::to_string),
            code: reference::one_letter(&name),
            name,
            n,
            ca,
            c,
            o,
        },
        hetero,
    ))
}

fn distance(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

fn amino_acid_residues(chain: &pdbtbx::Chain) -> Vec<StructureResidue> {
    let mut out = Vec::new();
    for residue in chain.residues() {
        // First conformer only: alternate locations describe the same residue.
        let Some(conformer) = residue.conformers().next() else {
            continue;
        };
        let atom = |name: &str| {
            conformer.atoms().find(|a| a.name() == name).map(|a| {
                let (x, y, z) = a.pos();
                [x, y, z]
            })
        };
        let Some(ca) = atom("CA") else { continue };
        if atom("N").is_none() && atom("C").is_none() {
            continue;
        }
        let name = conformer.name().to_string();
        out.push(StructureResidue {
            number: residue.serial_number(),
            insertion_code: residue.insertion_code().map(str::to_string),
            code: reference::one_letter(&name),
            name,
            ca,
            cb: atom("CB"),
        });
    }
    out
}

/// One atom of a chain residue (first conformer), for drawing the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct StructureAtom {
    /// Index of the residue in [`ChainResidues::residues`].
    pub residue: usize,
    /// Atom name, e.g. "CA".
    pub name: String,
    /// Element symbol, e.g. "C" (from the name's first letter where the file gives none).
    pub element: String,
    pub pos: [f64; 3],
}

impl Structure {
    /// The pdbtbx chain `chain` was read from.
    fn source_chain(&self, chain: &ChainResidues) -> Result<&pdbtbx::Chain> {
        self.pdb
            .model(chain.model)
            .and_then(|m| m.chains().find(|c| c.id() == chain.chain))
            .ok_or_else(|| {
                Error::file(
                    &self.path,
                    format!(
                        "chain `{}` of model {} is not in this structure (a chain of another                          file?)",
                        chain.chain, chain.model
                    ),
                )
            })
    }

    /// Every atom (first conformer) of the residues of `chain` (from [`Structure::chain`] on this
    /// structure), with the index of its residue in `chain.residues`.
    pub fn chain_atoms(&self, chain: &ChainResidues) -> Result<Vec<StructureAtom>> {
        let source = self.source_chain(chain)?;
        let mut out = Vec::new();
        for (k, residue) in amino_acid_source_residues(source).into_iter().enumerate() {
            let Some(conformer) = residue.conformers().next() else {
                continue;
            };
            for atom in conformer.atoms() {
                let (x, y, z) = atom.pos();
                let element = atom
                    .element()
                    .map(|e| e.symbol().to_string())
                    .unwrap_or_else(|| atom.name().chars().take(1).collect());
                out.push(StructureAtom {
                    residue: k,
                    name: atom.name().to_string(),
                    element,
                    pos: [x, y, z],
                });
            }
        }
        Ok(out)
    }

    /// Writes this structure to `path` (PDB for `.pdb`, mmCIF for `.cif`) with `values` (one per
    /// residue of `chain`, as from [`Structure::chain`]) in the B-factor column of every atom of
    /// those residues, and 0 in every other atom's: the copy PyMOL or ChimeraX colour by
    /// B-factor (`spectrum b`, `color byattribute bfactor`).
    pub fn save_with_b_factors(
        &self,
        chain: &ChainResidues,
        values: &[Option<f64>],
        path: &Path,
    ) -> Result<()> {
        if values.len() != chain.residues.len() {
            return Err(Error::invalid(format!(
                "{} B-factor values for the {} residues of chain {}",
                values.len(),
                chain.residues.len(),
                chain.chain
            )));
        }
        let keys: Vec<(isize, Option<String>)> =
            amino_acid_source_residues(self.source_chain(chain)?)
                .iter()
                .map(|r| (r.serial_number(), r.insertion_code().map(str::to_string)))
                .collect();
        let by_residue: HashMap<(isize, Option<String>), f64> = keys
            .into_iter()
            .zip(values)
            .filter_map(|(key, v)| v.map(|v| (key, v)))
            .collect();
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !matches!(extension, "pdb" | "cif") {
            return Err(Error::file(
                path,
                "the B-factor copy is written as PDB (.pdb) or mmCIF (.cif): name it so",
            ));
        }
        // pdbtbx refuses negative B-factors (relevance has them): every atom is written with 0
        // and the column is filled in the text.
        let mut pdb = self.pdb.clone();
        for atom in pdb.atoms_mut() {
            atom.set_b_factor(0.0).map_err(Error::invalid)?;
        }
        let mut text = Vec::new();
        if extension == "pdb" {
            pdbtbx::save_pdb_raw(
                &pdb,
                std::io::BufWriter::new(&mut text),
                pdbtbx::StrictnessLevel::Loose,
            );
        } else {
            pdbtbx::save_mmcif_raw(&pdb, std::io::BufWriter::new(&mut text));
        }
        let text = String::from_utf8_lossy(&text);
        let value_of = |chain_id: &str, number: &str, insertion: &str| {
            if chain_id != chain.chain {
                return None;
            }
            let number: isize = number.trim().parse().ok()?;
            let insertion = Some(insertion.trim())
                .filter(|c| !c.is_empty() && *c != "?" && *c != ".")
                .map(str::to_string);
            by_residue.get(&(number, insertion)).copied()
        };
        let out = if extension == "pdb" {
            fill_pdb_b_factors(&text, value_of)
        } else {
            fill_mmcif_b_factors(&text, value_of)
        };
        crate::frame::write_atomically(path, out.as_bytes())
    }
}

/// PDB text with columns 61–66 of the ATOM/HETATM records set to `value_of(chain, residue
/// number, insertion code)` (0 where None).
fn fill_pdb_b_factors(text: &str, value_of: impl Fn(&str, &str, &str) -> Option<f64>) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if (line.starts_with("ATOM  ") || line.starts_with("HETATM")) && line.len() >= 66 {
            let value = value_of(line[21..22].trim(), &line[22..26], &line[26..27]).unwrap_or(0.0);
            out.push_str(&line[..60]);
            out.push_str(&format!("{:>6.2}", value.clamp(-999.99, 9999.99)));
            out.push_str(&line[66..]);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// mmCIF text with `_atom_site.B_iso_or_equiv` set to `value_of(auth chain, auth residue
/// number, insertion code)` (0 where None); rows are rewritten with single spaces between
/// values.
fn fill_mmcif_b_factors(text: &str, value_of: impl Fn(&str, &str, &str) -> Option<f64>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut columns: Vec<&str> = Vec::new();
    let mut in_header = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(name) = trimmed.strip_prefix("_atom_site.") {
            if !in_header {
                columns.clear();
                in_header = true;
            }
            columns.push(name.split_whitespace().next().unwrap_or(""));
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let is_row = in_header || !columns.is_empty();
        in_header = false;
        let index = |name: &str| columns.iter().position(|c| *c == name);
        let fields: Vec<&str> = trimmed.split_whitespace().collect();
        match (
            is_row && (trimmed.starts_with("ATOM") || trimmed.starts_with("HETATM")),
            index("B_iso_or_equiv"),
            index("auth_asym_id"),
            index("auth_seq_id"),
        ) {
            (true, Some(b), Some(c), Some(n)) if fields.len() == columns.len() => {
                let insertion = index("pdbx_PDB_ins_code").map_or("", |i| fields[i]);
                let value = value_of(fields[c], fields[n], insertion).unwrap_or(0.0);
                let formatted = format!("{value:.2}");
                let mut fields = fields.clone();
                fields[b] = &formatted;
                out.push_str(&fields.join(" "));
            }
            _ => {
                if !trimmed.starts_with("ATOM") && !trimmed.starts_with("HETATM") {
                    columns.clear();
                }
                out.push_str(line);
            }
        }
        out.push('\n');
    }
    out
}

/// The residues [`amino_acid_residues`] keeps, as pdbtbx residues, in the same order.
fn amino_acid_source_residues(chain: &pdbtbx::Chain) -> Vec<&pdbtbx::Residue> {
    chain
        .residues()
        .filter(|residue| {
            residue.conformers().next().is_some_and(|c| {
                let has = |name: &str| c.atoms().any(|a| a.name() == name);
                has("CA") && (has("N") || has("C"))
            })
        })
        .collect()
}

impl ResidueMapping {
    /// Refuses a mapping whose structure is evidently another protein than the sequence: more
    /// than a tenth of the placed residues (and more than 2) differ in identity. A few
    /// differences (point mutants, engineered residues) pass. `what` names the structure and
    /// chain in the error.
    pub fn require_same_protein(&self, what: &str) -> Result<()> {
        let placed = self.positions.iter().flatten().count();
        if placed == 0 || (self.mismatches > 2 && self.mismatches * 10 > placed) {
            return Err(Error::invalid(format!(
                "{what}: the structure's residues do not match the sequence ({} of {placed} \
                 placed residues differ); give the sequence of this chain (the FASTA the \
                 predictions were made from) or the right chain",
                self.mismatches
            )));
        }
        Ok(())
    }
}

/// How structure residues are placed on sequence positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Numbering {
    /// Align residue identities to the sequence (handles offsets, missing residues and
    /// insertion codes).
    #[default]
    Align,
    /// Author residue number N is sequence position N (insertion codes are refused).
    Author,
}

/// The residues of one chain of one model.
#[derive(Debug, Clone)]
pub struct ChainResidues {
    pub chain: String,
    pub model: usize,
    pub residues: Vec<StructureResidue>,
    /// Full deposited sequence (SEQRES / poly_seq_scheme), one-letter, when the file has it.
    pub reference: Option<String>,
}

/// Where each structure residue sits in a sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct ResidueMapping {
    /// Sequence length.
    pub sequence_len: usize,
    /// For each structure residue: its 1-based sequence position, or `None` if it has none.
    pub positions: Vec<Option<usize>>,
    /// Mapped residues whose one-letter code differs from the sequence's.
    pub mismatches: usize,
    /// Sequence positions without a structure residue (missing / unobserved residues).
    pub missing: Vec<usize>,
}

impl ChainResidues {
    /// The chain's sequence: the deposited one (SEQRES) where the file has it, else the
    /// observed residues.
    pub fn sequence(&self) -> String {
        self.reference
            .clone()
            .unwrap_or_else(|| self.observed_sequence())
    }

    /// One-letter sequence of the observed residues.
    pub fn observed_sequence(&self) -> String {
        self.residues.iter().map(|r| r.code).collect()
    }

    /// Maps residues onto `sequence`, or onto the reference sequence (SEQRES), or onto the
    /// observed residues themselves when there is neither.
    pub fn map_to(&self, sequence: Option<&str>, numbering: Numbering) -> Result<ResidueMapping> {
        let target: String = match (sequence, &self.reference) {
            (Some(s), _) => s.to_ascii_uppercase(),
            (None, Some(r)) => r.clone(),
            (None, None) => self.observed_sequence(),
        };
        let target: Vec<char> = target.chars().collect();
        let positions: Vec<Option<usize>> = match numbering {
            Numbering::Author => self
                .residues
                .iter()
                .map(|r| {
                    if r.insertion_code.is_some() {
                        return Err(Error::invalid(format!(
                            "chain {}: residue {}{} has an insertion code, so author numbers \
                             are not sequence positions; use alignment",
                            self.chain,
                            r.number,
                            r.insertion_code.as_deref().unwrap_or("")
                        )));
                    }
                    Ok(usize::try_from(r.number)
                        .ok()
                        .filter(|&n| n >= 1 && n <= target.len()))
                })
                .collect::<Result<_>>()?,
            Numbering::Align => {
                let observed: Vec<char> = self.residues.iter().map(|r| r.code).collect();
                align::semi_global(&observed, &target)
                    .map_err(|m| Error::invalid(format!("chain {}: {m}", self.chain)))?
                    .into_iter()
                    .map(|p| p.map(|i| i + 1))
                    .collect()
            }
        };
        let mut covered = vec![false; target.len()];
        let mut mismatches = 0;
        for (r, p) in self.residues.iter().zip(&positions) {
            if let Some(p) = p {
                covered[p - 1] = true;
                if r.code != target[p - 1] && r.code != 'X' && target[p - 1] != 'X' {
                    mismatches += 1;
                }
            }
        }
        let missing = (1..=target.len()).filter(|&p| !covered[p - 1]).collect();
        Ok(ResidueMapping {
            sequence_len: target.len(),
            positions,
            mismatches,
            missing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PDB: &str = "\
SEQRES   1 A    5  MET LYS GLY ALA LEU
ATOM      1  N   LYS A   2       0.000   0.000   0.000  1.00  0.00           N
ATOM      2  CA  LYS A   2       1.000   0.000   0.000  1.00  0.00           C
ATOM      3  CB  LYS A   2       1.000   1.000   0.000  1.00  0.00           C
ATOM      4  N   GLY A   3       3.000   0.000   0.000  1.00  0.00           N
ATOM      5  CA  GLY A   3       4.000   0.000   0.000  1.00  0.00           C
ATOM      6  N   LEU A   5      10.000   0.000   0.000  1.00  0.00           N
ATOM      7  CA  LEU A   5      11.000   0.000   0.000  1.00  0.00           C
ATOM      8  CB  LEU A   5      11.000   1.000   0.000  1.00  0.00           C
HETATM    9 CA    CA A 101      20.000   0.000   0.000  1.00  0.00          CA
END
";

    #[test]
    fn chain_residues_map_onto_seqres_with_gaps() {
        let s = parse_structure(PDB.as_bytes(), Path::new("t.pdb")).unwrap();
        assert_eq!(s.chain_ids(), ["A"]);
        let chain = s.chain(Some("A"), None).unwrap();
        assert_eq!(chain.observed_sequence(), "KGL");
        assert_eq!(chain.reference.as_deref(), Some("MKGAL"));
        let mapping = chain.map_to(None, Numbering::Align).unwrap();
        assert_eq!(mapping.positions, [Some(2), Some(3), Some(5)]);
        assert_eq!(mapping.missing, [1, 4]);
        let by_author = chain.map_to(None, Numbering::Author).unwrap();
        assert_eq!(by_author.positions, mapping.positions);
    }

    #[test]
    fn bad_structures_are_errors() {
        let s = parse_structure(PDB.as_bytes(), Path::new("t.pdb")).unwrap();
        let e = s.chain(Some("Z"), None).unwrap_err().to_string();
        assert!(
            e.contains("t.pdb") && e.contains("`Z`") && e.contains("A"),
            "{e}"
        );
        let e = s.chain(None, Some(3)).unwrap_err().to_string();
        assert!(e.contains("model 3"), "{e}");
        assert!(parse_structure(b"", Path::new("e.pdb")).is_err());
        assert!(parse_structure(b"hello\nworld\n", Path::new("e.pdb")).is_err());
        let truncated = &PDB[..200];
        // A cut file either fails clearly or yields what was complete; it never panics.
        if let Ok(s) = parse_structure(truncated.as_bytes(), Path::new("t.pdb")) {
            let _ = s.chain(None, None);
        }
    }
}
