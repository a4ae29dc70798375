//! The columns of every table protscope writes, stated once: name, Polars type, whether values
//! may be null, and meaning. Writers' empty frames, the report's recognition of a run folder's
//! tables, the figures' readers and `docs/tables.md` (from [`reference_markdown`]) all follow
//! these statements.
//!
//! Conventions shared by the tables: residue positions are 1-based (attribution tables also
//! number the special tokens: 0 is the first, n + 1 the final one); layers and attention heads
//! are 0-based; in attribution tables layer = head = −1 is the embedding level.

use std::collections::BTreeSet;

use polars::prelude::*;

use crate::{Error, Result};

/// A column's type: the Polars dtype its writer produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// `String`.
    Text,
    /// `Int64`.
    Integer,
    /// `UInt32` (positions and counts of the annotation, structure and contact tables).
    UInt32,
    /// `Float64`.
    Float,
    /// `Float32` (values straight from the model: logits, probabilities, attention weights).
    Float32,
    /// `Boolean`.
    Boolean,
    /// `List(Float32)`: a vector per row (embeddings).
    Float32List,
}

impl ColumnType {
    /// The dtype the writer uses.
    pub fn polars_type(self) -> DataType {
        match self {
            ColumnType::Text => DataType::String,
            ColumnType::Integer => DataType::Int64,
            ColumnType::UInt32 => DataType::UInt32,
            ColumnType::Float => DataType::Float64,
            ColumnType::Float32 => DataType::Float32,
            ColumnType::Boolean => DataType::Boolean,
            ColumnType::Float32List => DataType::List(Box::new(DataType::Float32)),
        }
    }

    /// Whether readers should take the column as integers (any width; CSV reads back `Int64`).
    pub fn is_integer(self) -> bool {
        matches!(self, ColumnType::Integer | ColumnType::UInt32)
    }

    /// Whether readers should take the column as floats (any width; CSV reads back `Float64`).
    pub fn is_float(self) -> bool {
        matches!(self, ColumnType::Float | ColumnType::Float32)
    }

    /// Whether a column read back with `dtype` holds this type: integer and float widths may
    /// change on a CSV round trip, and an all-empty CSV column reads back as text or null.
    pub fn accepts(self, dtype: &DataType) -> bool {
        if matches!(dtype, DataType::Null) {
            return true;
        }
        match self {
            ColumnType::Text => matches!(dtype, DataType::String),
            ColumnType::Integer | ColumnType::UInt32 => dtype.is_integer(),
            ColumnType::Float | ColumnType::Float32 => dtype.is_float() || dtype.is_integer(),
            ColumnType::Boolean => matches!(dtype, DataType::Boolean),
            ColumnType::Float32List => matches!(dtype, DataType::List(_) | DataType::String),
        }
    }

    /// The type as the docs name it: `integer (Int64)`, `text`, …
    pub fn describe(self) -> &'static str {
        match self {
            ColumnType::Text => "text",
            ColumnType::Integer => "integer (Int64)",
            ColumnType::UInt32 => "integer (UInt32)",
            ColumnType::Float => "float (Float64)",
            ColumnType::Float32 => "float (Float32)",
            ColumnType::Boolean => "boolean",
            ColumnType::Float32List => "list of float (Float32)",
        }
    }
}

/// One column of a table.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    pub name: &'static str,
    pub kind: ColumnType,
    /// Values may be null (the writer's `Option<T>`). A float that is not null may still be NaN;
    /// the meaning says when.
    pub nullable: bool,
    pub meaning: &'static str,
    /// Tables read from elsewhere (older releases, hand-made tables) may lack the column: readers
    /// do without it and [`TableSchema::require`] does not ask for it. protscope always writes it.
    pub optional: bool,
}

impl ColumnSpec {
    /// A column whose values are never null.
    pub const fn new(name: &'static str, kind: ColumnType, meaning: &'static str) -> Self {
        ColumnSpec {
            name,
            kind,
            nullable: false,
            meaning,
            optional: false,
        }
    }

    /// A column whose values may be null.
    pub const fn nullable(name: &'static str, kind: ColumnType, meaning: &'static str) -> Self {
        ColumnSpec {
            nullable: true,
            ..ColumnSpec::new(name, kind, meaning)
        }
    }

    /// This column, which readers must do without when a table lacks it.
    pub const fn optional(self) -> Self {
        ColumnSpec {
            optional: true,
            ..self
        }
    }
}

/// One table: its columns and how a table is recognised as this one.
#[derive(Debug)]
pub struct TableSchema {
    /// `predictions`, `attribution_summary`, …
    pub name: &'static str,
    /// The commands and functions that write it.
    pub written_by: &'static str,
    /// One sentence: one row per …
    pub about: &'static str,
    pub columns: &'static [ColumnSpec],
    /// The columns whose presence identifies the table.
    pub recognised_by: &'static [&'static str],
    /// Recognised only when the table has exactly the `recognised_by` columns, no more.
    pub exact: bool,
}

