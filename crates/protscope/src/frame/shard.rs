//! Splitting a run over many proteins into shards (`--shard I/N`) and merging the shard tables.
//!
//! A protein belongs to shard `fnv1a64(id) mod N`, where `fnv1a64` is the 64-bit FNV-1a hash of
//! the id's UTF-8 bytes (offset basis 0xcbf29ce484222325, prime 0x100000001b3). The hash has no
//! key or seed, so every machine, run and protscope version puts a protein in the same shard,
//! whatever the order of the FASTA file or the other records in it. Shards are numbered 0..N-1
//! (a SLURM array `--array=0-(N-1)` passes `$SLURM_ARRAY_TASK_ID` as I).
//!
//! With `--shard I/N`, `--out` names a folder and shard I writes `shard-IIII-of-NNNN.parquet`
//! there (side tables such as the attribution summary as `shard-IIII-of-NNNN.<what>.parquet`).
//! [`merge_shards`] checks that every shard 0..N-1 is present with one schema and writes one
//! table (and one per side table), shard after shard, each shard's rows in input order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::{read_table, side_path, TableSink};
use crate::{Error, Result};

/// Shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

/// 64-bit FNV-1a of `bytes`: fixed constants, no seed, the same on every machine.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

impl Shard {
    /// Parses `I/N` (0 ≤ I < N).
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::invalid(format!(
                "`shard` `{text}`: {why}; write I/N with 0 <= I < N, e.g. 0/10 \
                 (shards are numbered from 0, like SLURM's $SLURM_ARRAY_TASK_ID with array 0-9)"
            ))
        };
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| bad("no `/` between the shard and the shard count"))?;
        let index: usize = i.trim().parse().map_err(|_| bad("I is not a number"))?;
        let count: usize = n.trim().parse().map_err(|_| bad("N is not a number"))?;
        if count == 0 {
            return Err(bad("N must be at least 1"));
        }
        if index >= count {
            return Err(bad("I must be below N"));
        }
        Ok(Shard { index, count })
    }

    /// The shard a protein id belongs to.
    pub fn of(id: &str, count: usize) -> usize {
        (fnv1a64(id.as_bytes()) % count.max(1) as u64) as usize
    }

    pub fn contains(&self, id: &str) -> bool {
        Shard::of(id, self.count) == self.index
    }

    /// Keeps the items whose id is in this shard, in their order.
    pub fn select<T>(&self, items: Vec<T>, id: impl Fn(&T) -> &str) -> Vec<T> {
        items.into_iter().filter(|x| self.contains(id(x))).collect()
    }

    /// `shard-IIII-of-NNNN.<ext>` (at least four digits each).
    pub fn file_name(&self, ext: &str) -> String {
        format!("shard-{:04}-of-{:04}.{ext}", self.index, self.count)
    }

    /// The table this shard writes inside the output folder `dir` (parquet).
    pub fn output_in(&self, dir: &Path) -> Result<PathBuf> {
        if dir.is_file() {
            return Err(Error::file(
                dir,
                "is a file, but with `shard`, `out` names a folder that receives one table per \
                 shard; choose a folder name",
            ));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        Ok(dir.join(self.file_name("parquet")))
    }
}

/// A shard file's name split into (index, count, side table name or "" for the main table).
fn parse_shard_file_name(name: &str) -> Option<(usize, usize, String)> {
    let rest = name.strip_prefix("shard-")?;
    let (index, rest) = rest.split_once("-of-")?;
    let (count, rest) = rest.split_once('.')?;
    let ext_ok = |e: &str| e == "parquet" || e == "csv";
    let what = match rest.rsplit_once('.') {
        Some((what, ext)) if ext_ok(ext) => what.to_string(),
        None if ext_ok(rest) => String::new(),
        _ => return None,
    };
    if index.is_empty()
        || count.is_empty()
        || !index.bytes().all(|b| b.is_ascii_digit())
        || !count.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    Some((index.parse().ok()?, count.parse().ok()?, what))
}

/// What [`merge_shards`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeReport {
    /// Number of shards.
    pub shards: usize,
    /// (written table, rows), the main table first, then the side tables by name.
    pub tables: Vec<(PathBuf, usize)>,
}

