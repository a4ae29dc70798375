//! One schema per table (crates/protscope/src/frame/schema.rs): the writers produce exactly
//! the schema's columns and types, each schema's own table is recognised as that table, and
//! docs/tables.md is generated from it. After changing a schema:
//! `PROTSCOPE_UPDATE_DOCS=1 cargo test schema`.

use std::path::Path;

use polars::prelude::*;
use protscope::frame::schema::{self, TableSchema};

fn names_and_types(df: &DataFrame) -> Vec<(String, DataType)> {
    df.schema()
        .iter()
        .map(|(n, t)| (n.to_string(), t.clone()))
        .collect()
}

#[test]
fn writers_produce_the_schemas_columns_and_types() {
    let cases: [(&TableSchema, DataFrame); 7] = [
        (
            &schema::EXPLANATION_SUMMARY,
            protscope::attribution::tables::empty_explanation_summary_frame(),
        ),
        (
            &schema::PREDICTIONS,
            protscope::model::outputs::empty_predictions_frame(),
        ),
        (
            &schema::EMBEDDINGS,
            protscope::model::outputs::empty_embeddings_frame(),
        ),
        (
            &schema::ATTENTION_EDGES,
            protscope::attention::empty_attention_frame(),
        ),
        (
            &schema::ATTRIBUTION,
            protscope::attribution::tables::empty_relevance_frame(),
        ),
        (
            &schema::ATTRIBUTION_SUMMARY,
            protscope::attribution::tables::empty_summary_frame(),
        ),
        (
            &schema::SECONDARY_STRUCTURE,
            protscope::structure::secondary_structure_frame("p", &[], &[]).unwrap(),
        ),
    ];
    for (schema, written) in cases {
        assert_eq!(
            names_and_types(&schema.empty_frame()),
            names_and_types(&written),
            "{}",
            schema.name
        );
    }
}

#[test]
fn every_schema_recognises_its_own_table() {
    for schema in schema::ALL {
        let found = schema::recognise(&schema.empty_frame()).map(|s| s.name);
        assert_eq!(found, Some(schema.name), "{}", schema.name);
    }
}

#[test]
fn pre_0_2_tables_get_their_output_column() {
    let mut legacy = df!(
        "protein" => ["p"], "head" => ["species"], "class" => [0i64],
        "label" => ["Human"], "logit" => [1.0f32], "prob" => [0.5f32],
    )
    .unwrap();
    assert!(schema::upgrade_legacy_columns(&mut legacy).unwrap());
    assert!(legacy.column("output").is_ok());
    let mut attention = protscope::attention::empty_attention_frame();
    assert!(!schema::upgrade_legacy_columns(&mut attention).unwrap());
    assert!(attention.column("head").is_ok());
}

#[test]
fn table_reference_matches_the_schemas() {
    let generated = schema::reference_markdown();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/tables.md");
    if std::env::var_os("PROTSCOPE_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/tables.md is out of date with frame/schema.rs: run \
         `PROTSCOPE_UPDATE_DOCS=1 cargo test schema` and commit the result"
    );
}
