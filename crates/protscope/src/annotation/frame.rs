//! Polars tables of features and per-residue masks, and joins onto the attention and
//! attribution tables.
//!
//! Residue positions are 1-based. Attribution tables count tokens with 0 for the first special
//! token and 1..n for residues, so a residue's `position` equals its attribution `position`;
//! attention `from`/`to` use the same token numbering. Special tokens get nulls in joins.

use super::{Entry, ResidueMask, FEATURE_TYPES};
use crate::{Error, Result};
use polars::prelude::*;

/// Column name for a feature type in the residue table: "Binding site" -> `binding_site`.
pub fn mask_column_name(feature_type: &str) -> String {
    let mut out = String::with_capacity(feature_type.len());
    for c in feature_type.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_string()
}

/// One row per feature: `accession`, `type`, `start`, `end` (null when unknown),
/// `start_modifier`, `end_modifier`, `description`, `evidence` (joined with ", "), `ligand`,
/// `ligand_id`, `feature_id`, then `entry_name`, `status`. Missing values are null.
pub fn features_frame(entries: &[Entry]) -> Result<DataFrame> {
    let rows: usize = entries.iter().map(|e| e.features.len()).sum();
    let mut accession = Vec::with_capacity(rows);
    let mut entry_name = Vec::with_capacity(rows);
    let mut kind = Vec::with_capacity(rows);
    let mut start = Vec::with_capacity(rows);
    let mut end = Vec::with_capacity(rows);
    let mut start_mod = Vec::with_capacity(rows);
    let mut end_mod = Vec::with_capacity(rows);
    let mut description = Vec::with_capacity(rows);
    let mut status = Vec::with_capacity(rows);
    let mut evidence = Vec::with_capacity(rows);
    let mut ligand = Vec::with_capacity(rows);
    let mut ligand_id = Vec::with_capacity(rows);
    let mut feature_id = Vec::with_capacity(rows);
    for e in entries {
        for f in &e.features {
            accession.push(e.accession.as_str());
            entry_name.push(e.entry_name.as_deref());
            kind.push(f.feature_type.as_str());
            start.push(position_u32(f.start.value)?);
            end.push(position_u32(f.end.value)?);
            start_mod.push(f.start.modifier.as_str());
            end_mod.push(f.end.modifier.as_str());
            description.push(f.description.as_deref());
            status.push(f.status.as_deref());
            evidence.push((!f.evidence.is_empty()).then(|| f.evidence.join(", ")));
            ligand.push(f.ligand.as_deref());
            ligand_id.push(f.ligand_id.as_deref());
            feature_id.push(f.feature_id.as_deref());
        }
    }
    let columns = vec![
        Column::new("accession".into(), accession),
        Column::new("type".into(), kind),
        Column::new("start".into(), start),
        Column::new("end".into(), end),
        Column::new("start_modifier".into(), start_mod),
        Column::new("end_modifier".into(), end_mod),
        Column::new("description".into(), description),
        Column::new("evidence".into(), evidence),
        Column::new("ligand".into(), ligand),
        Column::new("ligand_id".into(), ligand_id),
        Column::new("feature_id".into(), feature_id),
        Column::new("entry_name".into(), entry_name),
        Column::new("status".into(), status),
    ];
    Ok(DataFrame::new(rows, columns)?)
}

fn position_u32(value: Option<usize>) -> Result<Option<u32>> {
    value
        .map(|v| {
            u32::try_from(v).map_err(|_| Error::invalid(format!("feature position {v} too large")))
        })
        .transpose()
}