/// Merges the shard tables in `dir` into `out` (format from its extension) and every side table
/// `shard-*.<what>.*` into `<out stem>.<what>.<ext>`. Errors, before writing anything, when the
/// folder holds shards of different counts, misses a shard (naming each missing file), or holds
/// tables of different columns. Rows come shard after shard, in each shard's order.
pub fn merge_shards(dir: &Path, out: &Path) -> Result<MergeReport> {
    super::TableFormat::from_path(out)?;
    if !dir.is_dir() {
        return Err(Error::file(
            dir,
            "is not a folder; `input` names the folder the `shard` runs wrote into",
        ));
    }
    let mut found = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some((index, count, what)) = parse_shard_file_name(&name) {
            if entry.path().is_file() {
                found.push((index, count, what, name));
            }
        }
    }
    found.sort();
    let mut counts: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for (_, count, _, name) in &found {
        counts.entry(*count).or_default().push(name);
    }
    let count = match counts.len() {
        0 => {
            return Err(Error::file(
                dir,
                "holds no shard tables (shard-IIII-of-NNNN.parquet); run the command with \
                 `shard` I/N and `out` this folder first",
            ))
        }
        1 => *counts.keys().next().expect("one count"),
        _ => {
            let list: Vec<String> = counts
                .iter()
                .map(|(n, files)| {
                    format!("{} file(s) of {n} shards (e.g. {})", files.len(), files[0])
                })
                .collect();
            return Err(Error::file(
                dir,
                format!(
                    "mixes runs with different shard counts: {}; keep one run per folder",
                    list.join(", ")
                ),
            ));
        }
    };
    // side table name ("" = the main table) -> shard index -> file
    let mut tables: BTreeMap<String, BTreeMap<usize, PathBuf>> = BTreeMap::new();
    for (index, _, what, name) in found {
        if let Some(other) = tables
            .entry(what.clone())
            .or_default()
            .insert(index, dir.join(&name))
        {
            return Err(Error::file(
                dir,
                format!(
                    "holds two files for shard {index}{}: {} and {name}; remove one",
                    side_label(&what),
                    other.display()
                ),
            ));
        }
    }
    if !tables.contains_key("") {
        return Err(Error::file(
            dir,
            "holds side tables but no main shard tables (shard-IIII-of-NNNN.parquet)",
        ));
    }
    for (what, files) in &tables {
        if files.len() < count || files.keys().any(|&i| i >= count) {
            let missing: Vec<String> = (0..count)
                .filter(|i| !files.contains_key(i))
                .map(|i| {
                    let shard = Shard { index: i, count };
                    if what.is_empty() {
                        shard.file_name("parquet")
                    } else {
                        shard.file_name(&format!("{what}.parquet"))
                    }
                })
                .collect();
            return Err(Error::file(
                dir,
                format!(
                    "{} of {count} shards are missing{}: {}; run those shards \
                     (`shard` I/{count}) before merging",
                    missing.len(),
                    side_label(what),
                    missing.join(", ")
                ),
            ));
        }
    }
    // Check every schema before writing anything.
    let mut frames: Vec<(String, Vec<DataFrame>)> = Vec::new();
    for (what, files) in &tables {
        let mut dfs = Vec::with_capacity(count);
        let mut schema: Option<(Schema, &PathBuf)> = None;
        for file in files.values() {
            let df = read_table(file)?;
            let this = df.schema().as_ref().clone();
            match &schema {
                None => schema = Some((this, file)),
                Some((first, first_file)) if first != &this => {
                    return Err(Error::file(
                        file,
                        format!(
                            "columns {:?} differ from {:?} in {}; the shards come from different \
                             commands or settings",
                            df.get_column_names(),
                            first.iter_names().collect::<Vec<_>>(),
                            first_file.display()
                        ),
                    ))
                }
                Some(_) => {}
            }
            dfs.push(df);
        }
        frames.push((what.clone(), dfs));
    }
    let mut report = MergeReport {
        shards: count,
        tables: Vec::new(),
    };
    for (what, dfs) in frames {
        let path = if what.is_empty() {
            out.to_path_buf()
        } else {
            side_path(out, &what)
        };
        let mut sink = TableSink::create(&path, &dfs[0])?;
        for mut df in dfs {
            sink.write(&mut df)?;
        }
        let rows = sink.finish()?;
        report.tables.push((path, rows));
    }
    Ok(report)
}

