//! IMGT numbering and framework/CDR regions of antibody variable domains.
//!
//! [`number_imgt`] finds the V domain inside a sequence (tags, signal peptides or a constant
//! region around it are left out), tells its chain type (heavy, kappa, lambda), gives each of its
//! residues an IMGT position (with insertion letter where the scheme needs one) and cuts it into
//! the IMGT regions FR1 (1-26), CDR1 (27-38), FR2 (39-55), CDR2 (56-65), FR3 (66-104), CDR3
//! (105-117) and FR4 (118-128). [`AntibodyNumbering::to_entry`] turns the regions into
//! [`Entry`]/[`Feature`] values (type "Region", descriptions `FR1`…`FR4`, `CDR-H1`…`CDR-L3`) that
//! join like UniProt features.
//!
//! Method: the sequence is aligned to per-position profiles of IMGT-gapped germline V- and
//! J-REGIONs of each chain type (BLOSUM62 averaged over the germline residues at each IMGT
//! position), with framework gaps priced by how often the germlines leave the position empty and
//! CDRs numbered by IMGT's symmetric rule for their length. See `align.rs` for the details and
//! `scripts/make_imgt_fixtures.py` for the germline data. The results are checked against ANARCI
//! in `tests/integration/regions.rs`.
//!
//! Not numbered (returned as [`NotAntibody`] with the reason): empty or very short sequences,
//! letters that are not amino acids, sequences that do not align well to any antibody framework,
//! and T-cell receptor variable domains (recognised by their own germline profiles and refused).
//! A sequence with two V domains (an scFv) gets the better-scoring one.

mod align;
pub mod cdr;
mod profile;

pub use cdr::{antibodies_frame, cdr_indicators, cdr_sites, has_cdr3, CdrSites, CDR_PROPERTIES};

use super::{Entry, Feature, Position};
use align::{Alignment, Cdr, Placed};
use polars::prelude::{Column, DataFrame};
use profile::Locus;
use rayon::prelude::*;
use std::fmt;

/// Alignment score below which a sequence is not taken for an antibody V domain. Measured (see
/// `tests/integration/regions.rs`): the 752 antibody chains of the ANARCI fixture, germline
/// V-REGIONs of six species included, score 169 and up; the 1,416 other proteins of the provis
/// binding-site set score at most 62.
pub const MIN_SCORE: f32 = 120.0;

/// Sequences shorter than this cannot hold a V domain (germline V-REGIONs have 95-104 residues).
pub const MIN_LENGTH: usize = 70;

/// Antibody chain type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChainType {
    Heavy,
    Kappa,
    Lambda,
}

impl ChainType {
    /// ANARCI's and IMGT's one-letter code: `H`, `K`, `L`.
    pub fn code(self) -> &'static str {
        match self {
            ChainType::Heavy => "H",
            ChainType::Kappa => "K",
            ChainType::Lambda => "L",
        }
    }

    /// Letter in CDR names: `H` for heavy, `L` for kappa and lambda.
    pub fn cdr_letter(self) -> char {
        match self {
            ChainType::Heavy => 'H',
            ChainType::Kappa | ChainType::Lambda => 'L',
        }
    }
}

impl fmt::Display for ChainType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChainType::Heavy => "heavy",
            ChainType::Kappa => "kappa",
            ChainType::Lambda => "lambda",
        })
    }
}

/// One IMGT position: number 1-128 and an insertion letter (`111A`) where the scheme needs one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ImgtPosition {
    pub number: u8,
    pub insertion: Option<char>,
}

impl fmt::Display for ImgtPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number)?;
        if let Some(letter) = self.insertion {
            write!(f, "{letter}")?;
        }
        Ok(())
    }
}

/// A residue of the given sequence with its IMGT position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberedResidue {
    /// 1-based position in the given sequence.
    pub index: usize,
    /// The residue as written in the sequence (case kept).
    pub residue: char,
    pub position: ImgtPosition,
}

/// The seven IMGT regions of a V domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegionKind {
    Fr1,
    Cdr1,
    Fr2,
    Cdr2,
    Fr3,
    Cdr3,
    Fr4,
}