impl TableSchema {
    pub fn column_names(&self) -> Vec<&'static str> {
        self.columns.iter().map(|c| c.name).collect()
    }

    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&'static ColumnSpec> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The columns every table of this kind has (all but the optional ones).
    pub fn required_columns(&self) -> Vec<&'static str> {
        self.columns
            .iter()
            .filter(|c| !c.optional)
            .map(|c| c.name)
            .collect()
    }

    /// The dtype the writer uses for `kind`.
    pub fn polars_type(kind: ColumnType) -> DataType {
        kind.polars_type()
    }

    /// A typed table without rows: the writer's columns and dtypes.
    pub fn empty_frame(&self) -> DataFrame {
        let columns: Vec<Column> = self
            .columns
            .iter()
            .map(|c| Column::new_empty(c.name.into(), &c.kind.polars_type()))
            .collect();
        DataFrame::new(0, columns).expect("a schema's columns have distinct names")
    }

    /// Whether `frame` is a table of this kind, by its column names (the report's rule).
    pub fn matches(&self, frame: &DataFrame) -> bool {
        let names: BTreeSet<&str> = frame
            .get_column_names()
            .iter()
            .map(|c| c.as_str())
            .collect();
        let has_all = self.recognised_by.iter().all(|c| names.contains(c));
        has_all && (!self.exact || names.len() == self.recognised_by.len())
    }

    /// Checks a written table against this schema: every column that is not optional is
    /// there, no column is outside the schema, and each column's type is the schema's (up to
    /// the width changes of a CSV round trip, [`ColumnType::accepts`]).
    pub fn conforms(&self, frame: &DataFrame, what: &str) -> Result<()> {
        self.require(frame, what)?;
        for (name, dtype) in frame.schema().iter() {
            let Some(spec) = self.column(name) else {
                return Err(Error::invalid(format!(
                    "{what}: column `{name}` is not one of a `{}` table's ({})",
                    self.name,
                    self.column_names().join(", ")
                )));
            };
            // A nullable column that is null throughout reads back from CSV as text.
            let all_null = spec.nullable
                && frame
                    .column(name)
                    .is_ok_and(|c| c.null_count() == frame.height());
            if !spec.kind.accepts(dtype) && !all_null {
                return Err(Error::invalid(format!(
                    "{what}: column `{name}` is {dtype}, a `{}` table has it {}",
                    self.name,
                    spec.kind.describe()
                )));
            }
        }
        Ok(())
    }

    /// Checks that `frame` has the columns `names`, a reader's subset of this table's columns.
    /// A name the schema does not state is an error too, so readers cannot drift from the
    /// schema (the plot readers call this; their tests feed them each schema's empty table).
    pub fn require_columns(&self, frame: &DataFrame, what: &str, names: &[&str]) -> Result<()> {
        if let Some(unknown) = names.iter().find(|n| self.column(n).is_none()) {
            return Err(Error::invalid(format!(
                "{what}: `{unknown}` is not a column of a `{}` table (columns: {}); this is \
                 a bug in protscope's reader, please report it",
                self.name,
                self.column_names().join(", ")
            )));
        }
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| frame.column(n).is_err())
            .collect();
        self.missing_columns(what, &missing)
    }

    /// Ok when nothing is `missing`, else the error naming `what`, the columns and this table.
    fn missing_columns(&self, what: &str, missing: &[&str]) -> Result<()> {
        if missing.is_empty() {
            return Ok(());
        }
        Err(Error::MissingColumn {
            table: what.to_string(),
            column: missing.join("`, `"),
            message: format!(
                "a `{}` table has the columns {}",
                self.name,
                self.required_columns().join(", ")
            ),
        })
    }

    /// Checks that `frame` (read from `what`, usually a file) has every column that is not
    /// optional; the error names `what`, the missing columns and this table.
    pub fn require(&self, frame: &DataFrame, what: &str) -> Result<()> {
        let missing: Vec<&str> = self
            .columns
            .iter()
            .filter(|c| !c.optional && frame.column(c.name).is_err())
            .map(|c| c.name)
            .collect();
        self.missing_columns(what, &missing)
    }
}

use ColumnType::{Boolean, Float, Float32, Float32List, Integer, Text, UInt32};

const fn col(name: &'static str, kind: ColumnType, meaning: &'static str) -> ColumnSpec {
    ColumnSpec::new(name, kind, meaning)
}

const fn null(name: &'static str, kind: ColumnType, meaning: &'static str) -> ColumnSpec {
    ColumnSpec::nullable(name, kind, meaning)
}

const PROTEIN: ColumnSpec = col("protein", Text, "Record id (FASTA id).");
const LAYER: ColumnSpec = col("layer", Integer, "Transformer layer, 0-based.");
const HEAD: ColumnSpec = col("head", Integer, "Attention head within the layer, 0-based.");
const ATTRIBUTION_LAYER: ColumnSpec = col(
    "layer",
    Integer,
    "Transformer layer, 0-based; −1 = the embedding level.",
);
const ATTRIBUTION_HEAD: ColumnSpec = col(
    "head",
    Integer,
    "Attention head within the layer, 0-based; −1 at the embedding level.",
);
const PROPERTY: ColumnSpec = col(
    "property",
    Text,
    "The property attention is measured against: a site set's name, a UniProt feature type, \
     `contact`, `aa_to_X` for amino acid X, or a CDR (`CDR1` … `CDR3`, `CDRs`) in the demo.",
);
const BACKGROUND: ColumnSpec = col(
    "background",
    Float,
    "Share of residues (or residue pairs, for contacts) with the property.",
);

pub const PREDICTIONS: TableSchema = TableSchema {
    name: "predictions",
    written_by: "`protscope predict`, `protscope demo` (`predictions.csv`); \
                 `model::outputs::predictions_frame`",
    about: "One row per protein, sequence-level prediction output and class (token-level \
            outputs such as MLM are left out).",
    columns: &[
        PROTEIN,
        col(
            "output",
            Text,
            "Prediction output of the model (`classifier`, `species`, …); called `head` before \
             0.2.",
        ),
        col("class", Integer, "Class index within the output, 0-based."),
        null(
            "label",
            Text,
            "Class name from the model's configuration; null when the output names no classes.",
        ),
        col("logit", Float32, "The class's logit."),
        col(
            "prob",
            Float32,
            "Probability: softmax over the output's classes, or a sigmoid per class for \
             multi-label outputs.",
        ),
    ],
    recognised_by: &["protein", "output", "class", "label", "logit", "prob"],
    exact: false,
};

pub const AMINO_ACID_BLOSUM: TableSchema = TableSchema {
    name: "amino_acid_blosum",
    written_by: "`protscope heads --amino-acids` (`<stem>.aa_blosum`), `protscope demo` \
                 (`heads_amino_acids.aa_blosum.parquet`); `AminoAcidCorrelations::to_frame`",
    about: "One row per unordered pair of the 20 standard amino acids (190 rows): how alike \
            heads attend to the two, beside their BLOSUM62 score (Vig et al. 2021, §4.3).",
    columns: &[
        col(
            "aa1",
            Text,
            "First amino acid (one letter), alphabetically before `aa2`.",
        ),
        col("aa2", Text, "Second amino acid (one letter)."),
        col(
            "r",
            Float,
            "Pearson's r across the heads not excluded between their `aa_to_aa1` and \
             `aa_to_aa2` proportions; NaN when undefined (an amino acid absent everywhere).",
        ),
        col("blosum62", Float, "BLOSUM62 score of the pair."),
        col(
            "blosum_r",
            Float,
            "Pearson's r between the pairs' `r` and `blosum62` over pairs with a defined r (the \
             same on every row).",
        ),
        col(
            "heads_used",
            Integer,
            "Heads the correlations run over (n_edges ≥ `--min-total`; the same on every row).",
        )
        .optional(),
    ],
    recognised_by: &["aa1", "aa2", "r", "blosum62", "blosum_r"],
    exact: false,
};

pub const TOP_HEADS: TableSchema = TableSchema {
    name: "top_heads",
    written_by: "`protscope heads` (`<stem>.top`), `protscope demo` \
                 (`heads_regions.top.parquet`); `HeadStatistics::top_heads_frame`",
    about: "One row per property and rank: the `--top` heads (not excluded) with the largest \
            proportion of attention on the property.",
    columns: &[
        PROPERTY,
        col(
            "rank",
            Integer,
            "1 = the highest proportion; ties go to the lower layer, then the lower head.",
        ),
        LAYER,
        HEAD,
        col(
            "proportion",
            Float,
            "n_property_edges / n_edges of the head (see the heads table).",
        ),
        BACKGROUND,
        col("enrichment", Float, "proportion / background."),
        col(
            "n_edges",
            Float,
            "The head's Σ edge values (see the heads table).",
        ),
    ],
    recognised_by: &[
        "property",
        "rank",
        "layer",
        "head",
        "proportion",
        "enrichment",
    ],
    exact: false,
};

