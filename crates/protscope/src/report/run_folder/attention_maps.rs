//! The "Attention maps" section: one head's residue × residue attention for the hinted
//! proteins, with contacts drawn over it where a contacts table has the protein.

use std::collections::{BTreeMap, HashMap};

use super::{file_safe, Builder, RunTable, TableKind};
use crate::frame::columns::{floats, integers, texts};
use crate::report::reading;
use crate::{plot, Result};

impl Builder<'_> {
    pub(super) fn attention_maps(&mut self) -> Result<()> {
        let tables: Vec<&RunTable> = self.of_kind(TableKind::AttentionEdges).collect();
        if tables.is_empty() {
            return Ok(());
        }
        let residues = self.residues_by_protein()?;
        let contacts: Vec<&RunTable> = self.of_kind(TableKind::Contacts).collect();
        self.report.section("Attention maps");
        if let Some(text) = self.hints.attention_maps.clone() {
            self.report.paragraph(text);
        }
        let mut drawn = 0;
        for table in tables {
            let what = table.path.display().to_string();
            let df = &table.frame;
            let protein = texts(df, &what, "protein")?;
            let layer = integers(df, &what, "layer")?;
            let head = integers(df, &what, "head")?;
            let from = integers(df, &what, "from")?;
            let to = integers(df, &what, "to")?;
            let weight = floats(df, &what, "weight")?;
            let mut groups: BTreeMap<(String, i64, i64), Vec<usize>> = BTreeMap::new();
            let mut order = Vec::new();
            for i in 0..df.height() {
                let key = (protein[i].clone(), layer[i], head[i]);
                if !groups.contains_key(&key) {
                    order.push(key.clone());
                }
                groups.entry(key).or_default().push(i);
            }
            for key in order {
                if drawn >= self.options.max_attention_maps {
                    break;
                }
                let rows = &groups[&key];
                let n = rows
                    .iter()
                    .map(|&i| from[i].max(to[i]))
                    .max()
                    .unwrap_or(0)
                    .max(0) as usize;
                let sequence = residues
                    .get(&key.0)
                    .cloned()
                    .filter(|s| s.chars().count() >= n)
                    .unwrap_or_else(|| "X".repeat(n));
                let n = sequence.chars().count();
                let mut matrix = vec![0f32; n * n];
                for &i in rows {
                    let (f, t) = (from[i] - 1, to[i] - 1);
                    if f >= 0 && t >= 0 && (f as usize) < n && (t as usize) < n {
                        matrix[f as usize * n + t as usize] = weight[i] as f32;
                    }
                }
                let contact_map = contact_matrix(&contacts, &key.0, n)?;
                let mut map = plot::AttentionMap::new(
                    key.1.max(0) as usize,
                    key.2.max(0) as usize,
                    &sequence,
                    matrix,
                );
                if let Some(contacts) = contact_map {
                    map = map.with_contacts(contacts, "contact (from the structure)");
                }
                let figure = plot::attention_map(
                    &format!(
                        "attention_{}_{}",
                        file_safe(&key.0),
                        reading::head_label(key.1, key.2)
                    ),
                    &format!(
                        "{}: attention of head {}",
                        key.0,
                        reading::head_label(key.1, key.2)
                    ),
                    &map,
                )?;
                self.add_figure(
                    figure,
                    format!(
                        "Attention weights of layer {} head {} (row: attending residue, column: \
                         attended residue; special tokens removed, not renormalised).{}",
                        key.1 + 1,
                        key.2 + 1,
                        self.params_text(&["attention"])
                    ),
                )?;
                drawn += 1;
            }
        }
        Ok(())
    }

    /// Residue letters of each protein, from the embedding-level rows of attribution tables.
    pub(super) fn residues_by_protein(&self) -> Result<HashMap<String, String>> {
        let mut out = HashMap::new();
        for t in self.of_kind(TableKind::Attribution) {
            if t.frame.column("residue").is_err() {
                continue;
            }
            let what = t.path.display().to_string();
            let protein = texts(&t.frame, &what, "protein")?;
            let layer = integers(&t.frame, &what, "layer")?;
            let position = integers(&t.frame, &what, "position")?;
            let residue = texts(&t.frame, &what, "residue")?;
            let mut letters: HashMap<String, BTreeMap<i64, String>> = HashMap::new();
            for i in 0..t.frame.height() {
                if layer[i] == -1 {
                    letters
                        .entry(protein[i].clone())
                        .or_default()
                        .insert(position[i], residue[i].clone());
                }
            }
            for (p, by_pos) in letters {
                let n = by_pos.len().saturating_sub(2) as i64;
                let seq: String = (1..=n)
                    .map(|i| {
                        by_pos
                            .get(&i)
                            .and_then(|r| r.chars().next().filter(|c| c.is_ascii_alphabetic()))
                            .unwrap_or('X')
                    })
                    .collect();
                out.entry(p).or_insert(seq);
            }
        }
        Ok(out)
    }
}

/// Contact matrix (n × n, row-major) of a protein from contacts tables, if one has it.
pub(super) fn contact_matrix(
    tables: &[&RunTable],
    protein: &str,
    n: usize,
) -> Result<Option<Vec<bool>>> {
    for t in tables {
        let what = t.path.display().to_string();
        let p = texts(&t.frame, &what, "protein")?;
        if !p.iter().any(|x| x == protein) {
            continue;
        }
        let i = integers(&t.frame, &what, "i")?;
        let j = integers(&t.frame, &what, "j")?;
        let mut m = vec![false; n * n];
        for k in 0..t.frame.height() {
            if p[k] != protein {
                continue;
            }
            let (a, b) = (i[k] - 1, j[k] - 1);
            if a >= 0 && b >= 0 && (a as usize) < n && (b as usize) < n {
                m[a as usize * n + b as usize] = true;
                m[b as usize * n + a as usize] = true;
            }
        }
        return Ok(Some(m));
    }
    Ok(None)
}
