//! UniProt REST JSON: one entry object, a search response `{"results": [...]}`, or an array of
//! entries. Location modifiers are `EXACT`, `OUTSIDE` (`<` at a start, `>` at an end), `UNSURE`
//! and `UNKNOWN`.

use super::{non_empty, type_from_name, Entry, Feature, Modifier, Position};
use crate::{Error, Result};
use serde_json::Value;
use std::path::Path;

/// Parses a REST JSON document.
pub fn parse(text: &str, path: &Path) -> Result<Vec<Entry>> {
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        Error::file(
            path,
            format!(
                "not valid JSON at line {}, column {} ({e}); the file may be truncated",
                e.line(),
                e.column()
            ),
        )
    })?;
    let items: Vec<&Value> =
        match &doc {
            Value::Object(map) if map.contains_key("results") => match map.get("results") {
                Some(Value::Array(items)) => items.iter().collect(),
                _ => return Err(Error::file(path, "`results` is not an array")),
            },
            Value::Object(_) => vec![&doc],
            Value::Array(items) => items.iter().collect(),
            _ => return Err(Error::file(
                path,
                "expected a UniProt entry object, an array of entries or `{\"results\": [...]}`",
            )),
        };
    let mut entries = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        entries.push(parse_entry(item, index, path)?);
    }
    if entries.is_empty() {
        return Err(Error::file(path, "the JSON holds no entries"));
    }
    Ok(entries)
}

fn str_field<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn parse_entry(item: &Value, index: usize, path: &Path) -> Result<Entry> {
    let accession = str_field(item, "primaryAccession")
        .and_then(non_empty)
        .ok_or_else(|| {
            Error::file(
                path,
                format!("entry #{} has no `primaryAccession`", index + 1),
            )
        })?;
    let mut entry = Entry {
        secondary_accessions: item
            .get("secondaryAccessions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        entry_name: str_field(item, "uniProtkbId").and_then(non_empty),
        sequence: item
            .get("sequence")
            .and_then(|s| str_field(s, "value"))
            .and_then(non_empty),
        sequence_version: item
            .get("entryAudit")
            .and_then(|a| a.get("sequenceVersion"))
            .and_then(Value::as_u64)
            .and_then(|v| u32::try_from(v).ok()),
        accession,
        features: Vec::new(),
    };
    let features = match item.get("features") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(f)) => f.as_slice(),
        Some(_) => {
            return Err(Error::file(
                path,
                format!("entry {}: `features` is not an array", entry.accession),
            ))
        }
    };
    for (n, f) in features.iter().enumerate() {
        let feature = parse_feature(f).map_err(|m| {
            Error::file(
                path,
                format!("entry {}, feature #{}: {m}", entry.accession, n + 1),
            )
        })?;
        entry.features.push(feature);
    }
    Ok(entry)
}

fn parse_feature(f: &Value) -> std::result::Result<Feature, String> {
    let kind = str_field(f, "type").ok_or("feature has no `type`")?;
    let location = f.get("location").ok_or("feature has no `location`")?;
    let start = parse_position(location.get("start"), true)?;
    let end = parse_position(location.get("end"), false)?;
    let mut feature = Feature::new(type_from_name(kind), start, end);
    feature.description = str_field(f, "description").and_then(non_empty);
    feature.feature_id = str_field(f, "featureId").and_then(non_empty);
    if let Some(evidences) = f.get("evidences").and_then(Value::as_array) {
        for e in evidences {
            let Some(code) = str_field(e, "evidenceCode") else {
                continue;
            };
            let rendered = match (str_field(e, "source"), str_field(e, "id")) {
                (Some(s), Some(id)) => format!("{code}|{s}:{id}"),
                _ => code.to_string(),
            };
            feature.evidence.push(rendered);
        }
    }
    if let Some(ligand) = f.get("ligand") {
        feature.ligand = str_field(ligand, "name").and_then(non_empty);
        feature.ligand_id = str_field(ligand, "id").and_then(non_empty);
    }
    Ok(feature)
}

fn parse_position(p: Option<&Value>, is_start: bool) -> std::result::Result<Position, String> {
    let Some(p) = p else {
        return Ok(Position::unknown());
    };
    let modifier = match str_field(p, "modifier") {
        None | Some("EXACT") => Modifier::Exact,
        Some("OUTSIDE") if is_start => Modifier::LessThan,
        Some("OUTSIDE") => Modifier::GreaterThan,
        Some("UNSURE") => Modifier::Uncertain,
        Some("UNKNOWN") => Modifier::Unknown,
        Some(other) => return Err(format!("unknown location modifier `{other}`")),
    };
    if modifier == Modifier::Unknown {
        return Ok(Position::unknown());
    }
    match p.get("value") {
        None | Some(Value::Null) => Ok(Position::unknown()),
        Some(v) => {
            let value = v
                .as_u64()
                .and_then(|v| usize::try_from(v).ok())
                .ok_or_else(|| format!("location value `{v}` is not a residue number"))?;
            Ok(Position {
                value: Some(value),
                modifier,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_entry_and_results() {
        let one = r#"{"primaryAccession":"P1","uniProtkbId":"X_HUMAN",
            "entryAudit":{"sequenceVersion":3},"sequence":{"value":"MKV"},
            "features":[{"type":"Binding site","location":{"start":{"value":1,"modifier":"OUTSIDE"},
            "end":{"value":2,"modifier":"OUTSIDE"}},"description":"",
            "evidences":[{"evidenceCode":"ECO:0000255","source":"PROSITE-ProRule","id":"PRU1"}],
            "ligand":{"name":"ATP","id":"ChEBI:CHEBI:30616"}},
            {"type":"Chain","location":{"start":{"modifier":"UNKNOWN"},"end":{"value":3,"modifier":"UNSURE"}}}]}"#;
        let e = &parse(one, Path::new("a.json")).unwrap()[0];
        assert_eq!(e.sequence_version, Some(3));
        let b = &e.features[0];
        assert_eq!(b.start.modifier, Modifier::LessThan);
        assert_eq!(b.end.modifier, Modifier::GreaterThan);
        assert_eq!(b.description, None);
        assert_eq!(b.evidence, vec!["ECO:0000255|PROSITE-ProRule:PRU1"]);
        assert_eq!(b.ligand.as_deref(), Some("ATP"));
        assert_eq!(e.features[1].start, Position::unknown());
        assert_eq!(e.features[1].end.modifier, Modifier::Uncertain);
        let results = format!("{{\"results\":[{one},{one}]}}");
        assert_eq!(parse(&results, Path::new("a.json")).unwrap().len(), 2);
    }

    #[test]
    fn bad_json_is_an_error() {
        let p = Path::new("a.json");
        assert!(parse("{\"primaryAccession\":", p)
            .unwrap_err()
            .to_string()
            .contains("truncated"));
        assert!(parse("{}", p)
            .unwrap_err()
            .to_string()
            .contains("primaryAccession"));
        assert!(parse("{\"results\":[]}", p)
            .unwrap_err()
            .to_string()
            .contains("no entries"));
        let bad = r#"{"primaryAccession":"P1","features":[{"type":"Site","location":{"start":{"value":-1}}}]}"#;
        let e = parse(bad, p).unwrap_err().to_string();
        assert!(e.contains("P1") && e.contains("feature #1"), "{e}");
    }
}