/// Long per-residue table: `protein`, `position` (1-based, u32), `residue`, then one boolean
/// column per feature type (named by [`mask_column_name`]). Types are the union over `masks`
/// in [`FEATURE_TYPES`] order; a type a protein lacks is `false` for it.
pub fn residue_frame(masks: &[ResidueMask]) -> Result<DataFrame> {
    let mut types: Vec<String> = Vec::new();
    for m in masks {
        for (t, _) in &m.columns {
            if !types.contains(t) {
                types.push(t.clone());
            }
        }
    }
    types.sort_by_key(|t| {
        (
            FEATURE_TYPES
                .iter()
                .position(|k| k.name == t)
                .unwrap_or(FEATURE_TYPES.len()),
            t.clone(),
        )
    });
    let mut names: Vec<String> = Vec::new();
    for t in &types {
        let name = mask_column_name(t);
        if matches!(name.as_str(), "protein" | "position" | "residue") || names.contains(&name) {
            return Err(Error::invalid(format!(
                "feature type `{t}` gives the column name `{name}`, which is already used"
            )));
        }
        names.push(name);
    }
    let rows: usize = masks.iter().map(|m| m.sequence.chars().count()).sum();
    let mut protein = Vec::with_capacity(rows);
    let mut position = Vec::with_capacity(rows);
    let mut residue = Vec::with_capacity(rows);
    let mut flags: Vec<Vec<bool>> = vec![Vec::with_capacity(rows); types.len()];
    for m in masks {
        for (i, c) in m.sequence.chars().enumerate() {
            protein.push(m.protein.as_str());
            position.push(u32::try_from(i + 1).map_err(|_| Error::invalid("sequence too long"))?);
            residue.push(c.to_string());
        }
        for (t, column) in types.iter().zip(flags.iter_mut()) {
            match m.column(t) {
                Some(mask) => column.extend_from_slice(mask),
                None => column.extend(std::iter::repeat_n(false, m.sequence.chars().count())),
            }
        }
    }
    let mut columns = vec![
        Column::new("protein".into(), protein),
        Column::new("position".into(), position),
        Column::new("residue".into(), residue),
    ];
    for (name, values) in names.iter().zip(flags) {
        columns.push(Column::new(name.as_str().into(), values));
    }
    Ok(DataFrame::new(rows, columns)?)
}

/// Residue-table columns cast to `other`'s key types so that joins match.
fn residues_keyed_like(
    residues: &DataFrame,
    other: &DataFrame,
    other_position: &str,
) -> Result<DataFrame> {
    let mut out = residues.clone();
    for (mine, theirs) in [("protein", "protein"), ("position", other_position)] {
        let target = other
            .column(theirs)
            .map_err(|_| Error::invalid(format!("table has no `{theirs}` column to join on")))?
            .dtype()
            .clone();
        let cast = out.column(mine)?.cast(&target)?;
        out.with_column(cast)?;
    }
    Ok(out)
}

fn left_join(left: &DataFrame, right: &DataFrame, left_on: [&str; 2]) -> Result<DataFrame> {
    let mut args = JoinArgs::new(JoinType::Left);
    args.maintain_order = MaintainOrderJoin::Left;
    Ok(left.join(right, left_on, ["protein", "position"], args, None)?)
}

/// Adds the residue table's feature columns to an attribution table (`protein`, `layer`,
/// `head`, `position`, `residue`, `relevance`) by (`protein`, `position`). Rows keep their
/// order; special-token rows get nulls.
pub fn attach_residues_to_attribution(
    attribution: &DataFrame,
    residues: &DataFrame,
) -> Result<DataFrame> {
    let right = residues_keyed_like(residues, attribution, "position")?.drop("residue")?;
    left_join(attribution, &right, ["protein", "position"])
}

/// Which attention end(s) to annotate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionSide {
    /// The attended token (`to`): columns get the suffix `_to`.
    To,
    /// The attending token (`from`): suffix `_from`.
    From,
    /// Both ends.
    Both,
}