impl RegionKind {
    pub const ALL: [RegionKind; 7] = [
        RegionKind::Fr1,
        RegionKind::Cdr1,
        RegionKind::Fr2,
        RegionKind::Cdr2,
        RegionKind::Fr3,
        RegionKind::Cdr3,
        RegionKind::Fr4,
    ];

    /// First and last IMGT position of the region.
    pub fn imgt_range(self) -> (u8, u8) {
        match self {
            RegionKind::Fr1 => (1, 26),
            RegionKind::Cdr1 => (27, 38),
            RegionKind::Fr2 => (39, 55),
            RegionKind::Cdr2 => (56, 65),
            RegionKind::Fr3 => (66, 104),
            RegionKind::Cdr3 => (105, 117),
            RegionKind::Fr4 => (118, 128),
        }
    }

    pub fn is_cdr(self) -> bool {
        matches!(self, RegionKind::Cdr1 | RegionKind::Cdr2 | RegionKind::Cdr3)
    }

    /// Feature description: `FR1`…`FR4`, `CDR-H1`…`CDR-H3` or `CDR-L1`…`CDR-L3`.
    pub fn label(self, chain: ChainType) -> String {
        let letter = chain.cdr_letter();
        match self {
            RegionKind::Fr1 => "FR1".into(),
            RegionKind::Fr2 => "FR2".into(),
            RegionKind::Fr3 => "FR3".into(),
            RegionKind::Fr4 => "FR4".into(),
            RegionKind::Cdr1 => format!("CDR-{letter}1"),
            RegionKind::Cdr2 => format!("CDR-{letter}2"),
            RegionKind::Cdr3 => format!("CDR-{letter}3"),
        }
    }
}

/// A region as 1-based, inclusive residue positions in the given sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub kind: RegionKind,
    pub start: usize,
    pub end: usize,
}

/// IMGT numbering of the V domain found in one sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct AntibodyNumbering {
    /// Record id (FASTA id).
    pub id: String,
    /// The sequence as given.
    pub sequence: String,
    pub chain: ChainType,
    /// First and last residue of the V domain, 1-based, inclusive.
    pub domain_start: usize,
    pub domain_end: usize,
    /// Alignment score against the chain type's germline profile (see [`MIN_SCORE`]).
    pub score: f32,
    /// Numbered residues, in sequence order.
    pub residues: Vec<NumberedResidue>,
    /// Regions present, in sequence order. A CDR is given only with framework residues on both
    /// sides (a germline V-REGION, which stops in CDR3, has no CDR3 and no FR4).
    pub regions: Vec<Region>,
}

impl AntibodyNumbering {
    pub fn region(&self, kind: RegionKind) -> Option<&Region> {
        self.regions.iter().find(|r| r.kind == kind)
    }

    /// The residues of a region as written in the sequence.
    pub fn region_sequence(&self, kind: RegionKind) -> Option<&str> {
        let r = self.region(kind)?;
        self.sequence.get(r.start - 1..r.end)
    }

    /// The regions as an [`Entry`] (accession = id) with one "Region" feature each.
    pub fn to_entry(&self) -> Entry {
        Entry {
            accession: self.id.clone(),
            sequence: Some(self.sequence.clone()),
            features: self
                .regions
                .iter()
                .map(|r| {
                    let mut f =
                        Feature::new("Region", Position::exact(r.start), Position::exact(r.end));
                    f.description = Some(r.kind.label(self.chain));
                    f
                })
                .collect(),
            ..Entry::default()
        }
    }
}

/// A sequence that was not numbered, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct NotAntibody {
    pub id: String,
    pub reason: String,
    /// Score of the best alignment to an antibody framework, where one was made.
    pub best_score: Option<f32>,
}

impl fmt::Display for NotAntibody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: not an antibody variable domain: {}",
            self.id, self.reason
        )
    }
}

impl std::error::Error for NotAntibody {}

