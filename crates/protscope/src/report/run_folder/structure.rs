//! The "Structure" section: what the model's attention knows about 3D structure — where in
//! depth a fitted contact head finds contacts (P@L per layer), one protein's predicted against
//! true contacts, and the proteins' secondary structure.

use std::collections::{BTreeMap, HashSet};

use super::{file_safe, Builder, RunTable, TableKind};
use crate::frame::columns::{floats, integers, optional_integers, texts};
use crate::plot::{self, ContactMapPlot, LayerProfile, ProbingPlot};
use crate::report::{reading, TableOptions};
use crate::Result;

impl Builder<'_> {
    pub(super) fn structure(&mut self) -> Result<()> {
        let layer_tables: Vec<&RunTable> = self.of_kind(TableKind::ContactLayers).collect();
        let predictions: Vec<&RunTable> = self.of_kind(TableKind::ContactPredictions).collect();
        let probes: Vec<&RunTable> = self.of_kind(TableKind::Probe).collect();
        let secondary: Vec<&RunTable> = self.of_kind(TableKind::SecondaryStructure).collect();
        if layer_tables.is_empty()
            && predictions.is_empty()
            && probes.is_empty()
            && secondary.is_empty()
        {
            return Ok(());
        }
        self.report.section("Structure");
        for table in secondary {
            self.secondary_structure(table)?;
        }
        let params = self.params_text(&["contacts"]);
        for table in layer_tables {
            self.contact_layers(table, &params)?;
        }
        if let Some(prediction) = predictions.first() {
            self.contact_map(prediction)?;
        }
        let probe_params = self.params_text(&["probing"]);
        for table in probes {
            self.probing(table, &probe_params)?;
        }
        Ok(())
    }

    /// The composition of the DSSP states and the table.
    fn secondary_structure(&mut self, table: &RunTable) -> Result<()> {
        let what = table.path.display().to_string();
        let states = texts(&table.frame, &what, "dssp8")?;
        let proteins: HashSet<String> =
            texts(&table.frame, &what, "protein")?.into_iter().collect();
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for s in &states {
            *counts.entry(s.clone()).or_default() += 1;
        }
        let total = states.len().max(1) as f64;
        let share = |letters: &str| -> String {
            let n: usize = counts
                .iter()
                .filter(|(k, _)| letters.contains(k.as_str()))
                .map(|(_, n)| n)
                .sum();
            format!("{:.0} %", 100.0 * n as f64 / total)
        };
        self.report
            .subsection("Secondary structure from coordinates");
        self.report.paragraph(format!(
            "DSSP (Kabsch & Sander; as mkdssp 4.2 assigns it) on {} chains, {} residues: strand \
             (E, B) {}, helix (H, G, I) {}, turn or bend (T, S) {}, polyproline {}, coil {}. The \
             Attention section shows which heads attend to each class (helix, strand, turn_bend).",
            proteins.len(),
            states.len(),
            share("EB"),
            share("HGI"),
            share("TS"),
            share("P"),
            share("C")
        ));
        self.report.table(
            "DSSP states per residue (8 and 3 states), placed on each chain's sequence positions.",
            &table.frame,
            &TableOptions::default(),
        )?;
        Ok(())
    }

    /// Test scores of linear probes per layer: a reading, the figure and the table.
    fn probing(&mut self, table: &RunTable, params: &str) -> Result<()> {
        let plot = ProbingPlot::from_frame(&table.frame, "test", None)?;
        self.report
            .subsection("Where in depth the model makes properties linearly readable");
        let findings: Vec<String> = plot
            .series
            .iter()
            .filter_map(|s| {
                let (best, value) = s
                    .values
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| v.map(|v| (s.first_layer + i, v)))
                    .max_by(|a, b| a.1.total_cmp(&b.1))?;
                Some(format!(
                    "{} peaks at layer {best} ({}){}",
                    s.label.replace('_', " "),
                    reading::rounded(value),
                    s.centre_of_gravity()
                        .map_or(String::new(), |c| format!(", centre of gravity {c:.1}"))
                ))
            })
            .collect();
        self.report.paragraph(format!(
            "A linear classifier per layer (logistic regression on standardised features; layer 0 \
             is the embedding output), scored on held-out proteins: {}.",
            findings.join("; ")
        ));
        let figure = plot::probing_plot(
            &format!("probing_{}", file_safe(&table.stem)),
            "Probing per layer (test split)",
            &plot,
        )?;
        self.add_figure(
            figure,
            format!(
                "Test score of a linear probe trained on each layer's features (residue tasks: \
                 hidden states, layer 0 the embeddings; contacts: that layer's attention maps, \
                 symmetrised and APC-corrected), with each line's centre of gravity; bars: the \
                 gain from the layer before.{params}"
            ),
        )?;
        self.report.table(
            "Probe scores per task, layer, split and metric (layer 0: the embedding output; layer \
             l: the output of block l, as in the figure).",
            &table.frame,
            &TableOptions {
                count_from_one: false,
                ..Default::default()
            },
        )?;
        Ok(())
    }

    /// P@L per layer of a contacts-layers table: the figure, a reading and the table.
    fn contact_layers(&mut self, table: &RunTable, params: &str) -> Result<()> {
        let what = table.path.display().to_string();
        let df = &table.frame;
        self.report
            .subsection("Where in depth attention knows contacts");
        self.report.paragraph(contact_layers_reading(df, &what)?);
        let profile = LayerProfile::from_contact_layers(df, "p_at_l")?;
        let figure = plot::layer_profile(
            &format!("contacts_by_layer_{}", file_safe(&table.stem)),
            "Contact P@L of a head fitted on one layer's heads",
            &profile,
        )?;
        self.add_figure(
            figure,
            format!(
                "Precision of the top L predicted contacts on held-out structures, for a contact \
                 head (Rao et al.'s L1 logistic regression over symmetrised, APC-corrected \
                 attention maps) fitted on one layer's heads at a time; one line per separation \
                 range (short 6–11, medium 12–23, long ≥ 24), the head on every layer in the \
                 legend. Layers count from 1.{params}"
            ),
        )?;
        self.report.table(
            "Mean precision per fitted head and separation range (layer from 0 in the file; \
             empty: the head on every layer).",
            df,
            &TableOptions::default(),
        )?;
        Ok(())
    }

    /// Predicted against true contacts of the first protein that has both tables.
    fn contact_map(&mut self, prediction: &RunTable) -> Result<()> {
        let what = prediction.path.display().to_string();
        let df = &prediction.frame;
        let proteins = texts(df, &what, "protein")?;
        let Some(truth) = self.of_kind(TableKind::Contacts).next() else {
            return Ok(());
        };
        let truth_what = truth.path.display().to_string();
        let true_proteins = texts(&truth.frame, &truth_what, "protein")?;
        let with_truth: HashSet<&String> = true_proteins.iter().collect();
        let Some(protein) = proteins.iter().find(|p| with_truth.contains(p)).cloned() else {
            return Ok(());
        };
        let (i, j) = (integers(df, &what, "i")?, integers(df, &what, "j")?);
        let probability = floats(df, &what, "probability")?;
        let rows: Vec<usize> = (0..df.height())
            .filter(|&r| proteins[r] == protein)
            .collect();
        let n = rows.iter().map(|&r| j[r].max(i[r])).max().unwrap_or(0) as usize;
        let mut predicted = vec![0f32; n * n];
        for &r in &rows {
            let (a, b) = ((i[r] - 1) as usize, (j[r] - 1) as usize);
            predicted[a * n + b] = probability[r] as f32;
            predicted[b * n + a] = probability[r] as f32;
        }
        let (ti, tj) = (
            integers(&truth.frame, &truth_what, "i")?,
            integers(&truth.frame, &truth_what, "j")?,
        );
        let mut targets = vec![0i8; n * n];
        for r in (0..truth.frame.height()).filter(|&r| true_proteins[r] == protein) {
            let (a, b) = (ti[r] as usize, tj[r] as usize);
            if (1..=n).contains(&a) && (1..=n).contains(&b) {
                targets[(a - 1) * n + (b - 1)] = 1;
                targets[(b - 1) * n + (a - 1)] = 1;
            }
        }
        let map = ContactMapPlot::new(&protein, n, predicted, targets);
        let figure = plot::contact_map_plot(
            &format!("contact_map_{}", file_safe(&protein)),
            &format!("Contacts of {protein}: predicted (above) and true (below)"),
            &map,
        )?;
        let caption = figure.caption();
        self.add_figure(figure, caption)
    }
}