/// Adds feature columns to an attention table (`protein`, `layer`, `head`, `from`, `to`,
/// `weight`), joined on (`protein`, `to`) and/or (`protein`, `from`). Each feature column is
/// suffixed `_to` / `_from`; rows keep their order.
pub fn attach_residues_to_attention(
    attention: &DataFrame,
    residues: &DataFrame,
    side: AttentionSide,
) -> Result<DataFrame> {
    let sides: &[&str] = match side {
        AttentionSide::To => &["to"],
        AttentionSide::From => &["from"],
        AttentionSide::Both => &["to", "from"],
    };
    let mut out = attention.clone();
    for &end in sides {
        let mut right = residues_keyed_like(residues, attention, end)?.drop("residue")?;
        let feature_columns: Vec<String> = right
            .get_column_names()
            .iter()
            .map(|n| n.to_string())
            .filter(|n| n != "protein" && n != "position")
            .collect();
        for name in feature_columns {
            right.rename(&name, format!("{name}_{end}").into())?;
        }
        out = left_join(&out, &right, ["protein", end])?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotation::{residue_mask, Feature, FeatureSelection, MaskOptions, Position};

    fn bools(ca: &BooleanChunked) -> Vec<Option<bool>> {
        (0..ca.len()).map(|i| ca.get(i)).collect()
    }

    fn masks() -> Vec<ResidueMask> {
        let entry = Entry {
            accession: "P1".into(),
            sequence: Some("MKV".into()),
            features: vec![
                Feature::new("Binding site", Position::exact(2), Position::exact(2)),
                Feature::new("Active site", Position::unknown(), Position::unknown()),
            ],
            ..Entry::default()
        };
        let sel = FeatureSelection::with_types("Binding site,Active site").unwrap();
        vec![residue_mask(&entry, &sel, None, &MaskOptions::default()).unwrap()]
    }

    #[test]
    fn features_frame_has_nulls_for_unknowns() {
        let mut f = Feature::new("Active site", Position::unknown(), Position::exact(4));
        f.evidence = vec!["ECO:1".into(), "ECO:2".into()];
        let entries = vec![Entry {
            accession: "P1".into(),
            features: vec![f],
            ..Entry::default()
        }];
        let df = features_frame(&entries).unwrap();
        assert_eq!(df.height(), 1);
        assert_eq!(df.column("start").unwrap().null_count(), 1);
        assert_eq!(df.column("end").unwrap().u32().unwrap().get(0), Some(4));
        assert_eq!(
            df.column("start_modifier").unwrap().str().unwrap().get(0),
            Some("unknown")
        );
        assert_eq!(
            df.column("evidence").unwrap().str().unwrap().get(0),
            Some("ECO:1, ECO:2")
        );
        assert_eq!(df.column("ligand").unwrap().null_count(), 1);
    }

    #[test]
    fn residue_frame_and_joins_line_up_on_positions() {
        let residues = residue_frame(&masks()).unwrap();
        let names: Vec<String> = residues
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            names,
            [
                "protein",
                "position",
                "residue",
                "active_site",
                "binding_site"
            ]
        );
        // Attribution: position 0 and 4 are special tokens; 1..3 residues.
        let attribution = df!(
            "protein" => ["P1"; 5],
            "layer" => [0i64; 5],
            "head" => [0i64; 5],
            "position" => [0i64, 1, 2, 3, 4],
            "residue" => ["<cls>", "M", "K", "V", "<eos>"],
            "relevance" => [0.1f32, 0.2, 0.3, 0.4, 0.5],
        )
        .unwrap();
        let joined = attach_residues_to_attribution(&attribution, &residues).unwrap();
        let b = joined.column("binding_site").unwrap().bool().unwrap();
        let got = bools(b);
        assert_eq!(got, [None, Some(false), Some(true), Some(false), None]);
        assert_eq!(joined.column("relevance").unwrap().len(), 5);
        let attention = df!(
            "protein" => ["P1", "P1"],
            "layer" => [0i64, 0],
            "head" => [1i64, 1],
            "from" => [1u32, 2],
            "to" => [2u32, 0],
            "weight" => [0.5f32, 0.5],
        )
        .unwrap();
        let joined =
            attach_residues_to_attention(&attention, &residues, AttentionSide::Both).unwrap();
        let to = bools(joined.column("binding_site_to").unwrap().bool().unwrap());
        let from = bools(joined.column("binding_site_from").unwrap().bool().unwrap());
        assert_eq!(to, [Some(true), None]);
        assert_eq!(from, [Some(false), Some(true)]);
        let err = attach_residues_to_attention(&attribution, &residues, AttentionSide::To);
        assert!(err.is_err());
    }

    #[test]
    fn column_names_are_snake_case() {
        assert_eq!(mask_column_name("Binding site"), "binding_site");
        assert_eq!(mask_column_name("Cross-link"), "cross_link");
        assert_eq!(mask_column_name("Domain [FT]"), "domain_ft");
    }
}
