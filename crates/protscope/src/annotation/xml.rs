//! UniProt XML, read as a stream of events with quick-xml: one [`Entry`] is held at a time, so
//! a full Swiss-Prot dump parses in memory bounded by its largest entry.
//!
//! Evidence keys on features (`evidence="2 5"`) point at `<evidence key=...>` elements that
//! come after the features, so features are resolved when `</entry>` is reached. Evidence is
//! rendered the way flat files write it (`ECO:0000255|PROSITE-ProRule:PRU01020`,
//! `ECO:0000269|Ref.3`), which keeps the two formats comparable.

use super::{non_empty, type_from_xml, Entry, Feature, Modifier, Position};
use crate::{Error, Result};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Parses every entry of an XML document held in memory.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Vec<Entry>> {
    parse_reader(bytes, path)
}

/// Parses every entry of an XML stream; an empty document is an error.
pub fn parse_reader<R: BufRead>(reader: R, path: &Path) -> Result<Vec<Entry>> {
    let entries = XmlEntries::new(reader, path).collect::<Result<Vec<_>>>()?;
    if entries.is_empty() {
        return Err(Error::file(
            path,
            "no <entry> elements found; is this a UniProt XML file?",
        ));
    }
    Ok(entries)
}

/// Opens a (possibly gzip-compressed) UniProt XML file as a stream of entries.
pub fn stream(path: &Path) -> Result<XmlEntries<Box<dyn BufRead + Send>>> {
    Ok(XmlEntries::new(crate::io::open_maybe_gzip(path)?, path))
}

/// A feature while its child elements are read.
struct FeatureBuilder {
    feature: Feature,
    evidence_keys: Vec<String>,
    ligands: Vec<String>,
    ligand_ids: Vec<String>,
    in_ligand: bool,
}

struct EntryBuilder {
    entry: Entry,
    features: Vec<FeatureBuilder>,
    evidence: HashMap<String, String>,
    /// The `<evidence>` element being read: (key, ECO code, source).
    open_evidence: Option<(String, String, Option<String>)>,
}

/// Iterator over the entries of a UniProt XML stream.
pub struct XmlEntries<R: BufRead> {
    reader: Reader<R>,
    buf: Vec<u8>,
    path: PathBuf,
    /// Names of the open elements (local names), outermost first.
    stack: Vec<String>,
    text: String,
    current: Option<EntryBuilder>,
    finished: bool,
}

impl<R: BufRead> XmlEntries<R> {
    pub fn new(reader: R, path: &Path) -> Self {
        let mut reader = Reader::from_reader(reader);
        reader.config_mut().check_end_names = true;
        XmlEntries {
            reader,
            buf: Vec::new(),
            path: path.to_path_buf(),
            stack: Vec::new(),
            text: String::new(),
            current: None,
            finished: false,
        }
    }

    fn error(&self, message: impl std::fmt::Display) -> Error {
        let at = self.reader.buffer_position();
        let entry = self
            .current
            .as_ref()
            .map(|b| b.entry.accession.as_str())
            .filter(|a| !a.is_empty())
            .map(|a| format!(" (entry {a})"))
            .unwrap_or_default();
        Error::file(&self.path, format!("byte {at}{entry}: {message}"))
    }

    fn parent(&self) -> Option<&str> {
        self.stack.last().map(String::as_str)
    }

