//! Throughput of the streaming UniProt XML parser.
//!
//! `generate ENTRY.xml OUT.xml MB`: writes a UniProt XML document of at least MB megabytes by
//! repeating the `<entry>` of a real file (not committed; generate it in a temp dir).
//! `parse FILE.xml`: streams every entry, counts entries and features, prints MB/s. Run it under
//! `/usr/bin/time -v` for peak RSS.

use protscope::annotation::xml;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("generate") if args.len() == 5 => {
            let text = std::fs::read_to_string(&args[2])?;
            let start = text
                .find("<entry")
                .ok_or_else(|| anyhow::anyhow!("no <entry> in {}", args[2]))?;
            let end = text
                .rfind("</entry>")
                .ok_or_else(|| anyhow::anyhow!("no </entry> in {}", args[2]))?
                + "</entry>".len();
            let entry = &text[start..end];
            let target: u64 = args[4].parse::<u64>()? * 1_000_000;
            let mut out = std::io::BufWriter::new(std::fs::File::create(&args[3])?);
            write!(
                out,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<uniprot xmlns=\"http://uniprot.org/uniprot\">\n"
            )?;
            let mut written = 0u64;
            while written < target {
                out.write_all(entry.as_bytes())?;
                out.write_all(b"\n")?;
                written += entry.len() as u64 + 1;
            }
            out.write_all(b"</uniprot>\n")?;
            out.flush()?;
            println!("wrote {} bytes to {}", written, args[3]);
        }
        Some("parse") if args.len() == 3 => {
            let path = Path::new(&args[2]);
            let bytes = std::fs::metadata(path)?.len();
            let started = Instant::now();
            let (mut entries, mut features) = (0usize, 0usize);
            for entry in xml::stream(path)? {
                let entry = entry?;
                entries += 1;
                features += entry.features.len();
            }
            let secs = started.elapsed().as_secs_f64();
            println!(
                "{entries} entries, {features} features, {:.1} MB in {secs:.2} s: {:.1} MB/s",
                bytes as f64 / 1e6,
                bytes as f64 / 1e6 / secs
            );
        }
        _ => anyhow::bail!("usage: generate ENTRY.xml OUT.xml MB | parse FILE.xml"),
    }
    Ok(())
}
