//! The residue tasks of probing, built from annotation files: secondary structure (NetSurfP-2.0
//! CSV), binding sites (JSONL site sets) and antibody regions (IMGT numbering). Each builder
//! returns the proteins as (id, sequence) with one [`ResidueTask`] per label set.

use super::ResidueTask;
use crate::annotation::antibody::{AntibodyNumbering, RegionKind};
use crate::annotation::secondary::{SecondaryStructure, SS3_CLASSES, SS8_CLASSES};
use crate::annotation::SiteSet;
use crate::{Error, Result};

/// Proteins as (id, sequence).
pub type Proteins = Vec<(String, String)>;

/// `ss3` (H, E, C) or `ss8` (H G I E B T S C) on the residues the file marks for evaluation.
pub fn secondary_structure_task(
    proteins: &[SecondaryStructure],
    eight_states: bool,
) -> (Proteins, ResidueTask) {
    let classes: Vec<String> = if eight_states {
        SS8_CLASSES.iter().map(|c| c.to_string()).collect()
    } else {
        SS3_CLASSES.iter().map(|c| c.to_string()).collect()
    };
    let labels = proteins
        .iter()
        .map(|p| {
            let states = if eight_states { &p.ss8 } else { &p.ss3 };
            states
                .iter()
                .zip(&p.evaluated)
                .map(|(&s, &e)| e.then_some(s as u32))
                .collect()
        })
        .collect();
    (
        proteins
            .iter()
            .map(|p| (p.id.clone(), p.sequence.clone()))
            .collect(),
        ResidueTask {
            name: if eight_states { "ss8" } else { "ss3" }.into(),
            classes,
            labels,
            precision_divisor: None,
        },
    )
}

/// `sites`: every residue, 1 at a site and 0 elsewhere; scored with provis' pooled precision
/// at L/20 besides accuracy and F1. A site beyond its sequence is an error.
pub fn sites_task(sets: &[SiteSet]) -> Result<(Proteins, ResidueTask)> {
    let mut labels = Vec::with_capacity(sets.len());
    for set in sets {
        let n = set.sequence.chars().count();
        let mut l = vec![Some(0u32); n];
        for &p in &set.sites {
            if p == 0 || p > n {
                return Err(Error::sequence(
                    &set.id,
                    format!(
                        "site {p} is outside the sequence of {n} residues; sites are 1-based \
                         positions into `sequence`"
                    ),
                ));
            }
            l[p - 1] = Some(1);
        }
        labels.push(l);
    }
    Ok((
        sets.iter()
            .map(|s| (s.id.clone(), s.sequence.clone()))
            .collect(),
        ResidueTask {
            name: "sites".into(),
            classes: vec!["other".into(), "site".into()],
            labels,
            precision_divisor: Some(20.0),
        },
    ))
}

/// `regions_cdr` (framework 0, CDR 1) and `regions_imgt` (FR1 CDR1 FR2 CDR2 FR3 CDR3 FR4) on the
/// residues of the numbered V domains' regions; other residues (tags, constant parts) are not
/// scored.
pub fn region_tasks(numbered: &[AntibodyNumbering]) -> (Proteins, [ResidueTask; 2]) {
    let mut cdr = Vec::with_capacity(numbered.len());
    let mut imgt = Vec::with_capacity(numbered.len());
    for n in numbered {
        let len = n.sequence.chars().count();
        let mut c = vec![None; len];
        let mut i = vec![None; len];
        for region in &n.regions {
            let class = RegionKind::ALL
                .iter()
                .position(|&k| k == region.kind)
                .expect("every kind is listed") as u32;
            for r in region.start.saturating_sub(1)..region.end.min(len) {
                c[r] = Some(u32::from(region.kind.is_cdr()));
                i[r] = Some(class);
            }
        }
        cdr.push(c);
        imgt.push(i);
    }
    let names = ["FR1", "CDR1", "FR2", "CDR2", "FR3", "CDR3", "FR4"];
    (
        numbered
            .iter()
            .map(|n| (n.id.clone(), n.sequence.clone()))
            .collect(),
        [
            ResidueTask {
                name: "regions_cdr".into(),
                classes: vec!["framework".into(), "CDR".into()],
                labels: cdr,
                precision_divisor: None,
            },
            ResidueTask {
                name: "regions_imgt".into(),
                classes: names.iter().map(|s| s.to_string()).collect(),
                labels: imgt,
                precision_divisor: None,
            },
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_labels_and_their_errors() {
        let set = SiteSet {
            id: "p".into(),
            sequence: "MKV".into(),
            sites: vec![2],
        };
        let (proteins, task) = sites_task(std::slice::from_ref(&set)).unwrap();
        assert_eq!(proteins, vec![("p".to_string(), "MKV".to_string())]);
        assert_eq!(task.labels[0], vec![Some(0), Some(1), Some(0)]);
        assert_eq!(task.selection_metric(), "precision_at_l20");
        let bad = SiteSet {
            sites: vec![4],
            ..set
        };
        let e = sites_task(&[bad]).unwrap_err().to_string();
        assert!(e.contains("site 4") && e.contains("3 residues"), "{e}");
    }

    #[test]
    fn regions_label_the_v_domain_only() {
        const VH: &str = "EVQLVESGGGLVQPGRSLRLSCAASGFTFDDYAMHWVRQAPGKGLEWVSAITWNSGHIDYADSVEGRFTISRDNAKNSLYLQMNSLRAEDTAVYYCAKVSYLSTASSLDYWGQGTLVTVSS";
        let tagged = format!("{VH}HHHHHH");
        let n = crate::annotation::antibody::number_imgt("vh", &tagged).unwrap();
        let (_, [cdr, imgt]) = region_tasks(&[n]);
        assert_eq!(cdr.labels[0].len(), tagged.len());
        assert!(cdr.labels[0][VH.len()..].iter().all(Option::is_none));
        // GFTFDDYA is CDR1 (IMGT), starting at residue 26.
        assert_eq!(cdr.labels[0][25], Some(1));
        assert_eq!(imgt.labels[0][25], Some(1));
        assert_eq!(imgt.labels[0][0], Some(0));
        assert_eq!(imgt.labels[0][VH.len() - 1], Some(6));
    }
}
