//! PyTorch checkpoints (`torch.save` of a state dict), read tensor by tensor so that a model
//! that needs part of a file (a T5 encoder in a full encoder–decoder checkpoint) holds only
//! that part in memory.
//!
//! Two layouts exist: the zip archive torch has written since 1.6 (read through candle's
//! pickle reader), and the legacy layout of older releases, which many 2020 uploads still use:
//! five pickles in a row — a magic number, the protocol version (1001), system information,
//! the state dict (tensors refer to storages by key), the sorted storage keys — followed by
//! each storage's raw data, an int64 element count first (`torch/serialization.py`,
//! `_legacy_save`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use candle_core::pickle::{Object, Stack, TensorInfo};
use candle_core::{DType, Device, Tensor};

use crate::{Error, Result};

/// The pickled magic number `0x1950a86a20f9469cfc6c` that opens a legacy file: protocol
/// opcode and version, LONG1 with 10 little-endian bytes, STOP.
const LEGACY_MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
const LEGACY_PROTOCOL_VERSION: i64 = 1001;

/// Reads the tensors of a `torch.save` file whose names `keep` accepts, each converted to
/// `dtype` (floating-point tensors only) before the next is read.
pub(crate) fn read_torch_file(
    path: &Path,
    device: &Device,
    dtype: DType,
    keep: &dyn Fn(&str) -> bool,
) -> Result<HashMap<String, Tensor>> {
    let mut head = [0u8; 4];
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let is_zip = file.read_exact(&mut head).is_ok() && head == *b"PK\x03\x04";
    // Converted as each is read, so the peak holds one tensor in the file's dtype at most.
    let convert = |tensor: Tensor| -> Result<Tensor> {
        let tensor = tensor.to_device(device)?;
        Ok(if tensor.dtype().is_float() && tensor.dtype() != dtype {
            tensor.to_dtype(dtype)?
        } else {
            tensor
        })
    };
    if is_zip {
        read_zip(path, keep, &convert)
    } else {
        Ok(read_legacy(path, keep, &convert, None)?.0)
    }
}

/// The top-level entries of a checkpoint besides its state dict, by name.
pub(crate) type CheckpointEntries = Vec<(String, Object)>;

/// A training checkpoint in torch's legacy layout that keeps its state dict under `key` (fairseq:
/// `model`) beside other entries (fairseq: the `args` namespace, optimizer history and state):
/// the state dict's tensors, and the checkpoint's other top-level entries as pickle objects.
pub(crate) fn read_checkpoint_entry(
    path: &Path,
    key: &str,
) -> Result<(HashMap<String, Tensor>, CheckpointEntries)> {
    let convert = |tensor: Tensor| -> Result<Tensor> { Ok(tensor) };
    let (tensors, others) = read_legacy(path, &|_| true, &convert, Some(key))?;
    Ok((tensors, others))
}

/// Bytes per element of a legacy storage class (`FloatStorage`, …).
fn storage_element_bytes(class_name: &str) -> Option<u64> {
    Some(match class_name {
        "DoubleStorage" | "LongStorage" => 8,
        "FloatStorage" | "IntStorage" => 4,
        "HalfStorage" | "BFloat16Storage" | "ShortStorage" => 2,
        "ByteStorage" | "CharStorage" | "BoolStorage" => 1,
        _ => return None,
    })
}

/// Every storage `obj` refers to (persistent ids `('storage', class, key, location, size)`),
/// with its element size: a checkpoint's optimizer state has storages of its own, whose data
/// must be stepped over even though no tensor read here uses them.
fn collect_storages(obj: &Object, out: &mut HashMap<String, u64>) {
    match obj {
        Object::PersistentLoad(id) => {
            if let Object::Tuple(items) = &**id {
                if let [Object::Unicode(kind), Object::Class { class_name, .. }, Object::Unicode(key), ..] =
                    &items[..]
                {
                    if let (true, Some(bytes)) =
                        (kind == "storage", storage_element_bytes(class_name))
                    {
                        out.insert(key.clone(), bytes);
                    }
                }
            }
        }
        Object::Tuple(items) | Object::List(items) => {
            items.iter().for_each(|o| collect_storages(o, out))
        }
        Object::Dict(entries) => entries.iter().for_each(|(k, v)| {
            collect_storages(k, out);
            collect_storages(v, out);
        }),
        Object::Reduce { callable, args } | Object::Build { callable, args } => {
            collect_storages(callable, out);
            collect_storages(args, out);
        }
        _ => {}
    }
}

type Convert<'a> = &'a dyn Fn(Tensor) -> Result<Tensor>;

fn unreadable(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::file(
        path,
        format!(
            "cannot read PyTorch weights ({what}); the file may be truncated or not a torch.save \
             archive of a state dict"
        ),
    )
}

