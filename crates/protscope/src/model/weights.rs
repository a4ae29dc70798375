//! Weight loading: `model.safetensors`, sharded safetensors (`*.index.json`) or
//! `pytorch_model.bin`, into one name → tensor map with errors that name the file and tensor.

use std::cell::Cell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use candle_core::{DType, Device, Tensor};
use candle_nn::Embedding;

use crate::{Error, Result};

/// The weight files found in a model folder, in the order they were read.
#[derive(Debug)]
pub struct Weights {
    /// Behind a lock so that linear layers of large models can take their weights out while the
    /// model is built (see [`LinearLayout::TransposedOnly`]).
    tensors: Mutex<HashMap<String, Tensor>>,
    /// Shown in errors: the file (or folder, for shards) the tensors came from.
    source: PathBuf,
    device: Device,
    /// How linear layers keep their weights.
    linear_layout: LinearLayout,
}

/// Models whose weights take at most this many bytes get contiguous Wᵀ copies of their linear
/// layers on CPU beside W ([`LinearLayout::WithTransposedCopy`]); larger models (e.g. ProtBert,
/// ESM-2 650M and up) keep Wᵀ only ([`LinearLayout::TransposedOnly`]), not doubled in memory.
pub const TRANSPOSED_COPY_LIMIT: usize = 1 << 30;

/// How a [`Linear`] keeps its weight matrix. The CPU gemm runs 5–25 % faster on a contiguous
/// (in, out) Wᵀ in the forward product `x Wᵀ` than on W (out, in) read transposed (BENCHMARKS.md,
/// "Forward speed"), while the backward product `g W` is faster on W itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinearLayout {
    /// W as stored (GPUs, half precision).
    AsStored,
    /// W and a contiguous Wᵀ copy: both products fast, twice the memory (f32 CPU models up to
    /// [`TRANSPOSED_COPY_LIMIT`]).
    WithTransposedCopy,
    /// Wᵀ only, laid out once at load, W read as its transposed view: forward fast, backward
    /// slower, one copy of the weights (larger f32 CPU models). The file's W is released as
    /// each layer is built, so the load peak holds one copy plus one tensor.
    TransposedOnly,
}

thread_local! {
    static FORCED_LAYOUT: Cell<Option<LinearLayout>> = const { Cell::new(None) };
}