    fn next_entry(&mut self) -> Result<Option<Entry>> {
        loop {
            self.buf.clear();
            let event = match self.reader.read_event_into(&mut self.buf) {
                Ok(e) => e.into_owned(),
                Err(e) => {
                    return Err(self.error(format!(
                        "malformed XML ({e}); the file may be truncated or not XML"
                    )))
                }
            };
            match event {
                Event::Start(start) => {
                    let name = local_name(&start);
                    self.start_element(&name, &start)?;
                    self.stack.push(name);
                    self.text.clear();
                }
                Event::Empty(start) => {
                    let name = local_name(&start);
                    self.start_element(&name, &start)?;
                    self.stack.push(name.clone());
                    self.text.clear();
                    if let Some(entry) = self.end_element(&name)? {
                        return Ok(Some(entry));
                    }
                }
                Event::End(end) => {
                    let name = end.local_name().as_ref().to_string();
                    if let Some(entry) = self.end_element(&name)? {
                        return Ok(Some(entry));
                    }
                }
                Event::Text(t) => self.text.push_str(&t.xml10_content()),
                Event::CData(t) => self.text.push_str(&t.xml10_content()),
                Event::GeneralRef(r) => {
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) => Some(c),
                        Ok(None) => match &*r {
                            "amp" => Some('&'),
                            "lt" => Some('<'),
                            "gt" => Some('>'),
                            "quot" => Some('"'),
                            "apos" => Some('\''),
                            _ => None,
                        },
                        Err(_) => None,
                    };
                    match resolved {
                        Some(c) => self.text.push(c),
                        None => {
                            return Err(self.error(format!("unknown entity reference `&{};`", &*r)))
                        }
                    }
                }
                Event::Eof => {
                    if let Some(open) = &self.current {
                        let acc = open.entry.accession.clone();
                        return Err(self.error(format!(
                            "file ends inside entry `{acc}`; the file is truncated"
                        )));
                    }
                    if !self.stack.is_empty() {
                        return Err(self.error(format!(
                            "file ends with <{}> still open; the file is truncated",
                            self.stack.join("> <")
                        )));
                    }
                    return Ok(None);
                }
                _ => {}
            }
        }
    }

    fn start_element(&mut self, name: &str, start: &BytesStart) -> Result<()> {
        let parent = self.parent().map(str::to_string);
        match name {
            "entry" => {
                if self.current.is_some() {
                    return Err(self.error("<entry> inside another <entry>"));
                }
                self.current = Some(EntryBuilder {
                    entry: Entry::default(),
                    features: Vec::new(),
                    evidence: HashMap::new(),
                    open_evidence: None,
                });
            }
            "feature" => {
                let attrs = attributes(start).map_err(|m| self.error(m))?;
                let Some(builder) = self.current.as_mut() else {
                    return Ok(());
                };
                let get = |k: &str| attrs.get(k).map(String::as_str);
                let mut feature = Feature::new(
                    type_from_xml(get("type").unwrap_or("")),
                    Position::unknown(),
                    Position::unknown(),
                );
                feature.description = get("description").and_then(non_empty);
                feature.status = get("status").and_then(non_empty);
                feature.feature_id = get("id").and_then(non_empty);
                builder.features.push(FeatureBuilder {
                    feature,
                    evidence_keys: get("evidence")
                        .unwrap_or("")
                        .split_whitespace()
                        .map(str::to_string)
                        .collect(),
                    ligands: Vec::new(),
                    ligand_ids: Vec::new(),
                    in_ligand: false,
                });
            }
            // `<location>` also occurs in comments (mass spectrometry); only features count.
            "begin" | "end" | "position"
                if parent.as_deref() == Some("location") && self.in_feature() =>
            {
                let attrs = attributes(start).map_err(|m| self.error(m))?;
                let position = xml_position(&attrs).map_err(|m| self.error(m))?;
                if let Some(fb) = self.current_feature() {
                    match name {
                        "begin" => fb.feature.start = position,
                        "end" => fb.feature.end = position,
                        _ => {
                            fb.feature.start = position;
                            fb.feature.end = position;
                        }
                    }
                }
            }
            "ligand" if self.in_feature() => {
                if let Some(fb) = self.current_feature() {
                    fb.in_ligand = true;
                }
            }
            "dbReference" if parent.as_deref() == Some("ligand") && self.in_feature() => {
                let attrs = attributes(start).map_err(|m| self.error(m))?;
                if let (Some(db), Some(id)) = (attrs.get("type"), attrs.get("id")) {
                    let id = format!("{db}:{id}");
                    if let Some(fb) = self.current_feature() {
                        fb.ligand_ids.push(id);
                    }
                }
            }
            "evidence" if parent.as_deref() == Some("entry") => {
                let attrs = attributes(start).map_err(|m| self.error(m))?;
                if let Some(builder) = self.current.as_mut() {
                    builder.open_evidence = Some((
                        attrs.get("key").cloned().unwrap_or_default(),
                        attrs.get("type").cloned().unwrap_or_default(),
                        None,
                    ));
                }
            }
            "dbReference" | "source" if self.stack.iter().any(|s| s == "evidence") => {
                let attrs = attributes(start).map_err(|m| self.error(m))?;
                if let Some((_, _, source)) =
                    self.current.as_mut().and_then(|b| b.open_evidence.as_mut())
                {
                    if source.is_none() {
                        if let (Some(db), Some(id)) = (attrs.get("type"), attrs.get("id")) {
                            *source = Some(format!("{db}:{id}"));
                        } else if let Some(reference) = attrs.get("ref") {
                            *source = Some(format!("Ref.{reference}"));
                        }
                    }
                }
            }
            "sequence" if parent.as_deref() == Some("entry") => {
                let attrs = attributes(start).map_err(|m| self.error(m))?;
                if let Some(builder) = self.current.as_mut() {
                    builder.entry.sequence_version =
                        attrs.get("version").and_then(|v| v.parse().ok());
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn in_feature(&self) -> bool {
        self.stack.iter().any(|s| s == "feature")
    }

    fn current_feature(&mut self) -> Option<&mut FeatureBuilder> {
        self.current.as_mut().and_then(|b| b.features.last_mut())
    }

    fn end_element(&mut self, name: &str) -> Result<Option<Entry>> {
        match self.stack.pop() {
            Some(open) if open == name => {}
            other => {
                return Err(self.error(format!(
                    "closing </{name}> does not match the open <{}>",
                    other.unwrap_or_default()
                )))
            }
        }
        let parent = self.parent().map(str::to_string);
        let text = std::mem::take(&mut self.text);
        let Some(builder) = self.current.as_mut() else {
            return Ok(None);
        };
        match name {
            "accession" if parent.as_deref() == Some("entry") => {
                let acc = text.trim().to_string();
                if builder.entry.accession.is_empty() {
                    builder.entry.accession = acc;
                } else {
                    builder.entry.secondary_accessions.push(acc);
                }
            }
            "name" if parent.as_deref() == Some("entry") => {
                builder.entry.entry_name = non_empty(&text);
            }
            "name" if parent.as_deref() == Some("ligand") => {
                if let Some(fb) = builder.features.last_mut().filter(|f| f.in_ligand) {
                    if let Some(n) = non_empty(&text) {
                        fb.ligands.push(n);
                    }
                }
            }
            "ligand" => {
                if let Some(fb) = builder.features.last_mut() {
                    fb.in_ligand = false;
                }
            }
            "sequence" if parent.as_deref() == Some("entry") => {
                let seq: String = text.chars().filter(|c| c.is_ascii_alphabetic()).collect();
                builder.entry.sequence = (!seq.is_empty()).then_some(seq);
            }
            "evidence" if parent.as_deref() == Some("entry") => {
                // Pre-2013 files have non-ECO evidence (`type="Literature"`) that flat text of
                // the same release does not show; the schema holds ECO evidence only.
                let open = builder
                    .open_evidence
                    .take()
                    .filter(|(_, eco, _)| eco.starts_with("ECO:"));
                if let Some((key, eco, source)) = open {
                    let rendered = match source {
                        Some(s) => format!("{eco}|{s}"),
                        None => eco,
                    };
                    builder.evidence.insert(key, rendered);
                }
            }
            "entry" => {
                let Some(done) = self.current.take() else {
                    return Ok(None);
                };
                return self.finish_entry(done).map(Some);
            }
            _ => {}
        }
        Ok(None)
    }

    fn finish_entry(&self, builder: EntryBuilder) -> Result<Entry> {
        let mut entry = builder.entry;
        if entry.accession.is_empty() {
            return Err(self.error("<entry> without <accession>; every entry needs one"));
        }
        for fb in builder.features {
            let mut f = fb.feature;
            for key in &fb.evidence_keys {
                if let Some(e) = builder.evidence.get(key) {
                    f.evidence.push(e.clone());
                }
            }
            if !fb.ligands.is_empty() {
                f.ligand = Some(fb.ligands.join("; "));
            }
            if !fb.ligand_ids.is_empty() {
                f.ligand_id = Some(fb.ligand_ids.join("; "));
            }
            entry.features.push(f);
        }
        Ok(entry)
    }
}

impl<R: BufRead> Iterator for XmlEntries<R> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.next_entry() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(e) => {
                self.finished = true;
                Some(Err(e))
            }
        }
    }
}