/// torch ≥ 1.6: a zip archive with `archive/data.pkl` and one entry per storage.
fn read_zip(
    path: &Path,
    keep: &dyn Fn(&str) -> bool,
    convert: Convert,
) -> Result<HashMap<String, Tensor>> {
    let pth = candle_core::pickle::PthTensors::new(path, None).map_err(|e| unreadable(path, e))?;
    let mut names: Vec<&String> = pth.tensor_infos().keys().filter(|n| keep(n)).collect();
    names.sort();
    let mut tensors = HashMap::with_capacity(names.len());
    for name in names {
        let tensor = pth
            .get(name)
            .map_err(|e| Error::tensor(path, name.as_str(), format!("cannot read it: {e}")))?
            .ok_or_else(|| Error::tensor(path, name.as_str(), "listed but not readable"))?;
        tensors.insert(name.clone(), convert(tensor)?);
    }
    Ok(tensors)
}

/// One pickle from the reader's position to its STOP opcode.
fn read_pickle<R: std::io::BufRead>(reader: &mut R) -> candle_core::Result<Object> {
    let mut stack = Stack::empty();
    stack.read_loop(reader)?;
    stack.finalize()
}

/// torch < 1.6 (and `_use_new_zipfile_serialization=False`). With `entry`, the state dict is
/// that entry of the saved dict, and the other entries are returned too.
fn read_legacy(
    path: &Path,
    keep: &dyn Fn(&str) -> bool,
    convert: Convert,
    entry: Option<&str>,
) -> Result<(HashMap<String, Tensor>, CheckpointEntries)> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = BufReader::new(file);
    // candle's LONG1 reads at most 8 bytes, so the 10-byte magic number is checked by hand.
    let mut magic = [0u8; 15];
    reader
        .read_exact(&mut magic)
        .map_err(|e| unreadable(path, format!("too short for a checkpoint: {e}")))?;
    if magic[0] != 0x80 || magic[2..4] != [0x8a, 10] || magic[4..14] != LEGACY_MAGIC {
        return Err(unreadable(
            path,
            "neither a zip archive nor torch's legacy format (no magic number)",
        ));
    }
    let bad = |e: candle_core::Error| unreadable(path, e);
    let version = read_pickle(&mut reader).map_err(bad)?;
    match version {
        Object::Int(v) if i64::from(v) == LEGACY_PROTOCOL_VERSION => {}
        other => {
            return Err(unreadable(
                path,
                format!("legacy protocol version {other:?}, expected {LEGACY_PROTOCOL_VERSION}"),
            ))
        }
    }
    if let Object::Dict(info) = read_pickle(&mut reader).map_err(bad)? {
        let big_endian = info.iter().any(|(k, v)| {
            *k == Object::Unicode("little_endian".into()) && *v == Object::Bool(false)
        });
        if big_endian {
            return Err(unreadable(path, "written on a big-endian machine"));
        }
    }
    let state = read_pickle(&mut reader).map_err(bad)?;
    let mut storage_bytes = HashMap::new();
    collect_storages(&state, &mut storage_bytes);
    let entries = match state {
        Object::Dict(entries) => entries,
        _ => return Err(unreadable(path, "the saved object is not a state dict")),
    };
    let mut others = Vec::new();
    let entries = match entry {
        None => entries,
        Some(key) => {
            let mut found = None;
            for (name, value) in entries {
                match name {
                    Object::Unicode(name) if name == key => found = Some(value),
                    Object::Unicode(name) => others.push((name, value)),
                    _ => {}
                }
            }
            match found {
                Some(Object::Dict(entries)) => entries,
                _ => {
                    return Err(unreadable(
                        path,
                        format!("the checkpoint has no state dict under `{key}`"),
                    ))
                }
            }
        }
    };
    let mut infos: Vec<TensorInfo> = Vec::new();
    for (name, value) in entries {
        if let Some(info) = value.into_tensor_info(name, Path::new("")).map_err(bad)? {
            infos.push(info);
        }
    }
    let keys: Vec<String> = match read_pickle(&mut reader).map_err(bad)? {
        Object::List(keys) => keys
            .into_iter()
            .map(|k| k.unicode())
            .collect::<std::result::Result<_, _>>()
            .map_err(|k| unreadable(path, format!("storage key {k:?} is not a string")))?,
        other => return Err(unreadable(path, format!("storage keys {other:?}"))),
    };
    // candle names a tensor's storage `{dir}/{key}`; with an empty dir, `/{key}`.
    let storage_key = |info: &TensorInfo| info.path.trim_start_matches('/').to_string();
    for info in &infos {
        storage_bytes.insert(storage_key(info), info.dtype.size_in_bytes() as u64);
    }
    // Each storage: int64 element count, then its data.
    let mut position = reader.stream_position().map_err(|e| Error::io(path, e))?;
    let file_len = reader
        .get_ref()
        .metadata()
        .map_err(|e| Error::io(path, e))?
        .len();
    let mut storages: HashMap<String, (u64, u64)> = HashMap::with_capacity(keys.len());
    let mut file = reader.into_inner();
    for key in keys {
        let mut count = [0u8; 8];
        file.seek(SeekFrom::Start(position))
            .and_then(|_| file.read_exact(&mut count))
            .map_err(|e| unreadable(path, format!("storage `{key}`: {e}")))?;
        let count = u64::from_le_bytes(count);
        let element = storage_bytes
            .get(&key)
            .copied()
            .ok_or_else(|| unreadable(path, format!("storage `{key}` belongs to no tensor")))?;
        let bytes = count
            .checked_mul(element)
            .filter(|b| position + 8 + b <= file_len)
            .ok_or_else(|| {
                unreadable(
                    path,
                    format!("storage `{key}` of {count} values runs past the end of the file"),
                )
            })?;
        storages.insert(key, (position + 8, bytes));
        position += 8 + bytes;
    }
    let mut tensors = HashMap::new();
    for info in infos.iter().filter(|info| keep(&info.name)) {
        let key = storage_key(info);
        let &(start, len) = storages.get(&key).ok_or_else(|| {
            Error::tensor(
                path,
                info.name.as_str(),
                format!("its storage `{key}` is not among the file's storages"),
            )
        })?;
        let tensor = read_strided(&mut file, start, len, info)
            .map_err(|e| Error::tensor(path, info.name.as_str(), e))?;
        tensors.insert(info.name.clone(), convert(tensor)?);
    }
    Ok((tensors, others))
}