/// Loads made by `f` on this thread use `layout` for their linear layers (on CPU, f32) whatever
/// the model's size: e.g. Wᵀ only for a small model to save memory, or to test that layout.
pub fn with_linear_layout<R>(layout: LinearLayout, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<LinearLayout>);
    impl Drop for Restore {
        fn drop(&mut self) {
            FORCED_LAYOUT.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(FORCED_LAYOUT.with(|c| c.replace(Some(layout))));
    f()
}

impl Clone for Weights {
    fn clone(&self) -> Self {
        Weights {
            tensors: Mutex::new(self.map().clone()),
            source: self.source.clone(),
            device: self.device.clone(),
            linear_layout: self.linear_layout,
        }
    }
}

impl Weights {
    /// Reads the weights of a Hugging Face model folder onto `device` as f32. Prefers
    /// `model.safetensors`, then `model.safetensors.index.json` (shards), then
    /// `pytorch_model.bin`, then `pytorch_model.bin.index.json` (shards).
    pub fn from_folder(dir: &Path, device: &Device) -> Result<Self> {
        Self::from_folder_as(dir, device, DType::F32)
    }

    /// [`Weights::from_folder`] with every tensor converted to `dtype` (f32, bf16 or f16).
    pub fn from_folder_as(dir: &Path, device: &Device, dtype: DType) -> Result<Self> {
        Self::from_folder_selected(dir, device, dtype, &|_| true)
    }

    /// [`Weights::from_folder_as`] for the tensors whose names `keep` accepts: the others are
    /// never read (a T5 encoder from a full encoder–decoder checkpoint holds the encoder's
    /// weights only, also at the load peak).
    pub fn from_folder_selected(
        dir: &Path,
        device: &Device,
        dtype: DType,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<Self> {
        let safetensors = |path: &Path| load_safetensors(path, device, dtype, keep);
        let torch = |path: &Path| super::torch_file::read_torch_file(path, device, dtype, keep);
        let single = dir.join("model.safetensors");
        let index = dir.join("model.safetensors.index.json");
        let pickle = dir.join("pytorch_model.bin");
        let pickle_index = dir.join("pytorch_model.bin.index.json");
        let (tensors, source) = if single.is_file() {
            (safetensors(&single)?, single)
        } else if index.is_file() {
            (read_shards(dir, &index, &safetensors)?, index)
        } else if pickle.is_file() {
            (torch(&pickle)?, pickle)
        } else if pickle_index.is_file() {
            (read_shards(dir, &pickle_index, &torch)?, pickle_index)
        } else {
            return Err(Error::file(
                dir,
                "no weights found: expected model.safetensors, model.safetensors.index.json, \
                 pytorch_model.bin or pytorch_model.bin.index.json",
            ));
        };
        Self::from_map_as(tensors, source, device, dtype)
    }

    /// Wraps an in-memory map (tests, conversions). Tensors are converted to f32 and old
    /// LayerNorm names (`gamma`/`beta`) are renamed to `weight`/`bias`.
    pub fn from_map(
        tensors: HashMap<String, Tensor>,
        source: impl Into<PathBuf>,
        device: &Device,
    ) -> Result<Self> {
        Self::from_map_as(tensors, source, device, DType::F32)
    }

    /// [`Weights::from_map`] with floating-point tensors converted to `dtype`.
    pub fn from_map_as(
        tensors: HashMap<String, Tensor>,
        source: impl Into<PathBuf>,
        device: &Device,
        dtype: DType,
    ) -> Result<Self> {
        if !matches!(dtype, DType::F32 | DType::BF16 | DType::F16) {
            return Err(Error::invalid(format!(
                "weights can be loaded as f32, bf16 or f16, not {dtype:?}"
            )));
        }
        let mut out = HashMap::with_capacity(tensors.len());
        for (name, t) in tensors {
            let name = if let Some(stem) = name.strip_suffix(".gamma") {
                format!("{stem}.weight")
            } else if let Some(stem) = name.strip_suffix(".beta") {
                format!("{stem}.bias")
            } else {
                name
            };
            let t = if t.dtype() == dtype {
                t
            } else {
                t.to_dtype(dtype)?
            };
            out.insert(name, t);
        }
        let bytes: usize = out.values().map(|t| t.elem_count() * 4).sum();
        // The fast CPU gemm (and so the Wᵀ layouts) is for f32 only.
        let linear_layout = if !(device.is_cpu() && dtype == DType::F32) {
            LinearLayout::AsStored
        } else if let Some(forced) = FORCED_LAYOUT.with(Cell::get) {
            forced
        } else if bytes <= TRANSPOSED_COPY_LIMIT {
            LinearLayout::WithTransposedCopy
        } else {
            LinearLayout::TransposedOnly
        };
        Ok(Weights {
            tensors: Mutex::new(out),
            source: source.into(),
            linear_layout,
            device: device.clone(),
        })
    }

    pub fn source(&self) -> &Path {
        &self.source
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn contains(&self, name: &str) -> bool {
        self.map().contains_key(name)
    }

    /// The names of the tensors held (those taken by linear layers already built are gone).
    pub fn names(&self) -> Vec<String> {
        self.map().keys().cloned().collect()
    }

    /// The layout linear layers built from these weights get.
    pub fn linear_layout(&self) -> LinearLayout {
        self.linear_layout
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Tensor>> {
        // A panic while the lock was held cannot leave the map half-changed (single inserts and
        // removals): the data stays usable.
        self.tensors.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The tensor `name`, which must have exactly `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        self.fetch(name, shape, false)
    }

    /// A linear layer's weight: with [`LinearLayout::TransposedOnly`] taken out of the map (the
    /// layer keeps Wᵀ only, and the file's W is freed as soon as it is transposed).
    fn linear_weight(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        self.fetch(
            name,
            shape,
            self.linear_layout == LinearLayout::TransposedOnly,
        )
    }

    fn fetch(&self, name: &str, shape: &[usize], take: bool) -> Result<Tensor> {
        let mut map = self.map();
        let t = map.get(name).ok_or_else(|| {
            Error::tensor(
                &self.source,
                name,
                "missing; the weights do not match the architecture in config.json (or it was \
                 already built into a linear layer)",
            )
        })?;
        if t.dims() != shape {
            return Err(Error::tensor(
                &self.source,
                name,
                format!(
                    "has shape {:?} but config.json implies {:?}",
                    t.dims(),
                    shape
                ),
            ));
        }
        let t = t.clone();
        if take {
            map.remove(name);
        }
        Ok(t)
    }

    /// The first of `names` the checkpoint holds (e.g. an untied decoder weight, else the word
    /// embeddings it is tied to); errors name the last one when none is present.
    pub fn get_first(&self, names: &[&str], shape: &[usize]) -> Result<Tensor> {
        let name = names
            .iter()
            .find(|n| self.contains(n))
            .or(names.last())
            .ok_or_else(|| Error::invalid("internal: no tensor name given"))?;
        self.get(name, shape)
    }

    /// `{prefix}.weight` (out, in) and `{prefix}.bias` (out).
    pub fn linear(&self, prefix: &str, in_dim: usize, out_dim: usize) -> Result<Linear> {
        let w = self.linear_weight(&format!("{prefix}.weight"), &[out_dim, in_dim])?;
        let b = self.get(&format!("{prefix}.bias"), &[out_dim])?;
        Ok(Linear::new(w, Some(b)).with_layout(self.linear_layout)?)
    }

    pub fn layer_norm(&self, prefix: &str, size: usize, eps: f64) -> Result<LayerNorm> {
        Ok(LayerNorm {
            weight: self.get(&format!("{prefix}.weight"), &[size])?,
            bias: self.get(&format!("{prefix}.bias"), &[size])?,
            eps,
            rms: false,
        })
    }

    /// A LayerNorm saved without a bias (`nn.LayerNorm(bias=False)`, ESM C): a zero bias.
    pub fn layer_norm_without_bias(
        &self,
        prefix: &str,
        size: usize,
        eps: f64,
    ) -> Result<LayerNorm> {
        let weight = self.get(&format!("{prefix}.weight"), &[size])?;
        Ok(LayerNorm {
            bias: weight.zeros_like()?,
            weight,
            eps,
            rms: false,
        })
    }

    /// RMS normalisation `x / √(mean(x²) + eps) ⊙ w` (T5's `T5LayerNorm`): no centring, no bias.
    pub fn rms_norm(&self, prefix: &str, size: usize, eps: f64) -> Result<LayerNorm> {
        let weight = self.get(&format!("{prefix}.weight"), &[size])?;
        Ok(LayerNorm {
            bias: weight.zeros_like()?,
            weight,
            eps,
            rms: true,
        })
    }

    /// GPT-2's `Conv1D`: `{prefix}.weight` stored (in, out), `y = x W + b`; as a [`Linear`],
    /// whose weight is (out, in).
    pub fn conv1d(&self, prefix: &str, in_dim: usize, out_dim: usize) -> Result<Linear> {
        let w = self.linear_weight(&format!("{prefix}.weight"), &[in_dim, out_dim])?;
        let b = self.get(&format!("{prefix}.bias"), &[out_dim])?;
        // Stored as Wᵀ already: the transposed-only layout keeps it as it is.
        Ok(Linear::from_transposed(w, Some(b), self.linear_layout)?)
    }

    /// `{prefix}.weight` (out, in) and no bias (T5, ESM C).
    pub fn linear_without_bias(
        &self,
        prefix: &str,
        in_dim: usize,
        out_dim: usize,
    ) -> Result<Linear> {
        let w = self.linear_weight(&format!("{prefix}.weight"), &[out_dim, in_dim])?;
        Ok(Linear::new(w, None).with_layout(self.linear_layout)?)
    }

    pub fn embedding(&self, name: &str, count: usize, hidden: usize) -> Result<Embedding> {
        Ok(Embedding::new(self.get(name, &[count, hidden])?, hidden))
    }

    /// Checks every tensor for NaN/inf so corrupt weights fail at load, not as NaN outputs.
    pub fn check_finite(&self) -> Result<()> {
        for (name, t) in self.map().iter() {
            // In f32: a half-precision sum would overflow where the values do not. Values that
            // overflowed when converted to f16 are caught here. A plain sum (no |x| copy of every
            // weight): NaN and ±inf make it non-finite, and weights are far from f32's range.
            let sum = t.to_dtype(DType::F32)?.sum_all()?.to_scalar::<f32>()?;
            if !sum.is_finite() {
                return Err(Error::tensor(
                    &self.source,
                    name,
                    "contains NaN or infinite values; the weight file is corrupt",
                ));
            }
        }
        Ok(())
    }
}

/// The shards an `*.index.json` names in its `weight_map`, each read by `read`.
fn read_shards(
    dir: &Path,
    index: &Path,
    read: &dyn Fn(&Path) -> Result<HashMap<String, Tensor>>,
) -> Result<HashMap<String, Tensor>> {
    let text = std::fs::read_to_string(index).map_err(|e| Error::io(index, e))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::file(index, format!("not valid JSON: {e}")))?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| Error::file(index, "no `weight_map` object"))?;
    let mut files: Vec<&str> = map.values().filter_map(|v| v.as_str()).collect();
    files.sort();
    files.dedup();
    let mut tensors = HashMap::new();
    for file in files {
        let shard = dir.join(file);
        if !shard.is_file() {
            return Err(Error::file(
                index,
                format!(
                    "names shard `{file}`, which is not in {}; download every shard the index \
                     lists",
                    dir.display()
                ),
            ));
        }
        tensors.extend(read(&shard)?);
    }
    Ok(tensors)
}

/// Reads a safetensors file one tensor at a time (positioned reads of its data range), each
/// converted to `dtype` before the next is read: the peak is the weights as loaded plus the
/// largest tensor, not plus the whole file.
fn load_safetensors(
    path: &Path,
    device: &Device,
    dtype: DType,
    keep: &dyn Fn(&str) -> bool,
) -> Result<HashMap<String, Tensor>> {
    use std::io::{Read, Seek, SeekFrom};
    let corrupt = |what: String| {
        Error::file(
            path,
            format!("{what}; the file may be truncated or corrupt"),
        )
    };
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    fn read_at(file: &mut std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(buf)
    }
    let mut len_bytes = [0u8; 8];
    read_at(&mut file, &mut len_bytes, 0)
        .map_err(|e| corrupt(format!("cannot read the header length ({e})")))?;
    let header_len = u64::from_le_bytes(len_bytes);
    if header_len > 100 << 20 || 8 + header_len > file_len {
        return Err(corrupt(format!(
            "header length {header_len} does not fit a {file_len}-byte file"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    read_at(&mut file, &mut header, 8)
        .map_err(|e| corrupt(format!("cannot read the header ({e})")))?;
    let header: HashMap<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| corrupt(format!("the header is not valid JSON ({e})")))?;
    let data_start = 8 + header_len;
    let mut tensors = HashMap::with_capacity(header.len());
    // In file order: sequential reads.
    let mut entries: Vec<(String, serde_json::Value)> = header.into_iter().collect();
    entries.sort_by_key(|(_, info)| info["data_offsets"][0].as_u64().unwrap_or(0));
    for (name, info) in entries {
        if name == "__metadata__" || !keep(&name) {
            continue;
        }
        let bad = |what: &str| corrupt(format!("tensor `{name}`: {what}"));
        let file_dtype = match info.get("dtype").and_then(|d| d.as_str()) {
            Some("F32") => DType::F32,
            Some("F16") => DType::F16,
            Some("BF16") => DType::BF16,
            Some("F64") => DType::F64,
            Some("I64") => DType::I64,
            Some("U32") => DType::U32,
            Some("U8") => DType::U8,
            Some(other) => return Err(bad(&format!("unsupported dtype {other}"))),
            None => return Err(bad("no dtype")),
        };
        let shape: Vec<usize> = info
            .get("shape")
            .and_then(|v| v.as_array())
            .and_then(|dims| {
                dims.iter()
                    .map(|d| d.as_u64().map(|d| d as usize))
                    .collect()
            })
            .ok_or_else(|| bad("no shape"))?;
        let offsets: Vec<u64> = info
            .get("data_offsets")
            .and_then(|v| v.as_array())
            .and_then(|o| o.iter().map(|d| d.as_u64()).collect())
            .ok_or_else(|| bad("no data_offsets"))?;
        let (begin, end) = match offsets[..] {
            [b, e] if b <= e && data_start + e <= file_len => (b, e),
            _ => return Err(bad("data_offsets outside the file")),
        };
        let expected = shape.iter().product::<usize>() * file_dtype.size_in_bytes();
        if (end - begin) as usize != expected {
            return Err(bad(&format!(
                "{} bytes of data for shape {shape:?} in {file_dtype:?} ({expected} expected)",
                end - begin
            )));
        }
        let tensor =
            super::torch_file::read_tensor_at(&mut file, data_start + begin, file_dtype, &shape)
                .map_err(|e| bad(&format!("cannot read its data ({e})")))?
                .to_device(device)?;
        let tensor = if file_dtype.is_float() && file_dtype != dtype {
            tensor.to_dtype(dtype)?
        } else {
            tensor
        };
        tensors.insert(name, tensor);
    }
    Ok(tensors)
}

/// LayerNorm (or RMS norm) with its epsilon, usable on the gradient path (candle's fused
/// kernels have no backward pass).
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
    /// RMS normalisation (T5): no mean subtracted, no bias.
    rms: bool,
}

impl LayerNorm {
    /// Differentiable whenever `x` is on a gradient path (see [`super::ops::layer_norm`]).
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if self.rms {
            super::ops::rms_norm(x, &self.weight, self.eps)
        } else {
            super::ops::layer_norm(x, &self.weight, &self.bias, self.eps)
        }
    }

    /// ∂F/∂x given the LayerNorm input `x` and the output gradient `g`.
    pub fn backward_input(&self, x: &Tensor, g: &Tensor) -> candle_core::Result<Tensor> {
        if self.rms {
            super::ops::rms_norm_backward(x, g, &self.weight, self.eps)
        } else {
            super::ops::layer_norm_backward(x, g, &self.weight, self.eps)
        }
    }

    /// ∂F/∂x with the normalisation's scale (σ, or the RMS) held constant: AttnLRP's identity
    /// rule on normalisation (lxt's `stop_gradient(std)`): (γ ⊙ g − mean(γ ⊙ g)) / σ, or
    /// γ ⊙ g / rms for RMS norms.
    pub fn backward_input_constant_scale(
        &self,
        x: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<Tensor> {
        use candle_core::{DType, D};
        let (x32, g32, w32) = (
            x.to_dtype(DType::F32)?,
            g.to_dtype(DType::F32)?,
            self.weight.to_dtype(DType::F32)?,
        );
        let g_hat = g32.broadcast_mul(&w32)?;
        let d = if self.rms {
            let inv_rms = (x32.sqr()?.mean_keepdim(D::Minus1)? + self.eps)?
                .sqrt()?
                .recip()?;
            g_hat.broadcast_mul(&inv_rms)?
        } else {
            let centered = x32.broadcast_sub(&x32.mean_keepdim(D::Minus1)?)?;
            let inv_std = (centered.sqr()?.mean_keepdim(D::Minus1)? + self.eps)?
                .sqrt()?
                .recip()?;
            g_hat
                .broadcast_sub(&g_hat.mean_keepdim(D::Minus1)?)?
                .broadcast_mul(&inv_std)?
        };
        d.to_dtype(g.dtype())
    }

    /// [`Self::backward_input`] under a gradient rule.
    pub fn backward_input_rule(
        &self,
        x: &Tensor,
        g: &Tensor,
        rule: super::GradientRule,
    ) -> candle_core::Result<Tensor> {
        match rule {
            super::GradientRule::Exact => self.backward_input(x, g),
            super::GradientRule::AttnLrp => self.backward_input_constant_scale(x, g),
        }
    }

    /// [`Self::forward`] under a gradient rule: with AttnLRP the scale is detached from the
    /// gradient graph (the value is the same).
    pub fn forward_rule(
        &self,
        x: &Tensor,
        rule: super::GradientRule,
    ) -> candle_core::Result<Tensor> {
        use candle_core::D;
        if rule == super::GradientRule::Exact || !x.track_op() {
            return self.forward(x);
        }
        if self.rms {
            let inv_rms = (x.sqr()?.mean_keepdim(D::Minus1)? + self.eps)?
                .sqrt()?
                .recip()?
                .detach();
            return x.broadcast_mul(&inv_rms)?.broadcast_mul(&self.weight);
        }
        let centered = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
        let inv_std = (centered.sqr()?.mean_keepdim(D::Minus1)? + self.eps)?
            .sqrt()?
            .recip()?
            .detach();
        centered
            .broadcast_mul(&inv_std)?
            .broadcast_mul(&self.weight)?
            .broadcast_add(&self.bias)
    }

    /// Directional derivative of the output at `x` for an input direction `x_dot`. The
    /// normalisation's Jacobian is symmetric, so this is the input gradient with unit weight,
    /// scaled by the weight afterwards: γ ⊙ (ẋ − mean ẋ − x̂ mean(x̂ ẋ)) / σ (no mean ẋ for RMS).
    pub fn tangent(&self, x: &Tensor, x_dot: &Tensor) -> candle_core::Result<Tensor> {
        let unit = self.weight.ones_like()?;
        let unit_norm = LayerNorm {
            weight: unit,
            ..self.clone()
        };
        unit_norm
            .backward_input(x, x_dot)?
            .broadcast_mul(&self.weight)
    }
}

/// A linear layer with frozen weights. Inputs of any rank are flattened to one 2-D matrix
/// product (one large gemm instead of a batch of small ones). When the input is on a gradient
/// path, the backward pass computes only ∂/∂x: candle's matmul backward would also compute the
/// (unneeded) weight gradient, a third of the work of integrated gradients.
#[derive(Debug, Clone)]
pub struct Linear {
    /// W (out, in): the stored matrix, or with [`LinearLayout::TransposedOnly`] a transposed
    /// view of `weight_t`.
    weight: Tensor,
    bias: Option<Tensor>,
    /// CPU f32 only: Wᵀ (in, out) stored contiguously for the forward gemm (see
    /// [`LinearLayout`]).
    weight_t: Option<Tensor>,
}

impl Linear {
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Linear {
            weight,
            bias,
            weight_t: None,
        }
    }

    /// From a stored Wᵀ (in, out) (GPT-2's `Conv1D`), laid out as `layout` asks.
    pub fn from_transposed(
        weight_t: Tensor,
        bias: Option<Tensor>,
        layout: LinearLayout,
    ) -> candle_core::Result<Self> {
        if layout == LinearLayout::TransposedOnly && weight_t.device().is_cpu() {
            let weight_t = weight_t.contiguous()?;
            return Ok(Linear {
                weight: weight_t.t()?,
                bias,
                weight_t: Some(weight_t),
            });
        }
        Linear::new(super::ops::transpose_contiguous(&weight_t)?, bias).with_layout(layout)
    }

    /// Keeps (or drops) a contiguous Wᵀ copy for the forward gemm; only CPU tensors get one.
    pub fn with_transposed_copy(self, keep: bool) -> Self {
        let layout = if keep {
            LinearLayout::WithTransposedCopy
        } else {
            LinearLayout::AsStored
        };
        // Only the transposed-only layout can fail (its copy replaces W).
        let fallback = self.clone();
        self.with_layout(layout).unwrap_or(fallback)
    }

    /// The layer with its weight laid out as `layout` asks (CPU only; other devices keep W).
    pub fn with_layout(mut self, layout: LinearLayout) -> candle_core::Result<Self> {
        if !(self.weight.device().is_cpu() && self.weight.rank() == 2) || layout == self.layout() {
            return Ok(self);
        }
        let weight_t = match self.weight_t.take() {
            Some(wt) => wt,
            None => super::ops::transpose_contiguous(&self.weight)?,
        };
        match layout {
            LinearLayout::AsStored => self.weight = self.weight.contiguous()?,
            LinearLayout::WithTransposedCopy => {
                self.weight = self.weight.contiguous()?;
                self.weight_t = Some(weight_t);
            }
            LinearLayout::TransposedOnly => {
                // W (a view of Wᵀ from now on) is dropped here unless someone else holds it.
                self.weight = weight_t.t()?;
                self.weight_t = Some(weight_t);
            }
        }
        Ok(self)
    }

    /// How this layer keeps its weight.
    pub fn layout(&self) -> LinearLayout {
        match &self.weight_t {
            None => LinearLayout::AsStored,
            Some(_) if self.weight.is_contiguous() => LinearLayout::WithTransposedCopy,
            Some(_) => LinearLayout::TransposedOnly,
        }
    }

    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The same layer with weight and bias multiplied by `factor` (folds a constant scaling of
    /// the output, e.g. ESM C's residual scaling, into the weights).
    pub fn scaled(&self, factor: f64) -> candle_core::Result<Linear> {
        let bias = match &self.bias {
            Some(b) => Some((b * factor)?),
            None => None,
        };
        Linear::new((&self.weight * factor)?, bias).with_layout(self.layout())
    }

    /// One layer computing the outputs of `parts` side by side (weights stacked along the output
    /// dimension): one larger gemm instead of several (e.g. query, key and value).
    pub fn concat_outputs(parts: &[&Linear]) -> candle_core::Result<Linear> {
        let bias = if parts.iter().any(|l| l.bias.is_some()) {
            let biases = parts
                .iter()
                .map(|l| match &l.bias {
                    Some(b) => Ok(b.clone()),
                    None => Tensor::zeros(l.weight.dim(0)?, l.weight.dtype(), l.weight.device()),
                })
                .collect::<candle_core::Result<Vec<_>>>()?;
            Some(Tensor::cat(&biases, 0)?)
        } else {
            None
        };
        let layout = parts.first().map_or(LinearLayout::AsStored, |l| l.layout());
        if parts
            .iter()
            .all(|l| l.layout() == LinearLayout::TransposedOnly)
        {
            // Wᵀ side by side along the output columns: the stacked Wᵀ directly.
            let parts_t: Vec<&Tensor> = parts.iter().filter_map(|l| l.weight_t.as_ref()).collect();
            let weight_t = Tensor::cat(&parts_t, 1)?;
            return Ok(Linear {
                weight: weight_t.t()?,
                bias,
                weight_t: Some(weight_t),
            });
        }
        let weights: Vec<&Tensor> = parts.iter().map(|l| &l.weight).collect();
        let weight = Tensor::cat(&weights, 0)?;
        let keep = parts.iter().all(|l| l.weight_t.is_some());
        let layout = if keep { layout } else { LinearLayout::AsStored };
        Linear::new(weight, bias).with_layout(layout)
    }

    /// Output without a gradient path (the input is detached).
    pub fn forward_detached(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.plain(&x.detach())
    }

    /// Directional derivative of the output for an input direction `x_dot` (…, in): `ẋ Wᵀ`
    /// (the bias does not move).
    pub fn tangent(&self, x_dot: &Tensor) -> candle_core::Result<Tensor> {
        self.apply(x_dot, None)
    }

    /// ∂F/∂x from the output gradient `g` (…, out): `g W`, shaped (…, in).
    pub fn backward_input(&self, g: &Tensor) -> candle_core::Result<Tensor> {
        let mut dims = g.dims().to_vec();
        *dims.last_mut().expect("rank >= 1") = self.weight.dim(1)?;
        super::ops::linear_backward(g, &self.weight)?.reshape(dims)
    }

    fn plain(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.apply(x, self.bias.as_ref())
    }

    fn apply(&self, x: &Tensor, bias: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let dims = x.dims().to_vec();
        let (out_dim, in_dim) = self.weight.dims2()?;
        let rows: usize = dims[..dims.len() - 1].iter().product();
        let y = super::ops::linear_forward(
            &x.reshape((rows, in_dim))?,
            &self.weight,
            self.weight_t.as_ref(),
            bias,
        )?;
        let mut out_dims = dims;
        *out_dims.last_mut().expect("rank >= 1") = out_dim;
        y.reshape(out_dims)
    }

    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if !x.track_op() {
            return self.plain(x);
        }
        let y = self.plain(&x.detach())?;
        super::ops::attach(
            x,
            &y,
            super::ops::Gradient::Linear {
                weight: self.weight.clone(),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap()
    }

    /// Wᵀ only: the file's W leaves the map as the layer is built, and the forward and backward
    /// products (alone and stacked, as q/k/v are) equal those of W as stored.
    #[test]
    fn transposed_only_layout_takes_the_weights_and_computes_the_same() {
        let d = Device::Cpu;
        let mut map = HashMap::new();
        for name in ["q", "k"] {
            map.insert(
                format!("{name}.weight"),
                Tensor::randn(0f32, 1.0, (6, 5), &d).unwrap(),
            );
            map.insert(
                format!("{name}.bias"),
                Tensor::randn(0f32, 1.0, 6, &d).unwrap(),
            );
        }
        let stored = Weights::from_map(map.clone(), "test", &d).unwrap();
        assert_eq!(stored.linear_layout(), LinearLayout::WithTransposedCopy);
        let w = with_linear_layout(LinearLayout::TransposedOnly, || {
            Weights::from_map(map, "test", &d).unwrap()
        });
        assert_eq!(w.linear_layout(), LinearLayout::TransposedOnly);
        let q = w.linear("q", 5, 6).unwrap();
        let k = w.linear("k", 5, 6).unwrap();
        assert_eq!(q.layout(), LinearLayout::TransposedOnly);
        assert!(!w.contains("q.weight") && w.contains("q.bias"));
        assert!(
            w.linear("q", 5, 6).is_err(),
            "a weight is built into one layer only"
        );
        let x = Tensor::randn(0f32, 1.0, (2, 3, 5), &d).unwrap();
        let g = Tensor::randn(0f32, 1.0, (2, 3, 6), &d).unwrap();
        for (ours, theirs) in [
            (&q, stored.linear("q", 5, 6).unwrap()),
            (&k, stored.linear("k", 5, 6).unwrap()),
        ] {
            assert!(max_diff(&ours.forward(&x).unwrap(), &theirs.forward(&x).unwrap()) < 1e-5);
            assert!(
                max_diff(
                    &ours.backward_input(&g).unwrap(),
                    &theirs.backward_input(&g).unwrap()
                ) < 1e-5
            );
        }
        let qk = Linear::concat_outputs(&[&q, &k]).unwrap();
        assert_eq!(qk.layout(), LinearLayout::TransposedOnly);
        let both = Tensor::cat(&[q.forward(&x).unwrap(), k.forward(&x).unwrap()], 2).unwrap();
        assert!(max_diff(&qk.forward(&x).unwrap(), &both) < 1e-6);
        let scaled = qk.scaled(0.5).unwrap();
        assert_eq!(scaled.layout(), LinearLayout::TransposedOnly);
        assert!(max_diff(&scaled.forward(&x).unwrap(), &(both * 0.5).unwrap()) < 1e-5);
    }
}