fn local_name(start: &BytesStart) -> String {
    start.local_name().as_ref().to_string()
}

fn attributes(start: &BytesStart) -> std::result::Result<HashMap<String, String>, String> {
    let mut map = HashMap::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| format!("malformed attribute ({e})"))?;
        let key = attr.key.local_name().as_ref().to_string();
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| format!("attribute `{key}`: {e}"))?
            .into_owned();
        map.insert(key, value);
    }
    Ok(map)
}

/// `<begin position="1" status="less than"/>` and friends.
fn xml_position(attrs: &HashMap<String, String>) -> std::result::Result<Position, String> {
    let modifier = match attrs.get("status").map(String::as_str) {
        None | Some("certain") => Modifier::Exact,
        Some("less than") => Modifier::LessThan,
        Some("greater than") => Modifier::GreaterThan,
        Some("uncertain") => Modifier::Uncertain,
        Some("unknown") => Modifier::Unknown,
        Some(other) => return Err(format!("unknown position status `{other}`")),
    };
    match attrs.get("position") {
        None => Ok(Position::unknown()),
        Some(_) if modifier == Modifier::Unknown => Ok(Position::unknown()),
        Some(p) => {
            let value = p
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("position `{p}` is not a residue number"))?;
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

    const DOC: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<uniprot xmlns="http://uniprot.org/uniprot">
<entry dataset="Swiss-Prot">
  <accession>P1</accession><accession>P2</accession>
  <name>TEST_HUMAN</name>
  <protein><recommendedName><fullName>X</fullName></recommendedName></protein>
  <feature type="binding site" evidence="1 2">
    <location><begin position="3"/><end position="5" status="greater than"/></location>
    <ligand><name>NAD(+)</name><dbReference type="ChEBI" id="CHEBI:57540"/></ligand>
  </feature>
  <feature type="modified residue" description="Phospho&amp;more &#x41;" id="PRO_1">
    <location><position position="2" status="uncertain"/></location>
  </feature>
  <feature type="disulfide bond"><location><begin status="unknown"/><end position="9"/></location></feature>
  <evidence type="ECO:0000255" key="1"><source><dbReference type="PROSITE-ProRule" id="PRU1"/></source></evidence>
  <evidence type="ECO:0000269" key="2"><source ref="3"/></evidence>
  <sequence length="10" version="2">MKCA
  AAAAAC</sequence>
</entry>
</uniprot>"#;

    #[test]
    fn reads_features_ligands_and_evidence() {
        let entries = parse(DOC.as_bytes(), Path::new("t.xml")).unwrap();
        let e = &entries[0];
        assert_eq!(e.accession, "P1");
        assert_eq!(e.secondary_accessions, vec!["P2"]);
        assert_eq!(e.entry_name.as_deref(), Some("TEST_HUMAN"));
        assert_eq!(e.sequence.as_deref(), Some("MKCAAAAAAC"));
        assert_eq!(e.sequence_version, Some(2));
        let b = &e.features[0];
        assert_eq!(b.feature_type, "Binding site");
        assert_eq!(b.start, Position::exact(3));
        assert_eq!(b.end.modifier, Modifier::GreaterThan);
        assert_eq!(b.ligand.as_deref(), Some("NAD(+)"));
        assert_eq!(b.ligand_id.as_deref(), Some("ChEBI:CHEBI:57540"));
        assert_eq!(
            b.evidence,
            vec!["ECO:0000255|PROSITE-ProRule:PRU1", "ECO:0000269|Ref.3"]
        );
        let m = &e.features[1];
        assert_eq!(m.description.as_deref(), Some("Phospho&more A"));
        assert_eq!(m.start.modifier, Modifier::Uncertain);
        assert_eq!(m.feature_id.as_deref(), Some("PRO_1"));
        assert_eq!(e.features[2].start, Position::unknown());
    }

    #[test]
    fn truncated_and_wrong_xml_are_errors() {
        let p = Path::new("t.xml");
        let cut = &DOC[..DOC.len() / 2];
        let e = parse(cut.as_bytes(), p).unwrap_err().to_string();
        assert!(e.contains("t.xml") && e.contains("truncated"), "{e}");
        let e = parse(b"<uniprot></uniprot>", p).unwrap_err().to_string();
        assert!(e.contains("no <entry>"), "{e}");
        let e = parse(b"<uniprot><entry></uniprot>", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.xml"), "{e}");
        let bad_pos = DOC.replace("position=\"3\"", "position=\"x\"");
        let e = parse(bad_pos.as_bytes(), p).unwrap_err().to_string();
        assert!(e.contains("(entry P1)") && e.contains("`x`"), "{e}");
    }
}