pub const HEAD_LAYERS: TableSchema = TableSchema {
    name: "head_layers",
    written_by: "`protscope heads` (`<stem>.layers`), `protscope demo` \
                 (`heads_regions.layers.parquet`); `HeadStatistics::layer_frame`",
    about: "One row per property and layer, over the layer's heads that are not excluded.",
    columns: &[
        PROPERTY,
        LAYER,
        col(
            "heads_included",
            Integer,
            "Heads of the layer not excluded.",
        ),
        col(
            "mean_proportion",
            Float,
            "Mean of the included heads' proportions (provis' \"Layer Avg.\"); NaN when none \
             is included.",
        ),
        col(
            "max_proportion",
            Float,
            "Proportion of the best included head; NaN when none is included.",
        ),
        col(
            "max_head",
            Integer,
            "The best included head, 0-based; −1 when none is included.",
        ),
        col(
            "weighted_proportion",
            Float,
            "Σ n_property_edges / Σ n_edges over the included heads: the layer's \
             attention-weighted proportion.",
        ),
        col(
            "property_share",
            Float,
            "The layer's Σ n_property_edges as a share of that sum over all layers: where in \
             depth the attention to the property sits.",
        ),
        BACKGROUND,
    ],
    recognised_by: &["property", "layer", "heads_included", "property_share"],
    exact: false,
};

pub const HEADS: TableSchema = TableSchema {
    name: "heads",
    written_by: "`protscope heads` (`--out`), `protscope demo` (`heads_regions.parquet`, \
                 `heads_amino_acids.parquet`); `HeadStatistics::to_frame`",
    about: "One row per property, layer and head: how much of the head's attention falls on \
            residues with the property (Vig et al. 2021), summed over proteins.",
    columns: &[
        PROPERTY,
        LAYER,
        HEAD,
        col(
            "n_edges",
            Float,
            "Σ edge values over proteins: edge counts with attention ≥ `--min-attn` (threshold \
             weighting), attention mass otherwise.",
        ),
        col(
            "n_property_edges",
            Float,
            "Σ edge values of the edges whose pair has the property.",
        ),
        col(
            "proportion",
            Float,
            "n_property_edges / n_edges; NaN when n_edges = 0.",
        ),
        BACKGROUND,
        col(
            "excluded",
            Boolean,
            "n_edges < `--min-total`: too little attention to judge.",
        ),
    ],
    recognised_by: &[
        "property",
        "layer",
        "head",
        "n_edges",
        "proportion",
        "excluded",
    ],
    exact: false,
};

pub const ATTRIBUTION: TableSchema = TableSchema {
    name: "attribution",
    written_by: "`protscope attribute` (`--out`), `protscope demo` \
                 (`attribution_species.parquet`); `attribution::tables::relevance_frame`",
    about: "One row per protein, level and token: integrated-gradients relevance of the token \
            to the target logit, at the embedding level and (latent IG) in every attention head.",
    columns: &[
        PROTEIN,
        ATTRIBUTION_LAYER,
        ATTRIBUTION_HEAD,
        col(
            "position",
            Integer,
            "Token position: 0 = the first special token, 1..n the residues, n + 1 the final \
             special token (models without a leading special token, T5 and XLNet, have no 0).",
        ),
        col(
            "residue",
            Text,
            "The token: a residue letter, or a special token such as `[CLS]` or `<cls>`.",
        )
        .optional(),
        col("relevance", Float, "Relevance of the token."),
    ],
    recognised_by: &["protein", "layer", "head", "position", "relevance"],
    exact: false,
};

pub const ATTRIBUTION_SUMMARY: TableSchema = TableSchema {
    name: "attribution_summary",
    written_by: "`protscope attribute` (`<stem>.summary`), `protscope demo` \
                 (`attribution_species.summary.parquet`); `attribution::tables::summary_frame`",
    about: "One row per protein attributed: what was attributed, how, and how well the \
            relevances add up (completeness).",
    columns: &[
        PROTEIN,
        col(
            "output",
            Text,
            "Prediction output whose logit is attributed; called `head` before 0.2.",
        ),
        col(
            "target",
            Integer,
            "Class index of the attributed logit, 0-based.",
        ),
        col("f_input", Float, "F(x): the target logit at the input."),
        col(
            "f_baseline",
            Float,
            "F(x′): the target logit at the baseline.",
        ),
        col(
            "delta",
            Float,
            "Completeness error: Σ relevance − (f_input − f_baseline).",
        ),
        col("steps", Integer, "Integration nodes used."),
        col(
            "method",
            Text,
            "Quadrature: `gausslegendre`, `riemann_left`, `riemann_right`, `riemann_middle` or \
             `riemann_trapezoid`.",
        ),
        col("baseline", Text, "Baseline input: `pad`, `mask` or `zero`."),
        col(
            "latent_derivative",
            Text,
            "How latent IG got dh/dα: `fd` or `exact`; `none` for embedding-only runs.",
        ),
        null(
            "max_delta",
            Float,
            "With steps chosen by accuracy: the tolerance, |delta| ≤ max_delta · |f_input − \
             f_baseline|; null for a fixed number of steps.",
        ),
        null(
            "converged",
            Boolean,
            "With steps chosen by accuracy: whether the tolerance was met before `--max-steps`; \
             null for a fixed number of steps.",
        ),
    ],
    recognised_by: &[
        "protein",
        "output",
        "target",
        "f_input",
        "f_baseline",
        "delta",
    ],
    exact: false,
};

pub const EXPLANATION_SUMMARY: TableSchema = TableSchema {
    name: "explanation_summary",
    written_by:
        "`protscope attribute --attribution attnlrp|grad-input|saliency|smoothgrad|rollout` \
                 (`<stem>.summary`); `attribution::tables::explanation_summary_frame`",
    about: "One row per protein explained by a method other than integrated gradients: the \
            logit, Σ relevance and the method's own check.",
    columns: &[
        PROTEIN,
        col(
            "output",
            Text,
            "Prediction output whose logit is explained.",
        ),
        col(
            "target",
            Integer,
            "Class index of the explained logit, 0-based.",
        ),
        col(
            "attribution",
            Text,
            "Method: `ig`, `attnlrp`, `grad-input`, `saliency`, `smoothgrad` or `rollout`.",
        ),
        col("f_input", Float, "F(x): the target logit at the input."),
        col(
            "relevance_sum",
            Float,
            "Σ relevance at the embedding level (rollout: 1, a distribution over tokens).",
        ),
        null(
            "delta",
            Float,
            "IG: Σ relevance − (F(x) − F(x′)); null for the other methods.",
        ),
        null("steps", Integer, "IG: integration nodes; null otherwise."),
        null(
            "conservation_gap",
            Float,
            "AttnLRP: relevance_sum − f_input (0 when relevance is conserved; biases absorb \
             some); null otherwise.",
        ),
        null(
            "samples",
            Integer,
            "SmoothGrad: noisy samples averaged; null otherwise.",
        ),
        null(
            "sigma",
            Float,
            "SmoothGrad: the noise's standard deviation in embedding units; null otherwise.",
        ),
        null(
            "noise_level",
            Float,
            "SmoothGrad: sigma / (max − min) of the protein's embedding output; null otherwise.",
        ),
        null(
            "seed",
            Integer,
            "SmoothGrad: the noise seed; null otherwise.",
        ),
    ],
    recognised_by: &[
        "protein",
        "output",
        "target",
        "attribution",
        "relevance_sum",
    ],
    exact: false,
};