/// Numbers the antibody V domain in `sequence` (IMGT scheme). Never panics on any input.
pub fn number_imgt(id: &str, sequence: &str) -> Result<AntibodyNumbering, NotAntibody> {
    let refuse = |reason: String| NotAntibody {
        id: id.to_string(),
        reason,
        best_score: None,
    };
    let refuse_scored = |reason: String, score: f32| NotAntibody {
        best_score: Some(score),
        ..refuse(reason)
    };
    if sequence.trim().is_empty() {
        return Err(refuse("the sequence is empty".into()));
    }
    if let Some((at, c)) = sequence
        .chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii_alphabetic())
    {
        return Err(refuse(format!(
            "character `{c}` at position {} is not an amino-acid letter",
            at + 1
        )));
    }
    if sequence.len() < MIN_LENGTH {
        return Err(refuse(format!(
            "too short: {} residues (a V domain has about 90-130, a germline V-REGION at least 95)",
            sequence.len()
        )));
    }
    let query = sequence.as_bytes();
    let (antibody, receptor) = align_all(query);
    let Some(mut best) = antibody else {
        return Err(refuse("nothing aligns to an antibody framework".into()));
    };
    if let Some(tcr) = receptor {
        if tcr.score > best.score && tcr.score >= MIN_SCORE {
            let name = match tcr.locus {
                Locus::A => "alpha",
                Locus::B => "beta",
                Locus::G => "gamma",
                _ => "delta",
            };
            return Err(refuse_scored(
                format!(
                    "T-cell receptor {name} variable domain (score {:.0} against TCR {name} \
                     germlines, {:.0} against antibody ones); T-cell receptors are not numbered",
                    tcr.score, best.score
                ),
                best.score,
            ));
        }
    }
    if best.score < MIN_SCORE {
        return Err(refuse_scored(
            format!(
                "best alignment to the IMGT germline frameworks scores {:.0} (needs {MIN_SCORE:.0})",
                best.score
            ),
            best.score,
        ));
    }
    // Two V domains in one chain (an scFv, a tandem construct): the N-terminal one is numbered,
    // the one ANARCI lists first.
    while let Some(start) = best.placed.first().map(|p| p.index) {
        if start < MIN_LENGTH {
            break;
        }
        match align_all(&query[..start]) {
            (Some(before), tcr)
                if before.score >= MIN_SCORE
                    && tcr.as_ref().is_none_or(|t| t.score <= before.score) =>
            {
                best = before
            }
            _ => break,
        }
    }
    without_unsupported_cdr3(&mut best, query);
    let chain = match best.locus {
        Locus::H => ChainType::Heavy,
        Locus::K => ChainType::Kappa,
        _ => ChainType::Lambda,
    };
    // The conserved core of a V domain: Cys 23, Trp 41, Cys 104. Engineered antibodies may lack
    // the disulfide (both Cys) or Trp 41, so one of the three is enough next to the score.
    let anchors = [(23u8, b'C'), (41, b'W'), (104, b'C')];
    let found: Vec<u8> = anchors
        .iter()
        .filter(|&&(number, letter)| {
            best.placed.iter().any(|p| {
                p.number == number
                    && p.insertion.is_none()
                    && query[p.index].eq_ignore_ascii_case(&letter)
            })
        })
        .map(|&(number, _)| number)
        .collect();
    if found.is_empty() {
        return Err(refuse_scored(
            "none of the conserved Cys 23, Trp 41 and Cys 104 of a V domain aligned".into(),
            best.score,
        ));
    }

    let residues: Vec<NumberedResidue> = best
        .placed
        .iter()
        .map(|p| NumberedResidue {
            index: p.index + 1,
            residue: char::from(query[p.index]),
            position: ImgtPosition {
                number: p.number,
                insertion: p.insertion,
            },
        })
        .collect();
    let mut regions = Vec::new();
    for kind in RegionKind::ALL {
        let (first, last) = kind.imgt_range();
        if kind.is_cdr() {
            let cdr = match kind {
                RegionKind::Cdr1 => Cdr::One,
                RegionKind::Cdr2 => Cdr::Two,
                _ => Cdr::Three,
            };
            if let Some(&(_, start, end)) = best.complete_cdrs.iter().find(|c| c.0 == cdr) {
                if end > start {
                    regions.push(Region {
                        kind,
                        start: start + 1,
                        end,
                    });
                }
            }
            continue;
        }
        let inside = || {
            residues
                .iter()
                .filter(|r| (first..=last).contains(&r.position.number))
                .map(|r| r.index)
        };
        if let (Some(start), Some(end)) = (inside().min(), inside().max()) {
            regions.push(Region { kind, start, end });
        }
    }
    let (Some(first), Some(last)) = (residues.first(), residues.last()) else {
        return Err(refuse("no residue aligned".into()));
    };
    Ok(AntibodyNumbering {
        id: id.to_string(),
        sequence: sequence.to_string(),
        chain,
        domain_start: first.index,
        domain_end: last.index,
        score: best.score,
        regions,
        residues,
    })
}

