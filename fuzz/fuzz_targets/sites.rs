#![no_main]
//! Any text given to the JSONL sites parser returns sites or an error; never a panic.

use libfuzzer_sys::fuzz_target;
use protscope::annotation::sites::parse_sites;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_sites(text, std::path::Path::new("fuzz"));
    }
});