pub const RELEVANCE_STATS: TableSchema = TableSchema {
    name: "relevance_stats",
    written_by: "`protscope relevance-stats` (`--out`), `protscope demo` \
                 (`relevance_<property>.parquet`); `RelevanceStats::to_frame`",
    about: "One row per level of an attribution table (embedding level first, then every layer \
            and head): whether relevance sits on annotated residues across proteins (Wenzel, \
            Grüner & Strodthoff 2024).",
    columns: &[
        ATTRIBUTION_LAYER,
        ATTRIBUTION_HEAD,
        col(
            "n_proteins",
            Integer,
            "Proteins with at least one annotated residue that have this level.",
        ),
        col(
            "n_r",
            Integer,
            "Of those, proteins whose r is defined (relevance not constant); the r summaries, \
             the t-test and Shapiro–Wilk use only these.",
        ),
        col("mean_r", Float, "Mean point-biserial r over proteins."),
        col("median_r", Float, "Median r."),
        col(
            "t_statistic",
            Float,
            "One-sample t statistic of r against 0 (one-sided, r > 0).",
        ),
        col("t_p", Float, "p-value of the t-test."),
        col(
            "t_p_fdr",
            Float,
            "t_p adjusted by Benjamini–Hochberg over the attention heads; the embedding level, \
             outside that family, keeps t_p.",
        ),
        col(
            "t_p_bonferroni",
            Float,
            "t_p adjusted by Bonferroni over the attention heads (the embedding level keeps t_p).",
        ),
        col(
            "mean_rra",
            Float,
            "Mean relevance rank accuracy over proteins.",
        ),
        col(
            "wilcoxon_statistic",
            Float,
            "R⁺ of the Wilcoxon signed-rank test that the total relevance is > 0.",
        ),
        col("wilcoxon_p", Float, "p-value of the Wilcoxon test."),
        col(
            "wilcoxon_p_fdr",
            Float,
            "wilcoxon_p adjusted by Benjamini–Hochberg over the attention heads (the embedding \
             level keeps wilcoxon_p).",
        ),
        col(
            "wilcoxon_p_bonferroni",
            Float,
            "wilcoxon_p adjusted by Bonferroni over the attention heads (the embedding level \
             keeps wilcoxon_p).",
        ),
        col(
            "shapiro_w",
            Float,
            "Shapiro–Wilk W of the r values (normality).",
        ),
        col(
            "shapiro_p",
            Float,
            "p-value of Shapiro–Wilk; NaN below 3 defined r values.",
        ),
        col(
            "significant",
            Boolean,
            "t_p_fdr < alpha and wilcoxon_p_fdr < alpha (false when either is NaN).",
        ),
    ],
    recognised_by: &[
        "layer",
        "head",
        "n_proteins",
        "mean_r",
        "t_p",
        "significant",
    ],
    exact: false,
};

pub const RELEVANCE_PER_PROTEIN: TableSchema = TableSchema {
    name: "relevance_per_protein",
    written_by: "`protscope relevance-stats` (`<stem>.per_protein`), `protscope demo` \
                 (`relevance_<property>.per_protein.parquet`); \
                 `RelevanceStats::per_protein_frame`",
    about: "One row per protein and level (embedding level, then every layer and head): how \
            the protein's relevance lines up with its annotated residues.",
    columns: &[
        PROTEIN,
        ATTRIBUTION_LAYER,
        ATTRIBUTION_HEAD,
        col(
            "n_residues",
            Integer,
            "Residues n (positions 1..n; 0 and n + 1 are the special tokens).",
        ),
        col(
            "n_annotated",
            Integer,
            "K, the distinct annotated residues.",
        ),
        col(
            "r",
            Float,
            "Point-biserial r between relevance over the positions and the annotation \
             indicator; NaN when the relevance is constant.",
        ),
        col("r_p", Float, "Two-sided p-value of r."),
        col(
            "rra",
            Float,
            "Relevance rank accuracy: share of the K most relevant positions that are annotated.",
        ),
        col("total_relevance", Float, "Σ relevance over the positions."),
    ],
    recognised_by: &["protein", "layer", "head", "r", "rra", "total_relevance"],
    exact: false,
};

pub const ATTENTION_EDGES: TableSchema = TableSchema {
    name: "attention_edges",
    written_by: "`protscope attention`, `protscope demo` (`attention_maps.parquet`); \
                 `attention::attention_frame`",
    about: "One row per protein, layer, head and residue pair (from, to): the attention weight \
            (special-token rows and columns dropped, weights not renormalised; `--min-attn` \
            drops the smaller ones).",
    columns: &[
        PROTEIN,
        LAYER,
        HEAD,
        col("from", Integer, "Attending residue (query), 1-based."),
        col("to", Integer, "Attended residue (key), 1-based."),
        col("weight", Float32, "Attention weight."),
    ],
    recognised_by: &["protein", "layer", "head", "from", "to", "weight"],
    exact: false,
};

pub const CONTACTS: TableSchema = TableSchema {
    name: "contacts",
    written_by: "`protscope contacts`; `structure::contacts_frame`",
    about: "One row per residue pair in contact in a structure's chain (distance below the \
            cutoff, at least `--min-separation` apart).",
    columns: &[
        col(
            "protein",
            Text,
            "`--protein`, or the structure file's stem and the chain (`2n0n.A`).",
        ),
        col(
            "i",
            UInt32,
            "First residue, 1-based sequence position (i < j).",
        ),
        col("j", UInt32, "Second residue, 1-based."),
        col(
            "distance",
            Float,
            "Distance between the residues' atoms (Cα or Cβ), in Å.",
        ),
    ],
    recognised_by: &["protein", "i", "j", "distance"],
    exact: false,
};