fn side_label(what: &str) -> String {
    if what.is_empty() {
        String::new()
    } else {
        format!(" (side table `{what}`)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::write_table;

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        // From the FNV reference (draft-eastlake-fnv): "" and "a" and "foobar".
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn shards_parse_and_partition() {
        assert_eq!(
            Shard::parse("3/10").unwrap(),
            Shard {
                index: 3,
                count: 10
            }
        );
        for bad in ["3", "10/10", "1/0", "a/3", "-1/3"] {
            let e = Shard::parse(bad).unwrap_err().to_string();
            assert!(e.contains("`shard`"), "{e}");
        }
        let ids: Vec<String> = (0..200).map(|i| format!("P{i:05}")).collect();
        let mut seen = vec![0usize; ids.len()];
        for index in 0..3 {
            let shard = Shard { index, count: 3 };
            let picked = shard.select(ids.clone(), |s| s.as_str());
            assert!(!picked.is_empty(), "shard {index} empty");
            for id in picked {
                seen[ids.iter().position(|x| *x == id).unwrap()] += 1;
            }
        }
        assert!(
            seen.iter().all(|&n| n == 1),
            "every id in exactly one shard"
        );
        assert_eq!(Shard::of("P00000", 1), 0);
    }

    #[test]
    fn shard_file_names_round_trip() {
        let s = Shard {
            index: 3,
            count: 10,
        };
        assert_eq!(s.file_name("parquet"), "shard-0003-of-0010.parquet");
        assert_eq!(
            parse_shard_file_name("shard-0003-of-0010.parquet"),
            Some((3, 10, String::new()))
        );
        assert_eq!(
            parse_shard_file_name("shard-0003-of-0010.summary.parquet"),
            Some((3, 10, "summary".into()))
        );
        assert_eq!(
            parse_shard_file_name(".shard-0003-of-0010.parquet.parts"),
            None
        );
        assert_eq!(parse_shard_file_name("shard-x-of-0010.parquet"), None);
        assert_eq!(parse_shard_file_name("shard-0003-of-0010.txt"), None);
    }

    #[test]
    fn merge_checks_completeness_and_schema() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("shards");
        let out = tmp.path().join("all.parquet");
        for i in [0usize, 2] {
            let shard = Shard { index: i, count: 3 };
            let mut df = df!("protein" => [format!("p{i}")], "x" => [i as i64]).unwrap();
            write_table(&mut df, &shard.output_in(&dir).unwrap()).unwrap();
        }
        let e = merge_shards(&dir, &out).unwrap_err().to_string();
        assert!(e.contains("1 of 3 shards are missing"), "{e}");
        assert!(e.contains("shard-0001-of-0003.parquet"), "{e}");
        assert!(!out.exists());

        let mut other = df!("protein" => ["p1"], "y" => [1.0f64]).unwrap();
        let one = dir.join("shard-0001-of-0003.parquet");
        write_table(&mut other, &one).unwrap();
        let e = merge_shards(&dir, &out).unwrap_err().to_string();
        assert!(e.contains("differ from"), "{e}");

        let mut good = df!("protein" => ["p1"], "x" => [1i64]).unwrap();
        write_table(&mut good, &one).unwrap();
        let report = merge_shards(&dir, &out).unwrap();
        assert_eq!(report.shards, 3);
        let merged = read_table(&out).unwrap();
        let xs: Vec<i64> = merged
            .column("x")
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(xs, vec![0, 1, 2]);

        // A file of another run's shard count is refused.
        write_table(&mut good, &dir.join("shard-0000-of-0002.parquet")).unwrap();
        let e = merge_shards(&dir, &out).unwrap_err().to_string();
        assert!(e.contains("different shard counts"), "{e}");

        // A side table without every shard is reported by its name.
        std::fs::remove_file(dir.join("shard-0000-of-0002.parquet")).unwrap();
        write_table(&mut good, &dir.join("shard-0000-of-0003.summary.parquet")).unwrap();
        let e = merge_shards(&dir, &out).unwrap_err().to_string();
        assert!(
            e.contains("side table `summary`") && e.contains("2 of 3"),
            "{e}"
        );

        let e = merge_shards(&tmp.path().join("none"), &out)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a folder"), "{e}");
    }
}
