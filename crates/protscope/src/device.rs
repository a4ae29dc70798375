//! Device selection: `cpu`, `cuda` or `cuda:N`.

use crate::{Error, Result};
use candle_core::Device;

/// Parses a device name as the CLI accepts it (`cpu`, `cuda`, `cuda:N`) and opens it.
/// Asking for CUDA in a build without the `cuda` feature is an error that says how to get one.
pub fn parse_device(name: &str) -> Result<Device> {
    let name = name.trim().to_ascii_lowercase();
    if name == "cpu" {
        return Ok(Device::Cpu);
    }
    let ordinal = if name == "cuda" {
        0
    } else if let Some(n) = name.strip_prefix("cuda:") {
        n.parse::<usize>().map_err(|_| {
            Error::Device(format!(
                "`{name}` is not a device; use cpu, cuda or cuda:N (N a GPU index)"
            ))
        })?
    } else {
        return Err(Error::Device(format!(
            "`{name}` is not a device; use cpu, cuda or cuda:N"
        )));
    };
    if !cfg!(feature = "cuda") {
        return Err(Error::Device(format!(
            "`{name}` requested but this protscope was built without CUDA; \
             rebuild with `cargo build --release --features cuda` on a machine with a CUDA toolkit"
        )));
    }
    Device::new_cuda(ordinal).map_err(|e| {
        // candle appends a backtrace to driver errors: the first line is the message.
        let message = e.to_string();
        let message = message.lines().next().unwrap_or_default().to_string();
        Error::Device(format!(
            "cannot open cuda:{ordinal}: {message}; check that `nvidia-smi` lists GPU {ordinal}, \
             or use the cpu device"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_parses() {
        assert!(parse_device("cpu").unwrap().is_cpu());
        assert!(parse_device(" CPU ").unwrap().is_cpu());
    }

    #[test]
    fn bad_names_are_errors() {
        for bad in ["gpu", "cuda:x", "", "metal"] {
            let err = parse_device(bad).unwrap_err().to_string();
            assert!(err.contains("cpu, cuda"), "{err}");
        }
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_feature_says_how_to_fix() {
        let err = parse_device("cuda:1").unwrap_err().to_string();
        assert!(err.contains("--features cuda"), "{err}");
    }
}
