//! The "Predictions" section: predicted classes, and their agreement with known labels.

use std::collections::{BTreeSet, HashMap};

use polars::prelude::*;

use super::{Builder, TableKind};
use crate::frame::columns::{floats, integers, texts};
use crate::report::{reading, TableOptions};
use crate::{plot, Result};

impl Builder<'_> {
    pub(super) fn predictions(&mut self) -> Result<()> {
        let Some(table) = self.of_kind(TableKind::Predictions).next() else {
            return Ok(());
        };
        let what = table.path.display().to_string();
        let df = &table.frame;
        let (order, outputs, best) = best_classes(df, &what)?;
        let known = self.known_labels()?;
        let mut columns: Vec<Column> = vec![Column::new("protein".into(), order.clone())];
        let mut readings = Vec::new();
        let mut confusions: Vec<(String, DataFrame)> = Vec::new();
        for h in &outputs {
            let get = |p: &String| best.get(&(p.clone(), h.clone()));
            let predicted: Vec<String> = order
                .iter()
                .map(|p| get(p).map(|b| b.0.clone()).unwrap_or_default())
                .collect();
            let probability: Vec<f64> = order
                .iter()
                .map(|p| get(p).map_or(f64::NAN, |b| b.1))
                .collect();
            let truth: Vec<Option<String>> = order
                .iter()
                .map(|p| known.get(&(p.clone(), h.clone())).cloned())
                .collect();
            let with_truth: Vec<usize> = (0..order.len()).filter(|&i| truth[i].is_some()).collect();
            if !with_truth.is_empty() {
                let correct = with_truth
                    .iter()
                    .filter(|&&i| truth[i].as_deref() == Some(predicted[i].as_str()))
                    .count();
                readings.push(format!(
                    "{} output: the predicted class matches the source's label for {correct} \
                     of {} proteins ({}%).",
                    plot::capitalise(h),
                    with_truth.len(),
                    reading::rounded(100.0 * correct as f64 / with_truth.len() as f64),
                ));
            }
            if !with_truth.is_empty() {
                confusions.push((h.clone(), confusion(&truth, &predicted)?));
            }
            columns.push(Column::new(h.as_str().into(), predicted));
            columns.push(Column::new(format!("{h}_prob").into(), probability));
            if !with_truth.is_empty() {
                columns.push(Column::new(format!("{h}_known").into(), truth));
            }
        }
        let summary = DataFrame::new(order.len(), columns)?;
        self.report.section("Predictions");
        self.report.paragraph(format!(
            "The most probable class of every sequence-level prediction output for {} proteins.",
            order.len()
        ));
        for r in readings {
            self.report.paragraph(r);
        }
        for (h, table) in &confusions {
            self.report.table(
                format!(
                    "{} output: proteins per known label (rows) and predicted class (columns).",
                    plot::capitalise(h)
                ),
                table,
                &TableOptions {
                    searchable: false,
                    ..Default::default()
                },
            )?;
        }
        self.report.table(
            "Most probable class and its probability per output (softmax); `_known` is the label \
             the input file states.",
            &summary,
            &TableOptions::default(),
        )?;
        Ok(())
    }

    /// Labels the run's labels tables state, per (protein, output).
    fn known_labels(&self) -> Result<HashMap<(String, String), String>> {
        let mut known = HashMap::new();
        for t in self.of_kind(TableKind::Labels) {
            let what = t.path.display().to_string();
            let (p, h, l) = (
                texts(&t.frame, &what, "protein")?,
                texts(&t.frame, &what, "output")?,
                texts(&t.frame, &what, "label")?,
            );
            for i in 0..t.frame.height() {
                known.insert((p[i].clone(), h[i].clone()), l[i].clone());
            }
        }
        Ok(known)
    }
}

/// Proteins and outputs in the table's order, and the most probable class (its label, else
/// its index) with its probability per (protein, output).
type BestClasses = (
    Vec<String>,
    Vec<String>,
    HashMap<(String, String), (String, f64)>,
);

fn best_classes(df: &DataFrame, what: &str) -> Result<BestClasses> {
    let protein = texts(df, what, "protein")?;
    let output = texts(df, what, "output")?;
    let label = texts(df, what, "label")?;
    let class = integers(df, what, "class")?;
    let prob = floats(df, what, "prob")?;
    let mut order: Vec<String> = Vec::new();
    let mut outputs: Vec<String> = Vec::new();
    let mut best: HashMap<(String, String), (String, f64)> = HashMap::new();
    for i in 0..df.height() {
        if !order.contains(&protein[i]) {
            order.push(protein[i].clone());
        }
        if !outputs.contains(&output[i]) {
            outputs.push(output[i].clone());
        }
        let name = if label[i].is_empty() {
            class[i].to_string()
        } else {
            label[i].clone()
        };
        let key = (protein[i].clone(), output[i].clone());
        if best.get(&key).is_none_or(|(_, p)| prob[i] > *p) {
            best.insert(key, (name, prob[i]));
        }
    }
    Ok((order, outputs, best))
}

/// Counts of (known label, predicted class) over proteins with a known label.
pub(super) fn confusion(known: &[Option<String>], predicted: &[String]) -> Result<DataFrame> {
    let rows: BTreeSet<&str> = known.iter().flatten().map(String::as_str).collect();
    let cols: BTreeSet<&str> = predicted
        .iter()
        .zip(known)
        .filter(|(_, k)| k.is_some())
        .map(|(p, _)| p.as_str())
        .collect();
    let mut columns = vec![Column::new(
        "known".into(),
        rows.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
    )];
    for c in &cols {
        let counts: Vec<i64> = rows
            .iter()
            .map(|r| {
                known
                    .iter()
                    .zip(predicted)
                    .filter(|(k, p)| k.as_deref() == Some(*r) && p.as_str() == *c)
                    .count() as i64
            })
            .collect();
        columns.push(Column::new(format!("predicted {c}").into(), counts));
    }
    Ok(DataFrame::new(rows.len(), columns)?)
}