pub const SECONDARY_STRUCTURE: TableSchema = TableSchema {
    name: "secondary_structure",
    written_by: "`protscope secondary-structure`; `structure::secondary_structure_frame`",
    about: "One row per residue of a structure's chain that DSSP assigns (those with N, Cα, C \
            and O), in chain order: its DSSP state as mkdssp 4.2 assigns it, in 8 and 3 states.",
    columns: &[
        col(
            "protein",
            Text,
            "`--protein`, or the structure file's stem and the chain (`1cbs.A`).",
        ),
        null(
            "position",
            UInt32,
            "1-based position in the chain's sequence (SEQRES where the file has it, else the \
             observed residues), as `contacts` numbers it; null for a residue the alignment \
             leaves unplaced.",
        ),
        col("auth_seq", Integer, "Author residue number."),
        null("icode", Text, "Insertion code; null when none."),
        col(
            "residue",
            Text,
            "One-letter residue (`X` when not a standard amino acid or known modification).",
        ),
        col(
            "dssp8",
            Text,
            "DSSP state: H α-helix, G 3₁₀-helix, I π-helix, E strand, B isolated bridge, T \
             turn, S bend, P polyproline II, C coil (mkdssp's blank).",
        ),
        col(
            "dssp3",
            Text,
            "Three states: H (H, G, I), E (E, B), C (everything else, P, T and S included).",
        ),
    ],
    recognised_by: &["protein", "position", "auth_seq", "dssp8", "dssp3"],
    exact: false,
};

pub const FLIP: TableSchema = TableSchema {
    name: "flip",
    written_by: "`protscope flip`; `attribution::flip::flip_frame`",
    about: "One row per protein, method and k: the drop of the target logit when the k most \
            relevant residues are replaced (alanine, PAD, MASK or a random amino acid), beside the \
            first k residues of seeded random orders.",
    columns: &[
        PROTEIN,
        col(
            "method",
            Text,
            "Attribution method the ranking came from (`ig`, `attnlrp`, …).",
        )
        .optional(),
        col(
            "replacement",
            Text,
            "What a flipped residue became: `alanine`, `pad`, `mask` or `random`.",
        )
        .optional(),
        col("k", Integer, "Residues asked to flip."),
        null(
            "fraction",
            Float,
            "The share of the length asked for (k = round(fraction · n)); null for a count.",
        )
        .optional(),
        col("n_flipped", Integer, "Residues flipped: min(k, residues)."),
        col(
            "logit_original",
            Float,
            "Target logit of the unchanged sequence.",
        ),
        col(
            "logit_top",
            Float,
            "Target logit with the top-k residues flipped.",
        ),
        col(
            "logit_random_mean",
            Float,
            "Mean target logit over the random orders; NaN without draws.",
        ),
        col(
            "logit_random_sd",
            Float,
            "Sample standard deviation over the draws; NaN with fewer than two.",
        ),
        col("drop_top", Float, "logit_original − logit_top."),
        col("drop_random", Float, "logit_original − logit_random_mean."),
        col(
            "top_positions",
            Text,
            "The flipped residues' 1-based positions, ascending, comma-separated.",
        ),
    ],
    recognised_by: &["protein", "k", "drop_top", "drop_random"],
    exact: false,
};

pub const FLIP_AOPC: TableSchema = TableSchema {
    name: "flip_aopc",
    written_by: "`protscope flip` (`<stem>.aopc`); `attribution::flip::aopc_frame`",
    about: "One row per method and protein: the area over the perturbation curve (AOPC, the \
            mean logit drop over k = 0 and every k flipped), most-relevant-first and random.",
    columns: &[
        col("method", Text, "Attribution method the ranking came from."),
        PROTEIN,
        col(
            "steps",
            Integer,
            "Perturbation steps K (k = 0 not counted).",
        ),
        col(
            "aopc_top",
            Float,
            "1/(K+1) · Σ_k (logit_original − logit_top): most relevant residues first.",
        ),
        col(
            "aopc_random",
            Float,
            "The same for the random orders (mean over the repeats).",
        ),
        col(
            "aopc_gain",
            Float,
            "aopc_top − aopc_random: above 0 is better than chance.",
        ),
    ],
    recognised_by: &["method", "protein", "aopc_top", "aopc_random"],
    exact: false,
};

pub const RANDOMISATION: TableSchema = TableSchema {
    name: "randomisation",
    written_by: "`protscope sanity`; `attribution::sanity::randomisation_frame`",
    about: "One row per method, protein and cascading-randomisation step: how well the \
            explanation of the randomised model ranks residues like the original's.",
    columns: &[
        col("method", Text, "Attribution method."),
        PROTEIN,
        col(
            "step",
            Integer,
            "0 = the original model, 1 = head randomised, 1 + j = head and the top j layers.",
        ),
        col(
            "randomised",
            Text,
            "What is randomised: `none`, `head`, `head + layers 12–12` (1-based).",
        ),
        col(
            "spearman",
            Float,
            "Spearman ρ between the residue relevances and the original model's; NaN for a \
             constant map.",
        ),
    ],
    recognised_by: &["method", "protein", "step", "randomised", "spearman"],
    exact: false,
};

pub const METHOD_AGREEMENT: TableSchema = TableSchema {
    name: "method_agreement",
    written_by: "`protscope demo` (`methods_agreement`); \
                 `attribution::comparison::MethodComparison::agreement_frame`",
    about: "One row per protein and pair of attribution methods: how alike the two methods rank \
            the protein's residues.",
    columns: &[
        PROTEIN,
        col("method_a", Text, "One attribution method."),
        col("method_b", Text, "The other."),
        col(
            "spearman",
            Float,
            "Spearman ρ between the two methods' residue relevances; NaN for a constant map.",
        ),
    ],
    recognised_by: &["protein", "method_a", "method_b", "spearman"],
    exact: false,
};

pub const ANTIBODIES: TableSchema = TableSchema {
    name: "antibodies",
    written_by: "`protscope demo` (`antibodies.csv`); `report::demo::antibodies_frame`",
    about: "One row per numbered antibody chain: its chain type and CDR sequences (IMGT).",
    columns: &[
        PROTEIN,
        col("chain", Text, "Chain type: `heavy`, `kappa` or `lambda`."),
        col(
            "domain",
            Text,
            "First–last residue of the V domain, 1-based, inclusive (`1–117`, an en dash).",
        ),
        col("cdr1", Text, "CDR1 sequence; empty when absent."),
        col("cdr2", Text, "CDR2 sequence; empty when absent."),
        col("cdr3", Text, "CDR3 sequence; empty when absent."),
    ],
    recognised_by: &["protein", "chain", "cdr1", "cdr2", "cdr3"],
    exact: false,
};

