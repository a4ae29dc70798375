//! In-process mutation fuzzing of every annotation and structure parser, on stable Rust.
//!
//! Seeds are the committed fixtures (plus any extra files given); each round mutates a seed
//! (byte flips, truncation, insertion of format-significant tokens, chunk duplication, splicing
//! with another seed) and feeds it to every parser. A panic is a finding: the input is saved
//! under the output folder and counted. Errors are fine; they are the expected outcome.
//!
//! `cargo run --release --example mutation_fuzz -- ITERATIONS OUT_DIR [EXTRA_SEED...]`

use protscope::annotation::{parse_entries, sites::parse_sites, Format};
use protscope::structure::parse_structure;
use std::path::{Path, PathBuf};
use std::time::Instant;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const TOKENS: &[&[u8]] = &[
    b"?",
    b"<",
    b">",
    b"..",
    b"//\n",
    b"FT   ",
    b"FT                   /note=\"",
    b"\"",
    b";",
    b"\t",
    b"\n",
    b"<entry>",
    b"</entry>",
    b"<feature type=\"binding site\">",
    b"<location>",
    b"<begin position=\"",
    b"status=\"unknown\"",
    b"&amp;",
    b"&#x0;",
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"value\":",
    b"null",
    b"-1",
    b"18446744073709551616",
    b"\xff\xfe",
    b"ATOM  ",
    b"HETATM",
    b"MODEL     ",
    b"ENDMDL\n",
    b"SEQRES",
    b"loop_\n",
    b"_atom_site.",
    b"\0",
];

fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = data.len();
        match rng.below(6) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => data.truncate(rng.below(len)),
            2 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                let at = rng.below(len + 1);
                data.splice(at..at, token.iter().copied());
            }
            3 if len > 0 => {
                let a = rng.below(len);
                let b = (a + rng.below(256)).min(len);
                let chunk = data[a..b].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, chunk);
            }
            4 if !other.is_empty() => {
                let cut = rng.below(len + 1);
                let from = rng.below(other.len());
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            _ if len > 0 => {
                let a = rng.below(len);
                let b = (a + rng.below(64)).min(len);
                data.drain(a..b);
            }
            _ => {}
        }
    }
    data
}

fn run_all(data: &[u8]) {
    let path = Path::new("fuzz-input");
    let formats = [
        None,
        Some(Format::Flat),
        Some(Format::Xml),
        Some(Format::Json),
        Some(Format::Tsv),
        Some(Format::Gff),
        Some(Format::Fasta),
    ];
    for format in formats {
        let _ = parse_entries(data, format, path);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_sites(text, path);
    }
    if let Ok(s) = parse_structure(data, path) {
        for chain in s.chain_ids() {
            if let Ok(c) = s.chain(Some(&chain), None) {
                let _ = c.map_to(None, protscope::structure::Numbering::Align);
            }
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let iterations: usize = args.get(1).map_or(Ok(10_000), |s| s.parse())?;
    let out = PathBuf::from(args.get(2).map_or("fuzz-findings", String::as_str));
    std::fs::create_dir_all(&out)?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for dir in ["annotation", "structure"] {
        for item in std::fs::read_dir(root.join(dir))? {
            let p = item?.path();
            if p.extension().is_some_and(|e| e != "md") {
                seeds.push(std::fs::read(&p)?);
            }
        }
    }
    for extra in args.iter().skip(3) {
        seeds.push(std::fs::read(extra)?);
    }
    seeds.push(b"{\"id\":\"a\",\"sequence\":\"MKV\",\"sites\":[1,3]}\n".to_vec());
    // Keep structure seeds small so that each execution is fast.
    for s in &mut seeds {
        s.truncate(20_000);
    }
    std::panic::set_hook(Box::new(|_| {}));
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let started = Instant::now();
    let mut findings = 0usize;
    for i in 0..iterations {
        let seed = &seeds[rng.below(seeds.len())];
        let other = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, seed, other);
        if std::panic::catch_unwind(|| run_all(&input)).is_err() {
            findings += 1;
            std::fs::write(out.join(format!("panic-{i}.bin")), &input)?;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{iterations} inputs x 9 parsers in {secs:.1} s ({:.0} inputs/s), {findings} panics",
        iterations as f64 / secs
    );
    Ok(())
}
