#![no_main]
//! Any bytes given to the xml parser return a value or an error; never a panic.

use libfuzzer_sys::fuzz_target;
use protscope::annotation::{parse_entries, Format};

fuzz_target!(|data: &[u8]| {
    let _ = parse_entries(data, Some(Format::Xml), std::path::Path::new("fuzz"));
});