pub const FEATURES: TableSchema = TableSchema {
    name: "features",
    written_by: "`protscope features`, `protscope regions` (`--out`), `protscope demo` \
                 (`regions.csv`); `annotation::features_frame`",
    about: "One row per annotated feature of a UniProt entry (or IMGT region of an antibody).",
    columns: &[
        col(
            "accession",
            Text,
            "UniProt accession (the record id for `regions`).",
        ),
        col(
            "type",
            Text,
            "Feature type (`Binding site`, `Domain`, … ; `FR1` … `CDR3` for regions).",
        ),
        null(
            "start",
            UInt32,
            "First residue, 1-based; null when unknown.",
        ),
        null(
            "end",
            UInt32,
            "Last residue, 1-based, inclusive; null when unknown.",
        ),
        col(
            "start_modifier",
            Text,
            "How sure the start is: `exact`, `less_than`, `greater_than`, `uncertain` or \
             `unknown`.",
        ),
        col(
            "end_modifier",
            Text,
            "How sure the end is (as `start_modifier`).",
        ),
        null("description", Text, "The feature's description."),
        null("evidence", Text, "Evidence codes, joined with \", \"."),
        null("ligand", Text, "Ligand name (binding sites)."),
        null("ligand_id", Text, "Ligand identifier (ChEBI)."),
        null("feature_id", Text, "UniProt feature id."),
        null("entry_name", Text, "UniProt entry name."),
        null("status", Text, "Entry status (reviewed or unreviewed)."),
    ],
    recognised_by: &["accession", "type", "start", "end", "description"],
    exact: false,
};

pub const LABELS: TableSchema = TableSchema {
    name: "labels",
    written_by: "`protscope demo` (`labels.csv`, from `species=` / `chain=` header fields); \
                 `report::demo::labels_frame`",
    about: "One row per protein and prediction output with a known class, to compare the \
            predictions with.",
    columns: &[
        PROTEIN,
        col(
            "output",
            Text,
            "Prediction output; called `head` before 0.2.",
        ),
        col("label", Text, "The known class name."),
    ],
    recognised_by: &["protein", "output", "label"],
    exact: true,
};

pub const SKIPPED: TableSchema = TableSchema {
    name: "skipped",
    written_by: "`protscope demo` (`regions.skipped.csv`)",
    about: "One row per record left out of an analysis, with why (in the demo: no antibody V \
            domain found).",
    columns: &[PROTEIN, col("reason", Text, "Why the record was left out.")],
    recognised_by: &["protein", "reason"],
    exact: true,
};

pub const EMBEDDINGS: TableSchema = TableSchema {
    name: "embeddings",
    written_by: "`protscope embed`; `model::outputs::embeddings_frame`",
    about: "One row per protein, layer and residue (or one per protein and layer when pooled): \
            the hidden state.",
    columns: &[
        PROTEIN,
        col(
            "layer",
            Integer,
            "−1 = the embedding module's output, 0..L−1 = the output of that block, 0-based.",
        ),
        null(
            "position",
            Integer,
            "Residue, 1-based, without pooling; 0 (the first special token) with CLS pooling; \
             null with mean pooling.",
        ),
        col(
            "embedding",
            Float32List,
            "The hidden state (hidden size values).",
        ),
    ],
    recognised_by: &["protein", "layer", "position", "embedding"],
    exact: false,
};

pub const CONTACT_PREDICTIONS: TableSchema = TableSchema {
    name: "contact_predictions",
    written_by: "`protscope contacts-predict`; `attention::contacts::contacts_frame`",
    about: "One row per protein and residue pair i < j: the contact probability from the \
            model's contact head (ESM-2).",
    columns: &[
        PROTEIN,
        col("i", UInt32, "First residue, 1-based (i < j)."),
        col("j", UInt32, "Second residue, 1-based."),
        col(
            "probability",
            Float32,
            "Predicted probability that i and j are in contact.",
        ),
    ],
    recognised_by: &["protein", "i", "j", "probability"],
    exact: false,
};

pub const CONTACT_COUPLINGS: TableSchema = TableSchema {
    name: "contact_couplings",
    written_by: "`protscope contacts-predict --method jacobian`; \
                 `attribution::categorical_jacobian::couplings_frame`",
    about: "One row per protein and residue pair i < j: the coupling from the masked language \
            model's categorical Jacobian (Zhang et al. 2024), which ranks contacts.",
    columns: &[
        PROTEIN,
        col("i", UInt32, "First residue, 1-based (i < j)."),
        col("j", UInt32, "Second residue, 1-based."),
        col(
            "score",
            Float32,
            "APC-corrected, symmetrised Frobenius norm of the centred Jacobian block of i and j \
             (larger: more likely a contact; not a probability).",
        ),
    ],
    recognised_by: &["protein", "i", "j", "score"],
    exact: false,
};

pub const CONTACT_LAYERS: TableSchema = TableSchema {
    name: "contact_layers",
    written_by: "`protscope contacts-layers`; `attention::contacts::layer_precision_frame`",
    about: "One row per fitted contact head and separation range: a head fitted on one layer's \
            heads (or on all layers) on training structures, scored on held-out ones as ESM \
            scores contact predictions (means over the held-out structures).",
    columns: &[
        null(
            "layer",
            Integer,
            "The layer whose heads the contact head was fitted on, 0-based; null for the head on \
             every layer.",
        ),
        col(
            "nonzero_weights",
            UInt32,
            "Attention heads with a non-zero weight after the L1 fit.",
        ),
        col(
            "range",
            Text,
            "Separation range: `local`, `short`, `medium` or `long`.",
        ),
        col(
            "proteins",
            UInt32,
            "Held-out structures scored in the range.",
        ),
        col("auc", Float, "Mean of ESM's AUC over the structures."),
        col("p_at_l", Float, "Mean precision of the top L predictions."),
        col(
            "p_at_l2",
            Float,
            "Mean precision of the top L/2 predictions.",
        ),
        col(
            "p_at_l5",
            Float,
            "Mean precision of the top L/5 predictions.",
        ),
    ],
    recognised_by: &["layer", "nonzero_weights", "range", "p_at_l"],
    exact: false,
};

pub const CONTACT_EVALUATION: TableSchema = TableSchema {
    name: "contact_evaluation",
    written_by: "`protscope contacts-eval` (`--out`); `stats::contacts::evaluation_frame`",
    about: "One row per protein and separation range: predicted contacts scored against the \
            structure as ESM scores them.",
    columns: &[
        PROTEIN,
        col(
            "range",
            Text,
            "Separation range: `local`, `short`, `medium` or `long`.",
        ),
        col("min_separation", UInt32, "Smallest |i − j| of the range."),
        null(
            "max_separation",
            UInt32,
            "Largest |i − j| of the range, exclusive; null for `long`.",
        ),
        col(
            "length",
            UInt32,
            "L: residues with resolved coordinates (a defined target).",
        ),
        col(
            "auc",
            Float,
            "Mean precision of the top L/10, 2L/10, …, L predictions (ESM's AUC).",
        ),
        col("p_at_l", Float, "Precision of the top L predictions."),
        col("p_at_l2", Float, "Precision of the top L/2 predictions."),
        col("p_at_l5", Float, "Precision of the top L/5 predictions."),
    ],
    recognised_by: &["protein", "range", "min_separation", "length", "p_at_l"],
    exact: false,
};