/// The best antibody (H, K, L) and the best T-cell receptor alignment of `query`.
fn align_all(query: &[u8]) -> (Option<Alignment>, Option<Alignment>) {
    let mut antibody: Option<Alignment> = None;
    let mut receptor: Option<Alignment> = None;
    for profile in profile::profiles() {
        let Some(a) = align::align(profile, query) else {
            continue;
        };
        let slot = if matches!(a.locus, Locus::H | Locus::K | Locus::L) {
            &mut antibody
        } else {
            &mut receptor
        };
        if slot.as_ref().is_none_or(|b| a.score > b.score) {
            *slot = Some(a);
        }
    }
    (antibody, receptor)
}

/// FR4 score (summed profile scores of the FR4 residues) below which the residues after CDR3
/// are not taken for a J region: about five well-matched residues of W/F-G-x-G-T-x-V-x-V.
const MIN_FR4_SCORE: f32 = 20.0;

/// Without a J region after it, CDR3 is not complete: a germline V-REGION stops a few residues
/// into it, and the alignment's free end may have matched those residues to the first FR4
/// columns. Then no CDR3 or FR4 is given, and when the sequence ends within CDR3's 13 positions
/// after Cys 104, its last residues are numbered 105, 106, … as IMGT numbers a V-REGION's end.
fn without_unsupported_cdr3(alignment: &mut Alignment, query: &[u8]) {
    if alignment.fr4_score >= MIN_FR4_SCORE {
        return;
    }
    alignment.complete_cdrs.retain(|c| c.0 != Cdr::Three);
    alignment.placed.retain(|p| p.number <= 104);
    let Some(last) = alignment.placed.last().map(|p| p.index) else {
        return;
    };
    let tail = query.len() - (last + 1);
    if alignment.placed.last().map(|p| p.number) == Some(104) && tail <= 13 {
        for (t, index) in (last + 1..query.len()).enumerate() {
            alignment.placed.push(Placed {
                index,
                number: 105 + t as u8,
                insertion: None,
                framework_match: false,
            });
        }
    }
}

/// Long per-residue table of IMGT numbers, keyed like the residue and attribution tables:
/// `protein` (record id), `position` (1-based in the given sequence, u32), `residue`, `chain`
/// (`H`, `K`, `L`), `imgt` (`"111A"`), `imgt_number` (u32), `imgt_insertion` (null when none),
/// `region` (`FR1`…`CDR-L3`; null for residues in no region given, e.g. a V-REGION's last
/// residues after IMGT 104). Residues outside the V domain have no row.
pub fn positions_frame(numbered: &[AntibodyNumbering]) -> crate::Result<DataFrame> {
    let rows: usize = numbered.iter().map(|n| n.residues.len()).sum();
    let mut protein = Vec::with_capacity(rows);
    let mut position = Vec::with_capacity(rows);
    let mut residue = Vec::with_capacity(rows);
    let mut chain = Vec::with_capacity(rows);
    let mut imgt = Vec::with_capacity(rows);
    let mut imgt_number = Vec::with_capacity(rows);
    let mut imgt_insertion = Vec::with_capacity(rows);
    let mut region = Vec::with_capacity(rows);
    for n in numbered {
        let labels: Vec<(Region, String)> = n
            .regions
            .iter()
            .map(|r| (*r, r.kind.label(n.chain)))
            .collect();
        for r in &n.residues {
            protein.push(n.id.clone());
            position.push(u32::try_from(r.index).map_err(|_| {
                crate::Error::invalid(format!("{}: position {} too large", n.id, r.index))
            })?);
            residue.push(r.residue.to_string());
            chain.push(n.chain.code());
            imgt.push(r.position.to_string());
            imgt_number.push(u32::from(r.position.number));
            imgt_insertion.push(r.position.insertion.map(String::from));
            region.push(
                labels
                    .iter()
                    .find(|(g, _)| (g.start..=g.end).contains(&r.index))
                    .map(|(_, label)| label.clone()),
            );
        }
    }
    let columns = vec![
        Column::new("protein".into(), protein),
        Column::new("position".into(), position),
        Column::new("residue".into(), residue),
        Column::new("chain".into(), chain),
        Column::new("imgt".into(), imgt),
        Column::new("imgt_number".into(), imgt_number),
        Column::new("imgt_insertion".into(), imgt_insertion),
        Column::new("region".into(), region),
    ];
    Ok(DataFrame::new(rows, columns)?)
}