/// A tensor whose storage data starts at `start` (`len` bytes) in `file`: contiguous, or
/// Fortran-contiguous (transposed views, read reversed and permuted back), as candle reads them.
fn read_strided(
    file: &mut File,
    start: u64,
    len: u64,
    info: &TensorInfo,
) -> Result<Tensor, String> {
    let layout = &info.layout;
    let fortran = layout.is_fortran_contiguous();
    if !layout.is_contiguous() && !fortran {
        return Err(format!(
            "a non-contiguous view ({:?}); re-save the checkpoint",
            layout.stride()
        ));
    }
    let bytes = layout.shape().elem_count() * info.dtype.size_in_bytes();
    let offset = layout.start_offset() as u64;
    if offset + bytes as u64 > len {
        return Err(format!(
            "its {bytes} bytes at offset {offset} run past its storage of {len} bytes"
        ));
    }
    let dims = layout.dims();
    let read_dims: Vec<usize> = if fortran && dims.len() > 1 {
        dims.iter().rev().copied().collect()
    } else {
        dims.to_vec()
    };
    let tensor = read_tensor_at(file, start + offset, info.dtype, &read_dims)
        .map_err(|e| format!("cannot read its data ({e})"))?;
    if fortran && dims.len() > 1 {
        let reversed: Vec<usize> = (0..dims.len()).rev().collect();
        return tensor.permute(reversed).map_err(|e| e.to_string());
    }
    Ok(tensor)
}

/// Reads `shape` values of `dtype` (little-endian) at `offset` straight into the typed buffer
/// the tensor keeps: no second copy of each tensor.
pub(crate) fn read_tensor_at(
    file: &mut File,
    offset: u64,
    dtype: DType,
    shape: &[usize],
) -> std::result::Result<Tensor, String> {
    let count: usize = shape.iter().product();
    let mut read = |buf: &mut [u8]| {
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_exact(buf))
            .map_err(|e| e.to_string())
    };
    let device = &Device::Cpu;
    let tensor = match dtype {
        DType::F32 => {
            let mut values = vec![0f32; count];
            read(bytemuck::cast_slice_mut(&mut values))?;
            Tensor::from_vec(values, shape, device)
        }
        DType::BF16 => {
            let mut bits = vec![0u16; count];
            read(bytemuck::cast_slice_mut(&mut bits))?;
            let values: Vec<half::bf16> = bits.into_iter().map(half::bf16::from_bits).collect();
            Tensor::from_vec(values, shape, device)
        }
        DType::F16 => {
            let mut bits = vec![0u16; count];
            read(bytemuck::cast_slice_mut(&mut bits))?;
            let values: Vec<half::f16> = bits.into_iter().map(half::f16::from_bits).collect();
            Tensor::from_vec(values, shape, device)
        }
        _ => {
            let mut bytes = vec![0u8; count * dtype.size_in_bytes()];
            read(&mut bytes)?;
            Tensor::from_raw_buffer(&bytes, dtype, shape, device)
        }
    };
    tensor.map_err(|e| e.to_string())
}