pub const CONTACT_EVALUATION_MEANS: TableSchema = TableSchema {
    name: "contact_evaluation_means",
    written_by: "`protscope contacts-eval` (`<stem>.mean`); `stats::contacts::mean_frame`",
    about: "One row per separation range: the mean of the contact evaluation over proteins.",
    columns: &[
        col(
            "range",
            Text,
            "Separation range: `local`, `short`, `medium` or `long`.",
        ),
        col("proteins", UInt32, "Proteins scored in the range."),
        col("auc", Float, "Mean AUC."),
        col("p_at_l", Float, "Mean precision of the top L predictions."),
        col(
            "p_at_l2",
            Float,
            "Mean precision of the top L/2 predictions.",
        ),
        col(
            "p_at_l5",
            Float,
            "Mean precision of the top L/5 predictions.",
        ),
    ],
    recognised_by: &["range", "proteins", "auc", "p_at_l"],
    exact: false,
};

pub const IMGT_POSITIONS: TableSchema = TableSchema {
    name: "imgt_positions",
    written_by: "`protscope regions --positions`; `annotation::antibody::positions_frame`",
    about: "One row per residue of an antibody V domain: its IMGT number and region (residues \
            outside the domain have no row).",
    columns: &[
        PROTEIN,
        col(
            "position",
            UInt32,
            "Residue, 1-based in the given sequence.",
        ),
        col("residue", Text, "The residue letter."),
        col("chain", Text, "Chain type: `H`, `K` or `L`."),
        col(
            "imgt",
            Text,
            "IMGT position with any insertion letter (`111A`).",
        ),
        col("imgt_number", UInt32, "IMGT number, 1–128."),
        null("imgt_insertion", Text, "Insertion letter; null when none."),
        null(
            "region",
            Text,
            "Region (`FR1` … `CDR-L3`); null for residues in no region (e.g. after IMGT 104 \
             of a V-REGION).",
        ),
    ],
    recognised_by: &[
        "protein",
        "position",
        "residue",
        "chain",
        "imgt",
        "imgt_number",
    ],
    exact: false,
};

const SCORE_METHOD: ColumnSpec = col(
    "method",
    Text,
    "`causal`: next-token log-probabilities of a decoder (IgLM's rule); `pseudo`: \
     pseudo-log-likelihood of a masked LM, each residue masked in turn (Salazar et al. 2020).",
);

/// `protscope score`: one row per sequence.
pub const SEQUENCE_SCORES: TableSchema = TableSchema {
    name: "sequence_scores",
    written_by: "`protscope score`; `model::scoring::scores_frame`",
    about: "One row per sequence: how probable the language model finds it.",
    columns: &[
        PROTEIN,
        col(
            "n_scored",
            Integer,
            "Tokens scored: the residues (pseudo); the residues after the first context token \
             and the closing token (causal).",
        ),
        col(
            "log_likelihood",
            Float,
            "Sum of the scored tokens' natural-log probabilities.",
        ),
        col(
            "mean_log_likelihood",
            Float,
            "log_likelihood / n_scored (IgLM's score for causal models).",
        ),
        col("perplexity", Float, "exp(−mean_log_likelihood)."),
        SCORE_METHOD,
    ],
    recognised_by: &[
        "protein",
        "n_scored",
        "log_likelihood",
        "mean_log_likelihood",
        "perplexity",
        "method",
    ],
    exact: false,
};

/// `protscope score --per-residue`: one row per scored residue.
pub const REGION_SCORES: TableSchema = TableSchema {
    name: "region_scores",
    written_by: "`protscope demo --models` (`models/<name>/region_scores.csv`); \
                 `report::model_comparison::region_scores_frame`",
    about: "One compared model's residue scores summed up per IMGT region: where the model \
            finds antibodies surprising.",
    columns: &[
        col(
            "model",
            Text,
            "The compared model (its folder under `models/`).",
        ),
        col(
            "region",
            Text,
            "CDR1, CDR2, CDR3, framework (residues outside every CDR) or all.",
        ),
        col(
            "proteins",
            Integer,
            "Antibodies with residues in the region.",
        ),
        col("n_residues", Integer, "Residues scored in the region."),
        col(
            "mean_log_prob",
            Float,
            "Mean natural-log probability of the region's residues (`residue_scores`' log_prob).",
        ),
        col(
            "accuracy",
            Float,
            "Share of the region's residues that are the model's most probable amino acid \
             (masked-residue accuracy for masked models).",
        ),
    ],
    recognised_by: &["model", "region", "mean_log_prob", "accuracy"],
    exact: false,
};

pub const RESIDUE_SCORES: TableSchema = TableSchema {
    name: "residue_scores",
    written_by: "`protscope score --per-residue`; `model::scoring::residue_scores_frame`",
    about: "One row per scored residue: its log-probability and the most probable amino acid \
            at its position.",
    columns: &[
        PROTEIN,
        col(
            "position",
            Integer,
            "Residue, 1-based (prefix tokens are not counted).",
        ),
        col("residue", Text, "The residue letter."),
        col(
            "log_prob",
            Float,
            "Natural-log probability of the residue given the tokens before it (causal) or all \
             other tokens with it masked (pseudo).",
        ),
        col(
            "predicted",
            Text,
            "The most probable of the 20 standard amino acids at this position.",
        ),
        col("predicted_log_prob", Float, "Its natural-log probability."),
        SCORE_METHOD,
    ],
    recognised_by: &[
        "protein",
        "position",
        "residue",
        "log_prob",
        "predicted",
        "predicted_log_prob",
        "method",
    ],
    exact: false,
};

pub const RESIDUE_MASKS: TableSchema = TableSchema {
    name: "residue_masks",
    written_by: "`protscope features --residues`; `annotation::residue_frame`",
    about: "One row per residue of each protein, then one boolean column per feature type \
            selected (named by `mask_column_name`: `Binding site` → `binding_site`), true \
            where a feature of that type covers the residue.",
    columns: &[
        col(
            "protein",
            Text,
            "Accession, or the FASTA id with `--fasta`.",
        ),
        col("position", UInt32, "Residue, 1-based."),
        col("residue", Text, "The residue letter."),
    ],
    recognised_by: &["protein", "position", "residue"],
    exact: false,
};