/// Numbering of many sequences: those numbered, and those skipped with their reason.
#[derive(Debug, Clone, Default)]
pub struct RegionAnnotations {
    pub numbered: Vec<AntibodyNumbering>,
    pub skipped: Vec<NotAntibody>,
}

impl RegionAnnotations {
    /// One [`Entry`] per numbered sequence, for [`super::features_frame`].
    pub fn entries(&self) -> Vec<Entry> {
        self.numbered
            .iter()
            .map(AntibodyNumbering::to_entry)
            .collect()
    }
}

/// Numbers every `(id, sequence)` (in parallel); the input order is kept in both lists.
pub fn annotate_regions<I, S, T>(records: I) -> RegionAnnotations
where
    I: IntoIterator<Item = (S, T)>,
    S: AsRef<str> + Send + Sync,
    T: AsRef<str> + Send + Sync,
{
    let records: Vec<(S, T)> = records.into_iter().collect();
    let results: Vec<Result<AntibodyNumbering, NotAntibody>> = records
        .par_iter()
        .map(|(id, seq)| number_imgt(id.as_ref(), seq.as_ref()))
        .collect();
    let mut out = RegionAnnotations::default();
    for r in results {
        match r {
            Ok(n) => out.numbered.push(n),
            Err(e) => out.skipped.push(e),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADALIMUMAB_VH: &str = "EVQLVESGGGLVQPGRSLRLSCAASGFTFDDYAMHWVRQAPGKGLEWVSAITWNSGHIDYADSVEGRFTISRDNAKNSLYLQMNSLRAEDTAVYYCAKVSYLSTASSLDYWGQGTLVTVSS";
    const ADALIMUMAB_VL: &str = "DIQMTQSPSSLSASVGDRVTITCRASQGIRNYLAWYQQKPGKAPKLLIYAASTLQSGVPSRFSGSGSGTDFTLTISSLQPEDVATYYCQRYNRAPYTFGQGTKVEIK";

    fn cdrs(n: &AntibodyNumbering) -> Vec<Option<&str>> {
        [RegionKind::Cdr1, RegionKind::Cdr2, RegionKind::Cdr3]
            .into_iter()
            .map(|k| n.region_sequence(k))
            .collect()
    }

    #[test]
    fn numbers_heavy_and_kappa_domains() {
        let vh = number_imgt("vh", ADALIMUMAB_VH).unwrap();
        assert_eq!(vh.chain, ChainType::Heavy);
        assert_eq!(
            cdrs(&vh),
            [Some("GFTFDDYA"), Some("ITWNSGHI"), Some("AKVSYLSTASSLDY")]
        );
        assert_eq!((vh.domain_start, vh.domain_end), (1, ADALIMUMAB_VH.len()));
        let c23 = vh.residues.iter().find(|r| r.residue == 'C').unwrap();
        assert_eq!(c23.position.to_string(), "23");
        let vl = number_imgt("vl", ADALIMUMAB_VL).unwrap();
        assert_eq!(vl.chain, ChainType::Kappa);
        assert_eq!(cdrs(&vl), [Some("QGIRNY"), Some("AAS"), Some("QRYNRAPYT")]);
        let entry = vl.to_entry();
        let labels: Vec<&str> = entry
            .features
            .iter()
            .filter_map(|f| f.description.as_deref())
            .collect();
        assert_eq!(
            labels,
            ["FR1", "CDR-L1", "FR2", "CDR-L2", "FR3", "CDR-L3", "FR4"]
        );
        assert!(entry.features.iter().all(|f| f.feature_type == "Region"));
    }

    #[test]
    fn lower_case_and_tags_do_not_move_the_regions() {
        let lower = number_imgt("x", &ADALIMUMAB_VH.to_ascii_lowercase()).unwrap();
        assert_eq!(lower.region_sequence(RegionKind::Cdr1), Some("gftfddya"));
        let tagged = format!("MGSSHHHHHHSSG{ADALIMUMAB_VH}ASTKGPSVFPLAPSSKGGHHHHHH");
        let n = number_imgt("tagged", &tagged).unwrap();
        assert_eq!(n.domain_start, 14);
        assert_eq!(
            cdrs(&n),
            [Some("GFTFDDYA"), Some("ITWNSGHI"), Some("AKVSYLSTASSLDY")]
        );
        let plain = number_imgt("plain", ADALIMUMAB_VH).unwrap();
        for (a, b) in n.regions.iter().zip(&plain.regions) {
            assert_eq!((a.start, a.end), (b.start + 13, b.end + 13), "{:?}", a.kind);
        }
    }

    #[test]
    fn germline_v_region_has_no_cdr3_or_fr4() {
        // Human IGHV3-23*01 V-REGION: ends two residues into CDR3.
        let germline = "EVQLLESGGGLVQPGGSLRLSCAASGFTFSSYAMSWVRQAPGKGLEWVSAISGSGGSTYYADSVKGRFTISRDNSKNTLYLQMNSLRAEDTAVYYCAK";
        let n = number_imgt("IGHV3-23", germline).unwrap();
        assert_eq!(n.chain, ChainType::Heavy);
        let kinds: Vec<RegionKind> = n.regions.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [
                RegionKind::Fr1,
                RegionKind::Cdr1,
                RegionKind::Fr2,
                RegionKind::Cdr2,
                RegionKind::Fr3
            ]
        );
        assert_eq!(n.region_sequence(RegionKind::Cdr2), Some("ISGSGGST"));
        assert_eq!(n.region(RegionKind::Fr3).unwrap().end, germline.len() - 2);
    }

    #[test]
    fn kappa_germline_end_is_not_taken_for_fr4() {
        // Human IGKV1-39*01 V-REGION: ends `QQSYSTP`, 7 residues into CDR3 and no J region.
        let germline = "DIQMTQSPSSLSASVGDRVTITCRASQSISSYLNWYQQKPGKAPKLLIYAASSLQSGVPSRFSGSGSGTDFTLTISSLQPEDFATYYCQQSYSTP";
        let n = number_imgt("IGKV1-39", germline).unwrap();
        assert_eq!(n.chain, ChainType::Kappa);
        assert_eq!(cdrs(&n), [Some("QSISSY"), Some("AAS"), None]);
        assert!(n.region(RegionKind::Fr4).is_none());
        let tail: Vec<String> = n.residues[n.residues.len() - 7..]
            .iter()
            .map(|r| r.position.to_string())
            .collect();
        assert_eq!(tail, ["105", "106", "107", "108", "109", "110", "111"]);
    }

    #[test]
    fn t_cell_receptors_are_refused() {
        // Human TRBV7-9*02 V-REGION (an allele the profiles leave out), a CDR3 end and TRBJ2-7.
        let tcr_beta = "DTGVSQNPRHNITKRGQNVTFRCDPISEHNRLYWYRQTLGQGPEFLTYFQNEAQLEKSRLLSDRFSAERPKGSFSTLEIQRTEQGDSAMYLCASSLGQGASYEQYFGPGTRLTVT";
        let e = number_imgt("tcr", tcr_beta).unwrap_err();
        assert!(e.reason.contains("T-cell receptor beta"), "{e}");
        assert!(e.best_score.is_some());
    }

    #[test]
    fn framework_insertions_get_letters_in_sequence_order() {
        // Two extra residues inside FR3 of Adalimumab VH (after `RFTISRDNAKNS`, IMGT 74-85).
        let at = ADALIMUMAB_VH.find("RFTISRDNAKNS").unwrap() + 12;
        let insert = format!("{}WW{}", &ADALIMUMAB_VH[..at], &ADALIMUMAB_VH[at..]);
        let n = number_imgt("ins", &insert).unwrap();
        assert!(n.residues.windows(2).all(|w| w[0].index < w[1].index));
        let lettered: Vec<String> = n
            .residues
            .iter()
            .filter(|r| r.position.insertion.is_some() && r.position.number < 105)
            .map(|r| r.position.to_string())
            .collect();
        assert_eq!(lettered, ["86A", "86B"]);
        assert_eq!(
            cdrs(&n),
            [Some("GFTFDDYA"), Some("ITWNSGHI"), Some("AKVSYLSTASSLDY")]
        );
    }

    #[test]
    fn scfv_numbers_the_n_terminal_domain() {
        let scfv = format!("{ADALIMUMAB_VL}GGGGSGGGGSGGGGS{ADALIMUMAB_VH}");
        let n = number_imgt("scfv", &scfv).unwrap();
        assert_eq!(n.chain, ChainType::Kappa);
        assert_eq!(n.domain_start, 1);
        assert_eq!(n.region_sequence(RegionKind::Cdr3), Some("QRYNRAPYT"));
    }

    #[test]
    fn non_antibodies_are_refused_with_a_reason() {
        let cases = [
            ("empty", ""),
            ("blank", "   "),
            ("short", "EVQLVESGGGLVQPGRSLRLSCAAS"),
            ("digits", "EVQLVESGGG1VQPGRSLRLSCAASGFTFDDYAMHWVRQAPGKGLEWVSAITWNSGHIDYADSVEGRFTISRDNAKN"),
            // Human ubiquitin x2: a real protein, not an antibody.
            ("ubiquitin", "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGGMQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG"),
            ("repeat", &"ACDEFGHIKLMNPQRSTVWY".repeat(8)),
        ];
        for (id, seq) in cases {
            let e = number_imgt(id, seq).unwrap_err();
            assert_eq!(e.id, id);
            assert!(
                e.to_string().contains("not an antibody variable domain"),
                "{e}"
            );
        }
        assert!(number_imgt("e", "").unwrap_err().reason.contains("empty"));
        assert!(number_imgt("s", "EVQLVES")
            .unwrap_err()
            .reason
            .contains("too short"));
    }

    #[test]
    fn arbitrary_input_never_panics() {
        // Deterministic pseudo-random letters (any case, non-amino-acid letters, non-ASCII) and
        // point mutations / truncations of a real domain.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet: Vec<char> = "ACDEFGHIKLMNPQRSTVWYXBZUOacdefwy*-. é".chars().collect();
        for round in 0..200 {
            let len = (next() % 400) as usize;
            let random: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let _ = number_imgt("random", &random);
            let mut mutated: Vec<u8> = ADALIMUMAB_VH.bytes().collect();
            for _ in 0..round % 40 {
                let at = (next() % mutated.len() as u64) as usize;
                mutated[at] = b"ACDEFGHIKLMNPQRSTVWYX"[(next() % 21) as usize];
            }
            let cut = (next() % mutated.len() as u64) as usize;
            let text = String::from_utf8(mutated).unwrap();
            if let Ok(n) = number_imgt("mutated", &text[cut / 4..]) {
                assert!(n.residues.windows(2).all(|w| w[0].index < w[1].index));
                for r in &n.regions {
                    assert!(r.start >= 1 && r.start <= r.end && r.end <= n.sequence.len());
                }
            }
        }
    }

    #[test]
    fn positions_table_has_one_row_per_numbered_residue() {
        let vl = number_imgt("vl", ADALIMUMAB_VL).unwrap();
        let df = positions_frame(std::slice::from_ref(&vl)).unwrap();
        assert_eq!(df.height(), ADALIMUMAB_VL.len());
        let imgt = df.column("imgt").unwrap().str().unwrap();
        let region = df.column("region").unwrap().str().unwrap();
        // C23 is the 23rd residue; Q27 starts CDR-L1; kappa has no IMGT 128.
        assert_eq!(imgt.get(22), Some("23"));
        assert_eq!(region.get(26), Some("CDR-L1"));
        assert_eq!(imgt.get(ADALIMUMAB_VL.len() - 1), Some("127"));
    }

    #[test]
    fn batches_keep_order_and_split_skipped() {
        let out = annotate_regions([("a", ADALIMUMAB_VH), ("b", "MKV"), ("c", ADALIMUMAB_VL)]);
        let ids: Vec<&str> = out.numbered.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["a", "c"]);
        assert_eq!(out.skipped.len(), 1);
        assert_eq!(out.entries().len(), 2);
    }
}
