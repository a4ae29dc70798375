#![no_main]
//! Any bytes given to the structure reader (and chain mapping) give a value or an error.

use libfuzzer_sys::fuzz_target;
use protscope::structure::{parse_structure, Numbering};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = parse_structure(data, std::path::Path::new("fuzz")) {
        for chain in s.chain_ids() {
            if let Ok(c) = s.chain(Some(&chain), None) {
                let _ = c.map_to(None, Numbering::Align);
            }
        }
    }
});