/// `protscope probe`: per-layer probing scores.
pub const PROBE: TableSchema = TableSchema {
    name: "probe",
    written_by: "`protscope probe`; `probing::probe_frame`",
    about: "One row per task, layer, split and metric: the score of a linear classifier \
            (L2 logistic regression on standardised features) trained on that layer's features \
            of the training proteins.",
    columns: &[
        col(
            "task",
            Text,
            "`ss3`, `ss8`, `sites`, `regions_cdr`, `regions_imgt` or `contacts`.",
        ),
        col(
            "layer",
            Integer,
            "0 = embedding output, l = output of block l (contacts: the attention of block l, \
             from 1).",
        ),
        col(
            "split",
            Text,
            "`train`, `validation` or `test` (proteins split by `--seed`).",
        ),
        col(
            "metric",
            Text,
            "`accuracy`, `f1_<class>` and `macro_f1` (more than two classes), `f1` (of the \
             positive class), `precision_at_l20` (sites: provis' pooled top L/20), \
             `precision_at_l5` and `precision_at_l` (contacts: esm's per protein, averaged).",
        ),
        col("value", Float, "The score; NaN where undefined."),
        col("n_proteins", Integer, "Proteins in the split."),
        col(
            "n_examples",
            Integer,
            "Residues (contacts: residue pairs) of the split scored.",
        ),
        col(
            "c",
            Float,
            "The classifier's C (inverse L2 strength): `--c`, or the grid value with the best \
             validation score for this task and layer.",
        ),
    ],
    recognised_by: &[
        "task",
        "layer",
        "split",
        "metric",
        "value",
        "n_proteins",
        "n_examples",
        "c",
    ],
    exact: true,
};

/// Every table, in recognition order: the tables the run-folder report recognises (as its
/// `TableKind::of` tries them, more specific first), then the others. [`recognise`] takes the
/// first that matches.
pub const ALL: &[&TableSchema] = &[
    &PREDICTIONS,
    &AMINO_ACID_BLOSUM,
    &TOP_HEADS,
    &HEAD_LAYERS,
    &HEADS,
    &ATTRIBUTION,
    &ATTRIBUTION_SUMMARY,
    &EXPLANATION_SUMMARY,
    &RELEVANCE_STATS,
    &RELEVANCE_PER_PROTEIN,
    &ATTENTION_EDGES,
    &CONTACTS,
    &SECONDARY_STRUCTURE,
    &FLIP,
    &FLIP_AOPC,
    &RANDOMISATION,
    &METHOD_AGREEMENT,
    &ANTIBODIES,
    &FEATURES,
    &LABELS,
    &SKIPPED,
    &EMBEDDINGS,
    &CONTACT_PREDICTIONS,
    &CONTACT_COUPLINGS,
    &CONTACT_LAYERS,
    &CONTACT_EVALUATION,
    &CONTACT_EVALUATION_MEANS,
    &IMGT_POSITIONS,
    &SEQUENCE_SCORES,
    // Before `residue_masks`, whose columns it has.
    &RESIDUE_SCORES,
    &REGION_SCORES,
    &RESIDUE_MASKS,
    &PROBE,
];

/// The table `frame` is, by its columns: the first of [`ALL`] it matches.
pub fn recognise(frame: &DataFrame) -> Option<&'static TableSchema> {
    ALL.iter().copied().find(|s| s.matches(frame))
}

/// The docs page `docs/tables.md`: every table's columns, types and meanings.
pub fn reference_markdown() -> String {
    let mut out = String::new();
    out.push_str("# Tables\n\n");
    out.push_str(
        "Generated from `crates/protscope/src/frame/schema.rs` by \
         `PROTSCOPE_UPDATE_DOCS=1 cargo test schema`: edit the schema, not this page.\n\n",
    );
    out.push_str(
        "Every table is written as Parquet or CSV, chosen by the file's extension; CSV reads \
         integers back as Int64 and floats as Float64. Residue positions are 1-based \
         (attribution tables also number the special tokens: 0 is the first, n + 1 the final \
         one). Layers and attention heads are 0-based; in attribution tables layer = head = −1 \
         is the embedding level. The report recognises a table by its columns, not its file \
         name; a column marked optional may be missing from tables made elsewhere or by older \
         releases.\n\n",
    );
    for schema in ALL {
        out.push_str(&format!("## {}\n\n", schema.name));
        out.push_str(&format!("{}\n\n", schema.about));
        out.push_str(&format!("Written by {}.\n\n", schema.written_by));
        let columns: Vec<String> = schema
            .recognised_by
            .iter()
            .map(|c| format!("`{c}`"))
            .collect();
        out.push_str(&format!(
            "Recognised by the columns {}{}.\n\n",
            columns.join(", "),
            if schema.exact { " (exactly these)" } else { "" }
        ));
        out.push_str("| column | type | meaning |\n|---|---|---|\n");
        for c in schema.columns {
            let mut kind = c.kind.describe().to_string();
            if c.nullable {
                kind.push_str(", may be null");
            }
            if c.optional {
                kind.push_str(", optional");
            }
            out.push_str(&format!(
                "| `{}` | {} | {} |\n",
                c.name,
                kind,
                c.meaning.replace('|', "\\|")
            ));
        }
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// Renames the prediction-output column of tables written before 0.2, which called it `head`:
/// predictions (`protein, head, class, label, logit, prob`), labels (exactly `protein, head,
/// label`) and attribution summaries (`protein, head, target, f_input, …`) get `head` renamed
/// to `output`. Tables with a `layer` column (whose `head` is an attention head) and tables
/// that already have `output` are left alone. Returns whether it renamed.
pub fn upgrade_legacy_columns(frame: &mut DataFrame) -> Result<bool> {
    let names: BTreeSet<String> = frame
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let has = |cols: &[&str]| cols.iter().all(|c| names.contains(*c));
    if !has(&["head"]) || has(&["output"]) || has(&["layer"]) {
        return Ok(false);
    }
    let legacy = has(&["protein", "head", "class", "label", "logit", "prob"])
        || (names.len() == 3 && has(&["protein", "head", "label"]))
        || has(&[
            "protein",
            "head",
            "target",
            "f_input",
            "f_baseline",
            "delta",
        ]);
    if legacy {
        frame.rename("head", "output".into())?;
    }
    Ok(legacy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_recognition_columns_exist() {
        let mut names = BTreeSet::new();
        for s in ALL {
            assert!(names.insert(s.name), "{} twice", s.name);
            let columns = s.column_names();
            let distinct: BTreeSet<_> = columns.iter().collect();
            assert_eq!(distinct.len(), columns.len(), "{}", s.name);
            for c in s.recognised_by {
                assert!(columns.contains(c), "{}: {c}", s.name);
            }
            if s.exact {
                assert_eq!(s.recognised_by, columns.as_slice(), "{}", s.name);
            }
        }
    }

    #[test]
    fn require_names_the_file_the_table_and_the_missing_columns() {
        let frame = df!("protein" => ["a"], "output" => ["x"]).unwrap();
        let e = PREDICTIONS
            .require(&frame, "p.csv")
            .unwrap_err()
            .to_string();
        assert!(e.contains("p.csv") && e.contains("predictions"), "{e}");
        assert!(e.contains("`class`, `label`"), "{e}");
        let mut without_residue = ATTRIBUTION.empty_frame();
        without_residue.drop_in_place("residue").unwrap();
        ATTRIBUTION.require(&without_residue, "a.parquet").unwrap();
    }
}