/// "A head on every layer reaches P@L … (short / medium / long); layer N alone is best for …".
fn contact_layers_reading(df: &polars::prelude::DataFrame, what: &str) -> Result<String> {
    let layer = optional_integers(df, what, "layer")?;
    let range = texts(df, what, "range")?;
    let p_at_l = floats(df, what, "p_at_l")?;
    let mut all_layers = Vec::new();
    let mut best: BTreeMap<&str, (i64, f64)> = BTreeMap::new();
    for r in 0..df.height() {
        if range[r] == "local" {
            continue;
        }
        match layer[r] {
            None => all_layers.push(format!("{} {}", range[r], reading::rounded(p_at_l[r]))),
            Some(l) => {
                let entry = best.entry(range[r].as_str()).or_insert((l, p_at_l[r]));
                if p_at_l[r] > entry.1 {
                    *entry = (l, p_at_l[r]);
                }
            }
        }
    }
    let best_text: Vec<String> = ["short", "medium", "long"]
        .iter()
        .filter_map(|r| {
            best.get(r)
                .map(|(l, p)| format!("{r} range layer {} ({})", l + 1, reading::rounded(*p)))
        })
        .collect();
    Ok(format!(
        "A contact head on every layer's heads reaches P@L {} on the held-out structures. Fitted \
         on one layer's heads at a time, the best layer is: {}.",
        if all_layers.is_empty() {
            "n/a".to_string()
        } else {
            all_layers.join(", ")
        },
        best_text.join("; ")
    ))
}
