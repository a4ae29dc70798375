"""Integrated-gradients reference numbers (Captum / PyTorch) for the Rust IG engine.

Reads the tiny models made by scripts/make_model_fixtures.py (tests/fixtures/models/<name>/) and
writes tests/fixtures/ig/reference.json (one record per case) and
tests/fixtures/ig/reference.safetensors (float64 tensors, keys "<case>.<quantity>").

Method (what the Rust engine implements):
  * target F = pre-softmax logit `target` of a named head;
  * the path interpolates the OUTPUT of the whole embedding module:
        e(a) = e' + a (e - e'),  attribution[t, d] = (e - e')[t, d] * sum_k w_k dF/de(a_k)[t, d],
    relevance[t] = sum_d attribution[t, d]; attention mask all ones for input and baseline;
  * baselines: pad = [first special, PAD..., last special], mask = same with MASK, zero = e' = 0;
  * quadrature nodes/weights exactly as captum's approximation_parameters(method) returns them;
  * delta = sum_t relevance[t] - (F(x) - F(x'));
  * latent (per-head) IG (Wenzel, Gruener, Strodthoff 2024, "xai-proteins"): along the same path
    record every layer's self-attention context h_k (output[0] of layer.attention.self, before the
    output projection) and g_k = dF/dh_k;
        latent[l, hd, t] = sum_k w_k sum_{d in head hd} g_k[t, d] * D_k[t, d],
    D = numpy.gradient(h, alphas, axis=0, edge_order=1);
    latent_exact: the same with D_k = dh/da at a_k exactly (forward-mode derivative along e - e').

Every case is computed two ways that must agree:
  (a) Captum: LayerIntegratedGradients on the embedding module (pad/mask) or IntegratedGradients
      on a function of the embedding-module output (zero); latent quantities the way xai-proteins
      collects them (internal_batch_size=1, forward hooks + full backward hooks on
      attention.self, the first two LIG forward records skipped, torch.gradient);
  (b) a direct path integral: one batched run over all nodes with the embedding output replaced
      by e(a_k) through a forward hook, contexts kept with retain_grad(), backward of sum_k F_k.
The stored numbers are (b) in float64. float32 Captum is also checked against them.

    python3 scripts/make_ig_fixtures.py                      # BERT, ESM-2, AntiBERTy -> tests/fixtures/ig
    python3 scripts/make_ig_fixtures.py --architectures      # ALBERT, ESM C, T5 -> tests/fixtures/ig_arch
    python3 scripts/make_ig_fixtures.py --decoder            # GPT-2 (lm targets) -> tests/fixtures/ig_decoder

ALBERT, ESM C and T5 have no module whose output is the per-head context: there the context is
the INPUT of each layer's output projection (attention.dense, attn.out_proj, SelfAttention.o),
read with forward pre-hooks, and its gradient is that module's grad_input. ALBERT applies one
module in every layer: hooks record once per application, in layer order (reverse order in the
backward pass). ALBERT's IG layer is encoder.embedding_hidden_mapping_in (the embeddings
projected to the hidden size, what protscope calls the embedding output); T5 has no leading
special token, so its baselines keep only the final `</s>`, and its mask baseline fills
`<extra_id_0>`.
"""

import argparse
import contextlib
import json
import os
import sys

import numpy as np
import torch
import torch.autograd.forward_ad as fwAD
from torch.nn.attention import SDPBackend, sdpa_kernel
from captum.attr import IntegratedGradients, LayerIntegratedGradients
from captum.attr._utils.approximation_methods import approximation_parameters
from safetensors.torch import load_file, save_file
from transformers.models.esm import modeling_esm
from transformers.models.t5 import modeling_t5
from transformers import (
    AlbertForSequenceClassification,
    BertConfig,
    BertForSequenceClassification,
    BertTokenizer,
    EsmForSequenceClassification,
    EsmTokenizer,
    T5Config,
    T5Tokenizer,
)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_model_fixtures import (  # noqa: E402
    FIXTURES,
    AntiBERTy,
    EsmCReference,
    T5MeanPoolClassifier,
    install_xlnet_context_probes,
    xlnet_token_types,
)

OUT_DIR = os.path.join(FIXTURES, "ig")
METHODS = ["gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"]
STEPS = 16

# model folder -> tokenizer kind, list of (head, target)
MODELS = {
    "bert_cls": ("protbert", [("classifier", 1)]),
    "esm_cls": ("esm", [("classifier", 0)]),
    "antiberty_tiny": ("antiberty", [("species", 2), ("chain", 0)]),
}

# --architectures: the models on the shared core since ALBERT, ESM C and T5 were added.
ARCH_MODELS = {
    "albert_cls": ("protbert", [("classifier", 1)]),
    "esmc_tiny": ("esm", [("classifier", 0)]),
    "t5_gated": ("prott5", [("classifier", 1)]),
    "xlnet_cls": ("protxlnet", [("classifier", 1)]),
}

# --decoder: the GPT-2 causal decoder (IgLM's vocabulary, prefix [HEAVY] [HUMAN]). Targets of
# the `lm` output: 0 = the sequence log-likelihood, k = log p(residue k | tokens before it).
DECODER_MODELS = {
    "gpt2_lm": ("iglm", [("lm", 0), ("lm", 3)]),
}
DECODER_PREFIX = ["[HEAVY]", "[HUMAN]"]

# Largest allowed |difference| / (largest |reference value| of the case).
TOL = {
    "captum64_w32": 1e-10,  # Captum float64 vs direct float64 with Captum's float32-rounded weights
    "captum64": 1e-6,  # Captum float64 (float32-rounded quadrature weights) vs stored numbers
    "captum32": 1e-4,  # Captum float32 vs stored numbers
}


# ---------------------------------------------------------------------------------------------
# models and tokens


def load_model(name, dtype):
    folder = os.path.join(FIXTURES, "models", name)
    if name == "bert_cls":
        model = BertForSequenceClassification.from_pretrained(folder)
    elif name == "esm_cls":
        model = EsmForSequenceClassification.from_pretrained(folder)
    elif name == "albert_cls":
        model = AlbertForSequenceClassification.from_pretrained(folder)
    elif name == "esmc_tiny":
        model = EsmCReference(d_model=16, n_heads=4, n_layers=2, classes=2)
        model.load_state_dict(load_file(os.path.join(folder, "model.safetensors")))
        return model.eval().to(dtype)
    elif name == "t5_gated":
        with open(os.path.join(folder, "config.json")) as f:
            cfg = json.load(f)
        model = T5MeanPoolClassifier(T5Config(**cfg), classes=2)
        state = load_file(os.path.join(folder, "model.safetensors"))
        state = {k if k.startswith("classifier.") else "encoder_model." + k: v for k, v in state.items()}
        missing, unexpected = model.load_state_dict(state, strict=False)
        # T5EncoderModel ties encoder.embed_tokens to shared; the file has both or one.
        assert not [m for m in missing if "embed_tokens" not in m and "shared" not in m] and not unexpected, (missing, unexpected)
        model.encoder_model.set_attn_implementation("eager")
        return model.eval().to(dtype)
    elif name == "xlnet_cls":
        from transformers import XLNetForSequenceClassification

        model = XLNetForSequenceClassification.from_pretrained(folder)
        install_xlnet_context_probes(model)
    elif name == "gpt2_lm":
        from transformers import GPT2LMHeadModel

        model = GPT2LMHeadModel.from_pretrained(folder)
    elif name == "antiberty_tiny":
        with open(os.path.join(folder, "config.json")) as f:
            cfg = json.load(f)
        model = AntiBERTy(BertConfig(**cfg))
        missing, unexpected = model.load_state_dict(load_file(os.path.join(folder, "model.safetensors")), strict=False)
        assert not [m for m in missing if not m.endswith("position_ids")] and not unexpected, (missing, unexpected)
    else:
        raise ValueError(name)
    model.set_attn_implementation("eager")
    model.eval()
    return model.to(dtype)


class Target:
    """F(input_ids) -> logits of one head (B, C); embedding module and attention.self modules."""

    def __init__(self, name, head, dtype):
        self.model = load_model(name, dtype)
        self.head = head
        # Context = output[0] of attention.self ("output"), or the input of the output
        # projection ("input") where no module returns it.
        self.context_kind = "output"
        if name == "esm_cls":
            base = self.model.esm
        elif name in ("bert_cls", "antiberty_tiny"):
            base = self.model.bert
        if name in ("esm_cls", "bert_cls", "antiberty_tiny"):
            self.embeddings = base.embeddings
            self.selfattn = [layer.attention.self for layer in base.encoder.layer]
            cfg = self.model.config
            self.layers, self.heads = cfg.num_hidden_layers, cfg.num_attention_heads
        elif name == "albert_cls":
            cfg = self.model.config
            self.embeddings = self.model.albert.encoder.embedding_hidden_mapping_in
            group = self.model.albert.encoder.albert_layer_groups[0].albert_layers[0]
            self.selfattn = [group.attention.dense]
            self.context_kind = "input"
            self.layers, self.heads = cfg.num_hidden_layers, cfg.num_attention_heads
        elif name == "esmc_tiny":
            self.embeddings = self.model.embed
            self.selfattn = [block.attn.out_proj for block in self.model.transformer.blocks]
            self.context_kind = "input"
            self.layers, self.heads = len(self.selfattn), self.model.transformer.blocks[0].attn.n_heads
        elif name == "xlnet_cls":
            self.embeddings = self.model.transformer.word_embedding
            self.selfattn = [layer.rel_attn.ctx_probe for layer in self.model.transformer.layer]
            self.context_kind = "identity"
            self.layers, self.heads = self.model.config.n_layer, self.model.config.n_head
        elif name == "t5_gated":
            enc = self.model.encoder_model
            self.embeddings = enc.encoder.embed_tokens
            self.selfattn = [block.layer[0].SelfAttention.o for block in enc.encoder.block]
            self.context_kind = "input"
            self.layers, self.heads = enc.config.num_layers, enc.config.num_heads
        elif name == "gpt2_lm":
            # The embedding output is wte + wpe, the input (and in eval the output) of `drop`.
            tr = self.model.transformer
            self.embeddings = tr.drop
            self.selfattn = [block.attn.c_proj for block in tr.h]
            self.context_kind = "input"
            self.layers, self.heads = self.model.config.n_layer, self.model.config.n_head
            # The true token ids: every objective scores them, whatever the (baseline) input.
            self.labels = None
        # Every application of a context module, in layer order (ALBERT reuses one module).
        self.unique_selfattn = list(dict.fromkeys(self.selfattn))

    def logits(self, input_ids):
        kw = {"attention_mask": torch.ones_like(input_ids)}
        if self.context_kind == "identity":  # XLNet, called with the tokenizer's segments
            kw["token_type_ids"] = xlnet_token_types(input_ids)
        out = self.model(input_ids, **kw)
        if self.head == "lm":
            return decoder_objectives(out.logits, self.labels, len(DECODER_PREFIX))
        if hasattr(out, "logits"):  # HF ModelOutput
            return out.logits if self.head == "classifier" else out[self.head]
        return out[self.head]

    def on_context(self, fn):
        """Calls fn(context) at every layer's context in a forward pass; returns the hooks."""
        if self.context_kind == "output":
            return [m.register_forward_hook(lambda m, i, o: fn(o[0])) for m in self.unique_selfattn]
        if self.context_kind == "identity":
            return [m.register_forward_hook(lambda m, i, o: fn(o)) for m in self.unique_selfattn]
        return [m.register_forward_pre_hook(lambda m, i: fn(i[0])) for m in self.unique_selfattn]

    def on_context_grad(self, fn):
        """Calls fn(dF/dcontext) for every layer in a backward pass (last layer first)."""
        if self.context_kind in ("output", "identity"):
            return [m.register_full_backward_hook(lambda m, gin, gout: fn(gout[0])) for m in self.unique_selfattn]
        return [m.register_full_backward_hook(lambda m, gin, gout: fn(gin[0])) for m in self.unique_selfattn]

    def embed(self, input_ids):
        """The embedding module's output in a normal forward pass (1, T, H)."""
        kept = []
        hook = self.embeddings.register_forward_hook(lambda m, i, o: kept.append(o.detach()))
        try:
            with torch.no_grad():
                self.logits(input_ids)
        finally:
            hook.remove()
        return self.batch_major(kept[0])

    def batch_major(self, x):
        """XLNet's transformer runs time-major (T, B, H): its embedding output is transposed."""
        return x.transpose(0, 1) if self.context_kind == "identity" else x

    def logits_with_embedding(self, input_ids, emb):
        """Run with the embedding module's output replaced by `emb` (B, T, H)."""
        hook = self.embeddings.register_forward_hook(lambda m, i, o: self.batch_major(emb))
        try:
            return self.logits(input_ids.expand(emb.shape[0], -1))
        finally:
            hook.remove()


def decoder_objectives(logits, labels, start):
    """A causal LM's attribution targets as columns (B, 1 + n): column 0 the sequence
    log-likelihood (tokens from `start` on, as IgLM scores: residues and the closing token), column
    k the log-probability of residue k (token start + k - 1) given the tokens before it."""
    lp = torch.log_softmax(logits, -1)
    lab = torch.tensor(labels)
    t = len(labels)
    token_lp = lp[:, torch.arange(t - 1), lab[1:]]  # (B, T-1): row r scores token r + 1
    n = t - start - 1
    ll = token_lp[:, max(start, 1) - 1:].sum(-1, keepdim=True)
    return torch.cat([ll, token_lp[:, start - 1:start - 1 + n]], 1)


def tokenizer_for(name, kind):
    """HF's tokenizer for the folder. (transformers 5's BertTokenizer takes `vocab=`; its old
    `vocab_file=` keyword is silently ignored and gives a 5-token vocabulary.)"""
    vocab = os.path.join(FIXTURES, "models", name, "vocab.txt")
    if kind == "prott5":
        return T5Tokenizer.from_pretrained(os.path.join(FIXTURES, "models", name))
    if kind == "protxlnet":
        from transformers import XLNetTokenizer

        return XLNetTokenizer.from_pretrained(os.path.join(FIXTURES, "models", name))
    if kind == "esm":
        return EsmTokenizer(vocab_file=vocab)
    return BertTokenizer(vocab=vocab, do_lower_case=False)


def token_ids(tok, kind, seq):
    if kind == "iglm":  # IgLM: prefix, residues, [SEP]
        return tok.convert_tokens_to_ids(DECODER_PREFIX + list(seq) + ["[SEP]"])
    if kind == "esm":
        return tok(seq)["input_ids"]
    return tok(" ".join(seq.translate(str.maketrans("UZOB", "XXXX")) if kind in ("protbert", "prott5", "protxlnet") else seq))["input_ids"]


def baseline_ids(tok, ids, baseline, kind):
    if baseline == "zero":
        return None
    if kind == "prott5":
        # No leading special token; T5 has no mask token, its first sentinel marks masked spans.
        fill = tok.pad_token_id if baseline == "pad" else tok.convert_tokens_to_ids("<extra_id_0>")
        return [fill] * (len(ids) - 1) + [ids[-1]]
    fill = tok.pad_token_id if baseline == "pad" else tok.mask_token_id
    if kind == "iglm":  # the prefix and [SEP] stay
        p = len(DECODER_PREFIX)
        return ids[:p] + [fill] * (len(ids) - p - 1) + ids[-1:]
    if kind == "protxlnet":  # residues, then <sep> <cls>
        return [fill] * (len(ids) - 2) + ids[-2:]
    return [ids[0]] + [fill] * (len(ids) - 2) + [ids[-1]]


def quadrature(method, steps):
    step_sizes, alphas = approximation_parameters(method)
    return np.asarray(alphas(steps), dtype=np.float64), np.asarray(step_sizes(steps), dtype=np.float64)


def head_sum(x, heads):
    """(..., T, hidden) -> (..., heads, T): sum over each head's slice of the hidden axis."""
    *lead, t, h = x.shape
    return x.reshape(*lead, t, heads, h // heads).sum(-1).swapaxes(-1, -2)


# ---------------------------------------------------------------------------------------------
# (b) direct path integral


def direct(tm, ids, base, target, alphas, weights):
    input_ids = torch.tensor([ids])
    dtype = next(tm.model.parameters()).dtype
    e = tm.embed(input_ids)
    e0 = torch.zeros_like(e) if base is None else tm.embed(torch.tensor([base]))
    a = torch.tensor(alphas, dtype=dtype)[:, None, None]
    path = (e0 + a * (e - e0)).detach().requires_grad_(True)  # (N, T, H)
    ctx = []

    def keep(c):
        c.retain_grad()
        ctx.append(c)

    hooks = tm.on_context(keep)
    try:
        f = tm.logits_with_embedding(input_ids, path)[:, target]
        f.sum().backward()
    finally:
        for h in hooks:
            h.remove()
    def relevance_for(wts):
        w = torch.tensor(wts, dtype=dtype)[:, None, None]
        return ((e - e0)[0] * (w * path.grad).sum(0)).sum(-1).detach()

    relevance = relevance_for(weights)
    # Captum multiplies by torch.tensor(step_sizes).float(): its weights are float32-rounded.
    relevance_w32 = relevance_for(np.asarray(weights, dtype=np.float32).astype(np.float64))
    with torch.no_grad():
        f_in = tm.logits(input_ids)[0, target]
        f_base = tm.logits_with_embedding(input_ids, e0)[0, target]
    latent, latent_exact = [], []
    tangents = context_tangents(tm, input_ids, path.detach(), (e - e0).detach())
    for h, tangent in zip(ctx, tangents):
        hv, g = h.detach().numpy(), h.grad.numpy()
        d = np.gradient(hv, alphas, axis=0, edge_order=1)
        latent.append(head_sum(np.einsum("k,ktd->td", weights, g * d), tm.heads))
        latent_exact.append(head_sum(np.einsum("k,ktd->td", weights, g * tangent), tm.heads))
    return {
        "relevance": relevance.numpy(),
        "relevance_w32": relevance_w32.numpy(),
        "f_input": f_in.item(),
        "f_baseline": f_base.item(),
        "delta": relevance.sum().item() - (f_in - f_base).item(),
        "delta_w32": relevance_w32.sum().item() - (f_in - f_base).item(),
        "latent": np.stack(latent),
        "latent_exact": np.stack(latent_exact),
    }


def contexts_at(tm, input_ids, path):
    """Every layer's attention.self output (N, T, H) with the embedding output replaced by path."""
    kept = []
    hooks = tm.on_context(lambda c: kept.append(c.detach()))
    try:
        with torch.no_grad():
            tm.logits_with_embedding(input_ids, path)
    finally:
        for h in hooks:
            h.remove()
    return kept


@contextlib.contextmanager
def full_precision_rotary():
    """HF's ESM rounds q and k to float32 for the rotary embedding even in a float64 model; that
    noise would swamp a finite-difference check (and is not part of the derivative). Inside this
    block the rotation runs in the tensors' own dtype (and T5's RMS norm, see below)."""
    original = modeling_esm.apply_rotary_pos_emb

    def rotate(q, k, cos, sin, unsqueeze_dim=1):
        cos, sin = cos.unsqueeze(unsqueeze_dim).to(q.dtype), sin.unsqueeze(unsqueeze_dim).to(q.dtype)
        return q * cos + modeling_esm.rotate_half(q) * sin, k * cos + modeling_esm.rotate_half(k) * sin

    # T5LayerNorm likewise computes its variance in float32.
    t5_norm = modeling_t5.T5LayerNorm.forward

    def norm(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.variance_epsilon))

    modeling_esm.apply_rotary_pos_emb = rotate
    modeling_t5.T5LayerNorm.forward = norm
    try:
        yield
    finally:
        modeling_esm.apply_rotary_pos_emb = original
        modeling_t5.T5LayerNorm.forward = t5_norm


def context_tangents(tm, input_ids, path, direction):
    """dctx_l/da at every node: the forward-mode derivative (torch.autograd.forward_ad) of each
    layer's attention.self output along the path direction e - e', cross-checked against a
    central difference in float64."""
    kept = []
    hooks = tm.on_context(lambda c: kept.append(fwAD.unpack_dual(c).tangent.detach()))
    # ESM C calls scaled_dot_product_attention, whose fused CPU kernel has no forward-mode
    # derivative; the math backend computes the same function from differentiable ops.
    with full_precision_rotary(), sdpa_kernel([SDPBackend.MATH]):
        try:
            with torch.no_grad(), fwAD.dual_level():
                dual = fwAD.make_dual(path, direction.expand_as(path).contiguous())
                tm.logits_with_embedding(input_ids, dual)
        finally:
            for h in hooks:
                h.remove()
        if path.dtype == torch.float64:
            # 1e-6: the tiny GPT-2's contexts curve enough that 1e-5's truncation error (eps²)
            # reaches 1.5e-5 at some nodes; at 1e-6 every model here agrees to about 1e-9.
            eps = 1e-6
            plus = contexts_at(tm, input_ids, path + eps * direction)
            minus = contexts_at(tm, input_ids, path - eps * direction)
            for layer, (tangent, p, m) in enumerate(zip(kept, plus, minus)):
                err = max_rel_err(tangent.numpy(), ((p - m) / (2 * eps)).numpy())
                assert err < 1e-5, f"layer {layer}: forward-mode tangent differs from a central difference by {err:.2g}"
    return [t.numpy() for t in kept]


# ---------------------------------------------------------------------------------------------
# (a) Captum


def captum(tm, ids, base, target, method, steps, latent):
    input_ids = torch.tensor([ids])

    def fwd(emb):
        return tm.logits_with_embedding(input_ids, emb)

    if base is None:
        # zero embedding baseline: not expressible as token ids for LIG; use plain IG on the
        # embedding-module output instead.
        algo, inputs, baselines, skip = IntegratedGradients(fwd), tm.embed(input_ids), 0.0, 0
    elif tm.context_kind == "identity":
        # XLNet's embedding output is time-major, which LIG cannot interpolate (it batches along
        # dim 0); IG on the embedding output between the two token sequences' embeddings is the
        # same integral.
        inputs, baselines = tm.embed(input_ids), tm.embed(torch.tensor([base]))
        algo, skip = IntegratedGradients(fwd), 0
    else:
        algo = LayerIntegratedGradients(tm.logits, tm.embeddings)
        inputs, baselines, skip = input_ids, torch.tensor([base]), 2  # LIG: input + baseline forwards first
    attr, delta = algo.attribute(
        inputs, baselines=baselines, target=target, n_steps=steps, method=method, return_convergence_delta=True
    )
    out = {"relevance": attr[0].sum(-1).detach().numpy(), "delta": delta.item()}
    if not latent:
        return out
    # Latent, as xai-proteins collects it: one step per forward, forward/backward hooks.
    fwd_flat, bwd_flat = [], []
    hooks = tm.on_context(lambda c: fwd_flat.append(c.detach()))
    hooks += tm.on_context_grad(lambda g: bwd_flat.append(g.detach()))
    try:
        algo.attribute(inputs, baselines=baselines, target=target, n_steps=steps, method=method, internal_batch_size=1)
    finally:
        for h in hooks:
            h.remove()
    # Every pass records all layers in order; every backward pass, last layer first.
    n = tm.layers
    fwd_out = [fwd_flat[i::n] for i in range(n)]
    bwd_out = [bwd_flat[n - 1 - i :: n] for i in range(n)]
    step_sizes, alphas = approximation_parameters(method)
    w = torch.tensor(step_sizes(steps), dtype=torch.float64)
    a = torch.tensor(alphas(steps), dtype=torch.float64)
    lat = []
    for i in range(tm.layers):
        h = torch.cat(fwd_out[i][skip:]).double()
        g = torch.cat(bwd_out[i]).double()
        assert h.shape[0] == steps and g.shape[0] == steps, (h.shape, g.shape)
        d = torch.gradient(h, spacing=(a,), dim=0, edge_order=1)[0]
        lat.append(head_sum((w[:, None, None] * g * d).sum(0).numpy(), tm.heads))
    out["latent"] = np.stack(lat)
    return out


# ---------------------------------------------------------------------------------------------


def arch_case_list():
    """Fewer cases per model than the BERT/ESM-2 list: the quadrature rules are model-independent
    and covered there."""
    cases = []
    for name, (kind, heads) in ARCH_MODELS.items():
        head, target = heads[0]
        cases.append((name, 0, head, target, "pad", "gausslegendre", STEPS, True))
        cases.append((name, 0, head, target, "pad", "riemann_trapezoid", STEPS, True))
        cases.append((name, 0, head, target, "mask", "gausslegendre", STEPS, False))
        cases.append((name, 0, head, target, "zero", "gausslegendre", STEPS, True))
        cases.append((name, 1, head, target, "pad", "gausslegendre", STEPS, True))
    return cases


def decoder_case_list():
    name = "gpt2_lm"
    return [
        (name, 0, "lm", 0, "pad", "gausslegendre", STEPS, True),
        (name, 0, "lm", 0, "pad", "riemann_trapezoid", STEPS, True),
        (name, 0, "lm", 3, "pad", "gausslegendre", STEPS, True),
        (name, 0, "lm", 0, "mask", "gausslegendre", STEPS, False),
        (name, 0, "lm", 0, "zero", "gausslegendre", STEPS, True),
        (name, 1, "lm", 5, "pad", "gausslegendre", STEPS, True),
    ]


def case_list():
    cases = []
    for name, (kind, heads) in MODELS.items():
        head, target = heads[0]
        for s in (0, 1):
            for m in METHODS:
                cases.append((name, s, head, target, "pad", m, STEPS, m in ("gausslegendre", "riemann_trapezoid")))
            cases.append((name, s, head, target, "mask", "gausslegendre", STEPS, False))
            cases.append((name, s, head, target, "zero", "gausslegendre", STEPS, s == 0))
        for head, target in heads[1:]:
            cases.append((name, 0, head, target, "pad", "gausslegendre", STEPS, True))
    # odd step count; third sequence so that the case name stays unique
    cases.append(("bert_cls", 2, "classifier", 1, "pad", "gausslegendre", 7, True))
    return cases


def max_rel_err(x, ref, scale_of=None):
    """max |x - ref| / max |scale_of| (scale_of defaults to ref)."""
    x, ref = np.asarray(x, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    scale = float(np.max(np.abs(ref if scale_of is None else np.asarray(scale_of))))
    return float(np.max(np.abs(x - ref))) / scale


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out")
    parser.add_argument("--architectures", action="store_true", help="ALBERT, ESM C and T5 cases (default out: tests/fixtures/ig_arch)")
    parser.add_argument("--decoder", action="store_true", help="GPT-2 causal decoder cases (default out: tests/fixtures/ig_decoder)")
    args = parser.parse_args()
    if args.decoder:
        models, cases = DECODER_MODELS, decoder_case_list()
        args.out = args.out or os.path.join(FIXTURES, "ig_decoder")
    else:
        models = ARCH_MODELS if args.architectures else MODELS
        cases = arch_case_list() if args.architectures else case_list()
        args.out = args.out or (os.path.join(FIXTURES, "ig_arch") if args.architectures else OUT_DIR)
    torch.manual_seed(0)
    os.makedirs(args.out, exist_ok=True)

    targets, tokenizers, sequences = {}, {}, {}
    for name, (kind, _) in models.items():
        tokenizers[name] = tokenizer_for(name, kind)
        with open(os.path.join(FIXTURES, "models", name, "reference.json")) as f:
            sequences[name] = json.load(f)["sequences"]

    def target_for(name, head, dtype):
        key = (name, head, dtype)
        if key not in targets:
            targets[key] = Target(name, head, dtype)
        return targets[key]

    tensors, records = {}, []
    worst = {}
    for name, s, head, target, baseline, method, steps, latent in cases:
        kind = models[name][0]
        tok = tokenizers[name]
        seq_rec = sequences[name][s]
        ids = token_ids(tok, kind, seq_rec["sequence"])
        assert tok.unk_token_id not in ids, f"{name}/{seq_rec['id']}: unknown token in {ids}"
        base = baseline_ids(tok, ids, baseline, kind)
        alphas, weights = quadrature(method, steps)
        case = f"{name}.{s}.{head}.{target}.{baseline}.{method}"
        assert case not in {r["case"] for r in records}, case

        if kind == "iglm":
            for dtype in (torch.float64, torch.float32):
                target_for(name, head, dtype).labels = ids
        ref = direct(target_for(name, head, torch.float64), ids, base, target, alphas, weights)
        c64 = captum(target_for(name, head, torch.float64), ids, base, target, method, steps, latent)
        c32 = captum(target_for(name, head, torch.float32), ids, base, target, method, steps, latent)
        errs = {
            # Captum float64 against the direct computation with Captum's float32-rounded weights:
            # the same arithmetic, must agree to rounding.
            "captum64_w32.embedding": max_rel_err(c64["relevance"], ref["relevance_w32"]),
            "captum64_w32.delta": max_rel_err(c64["delta"], ref["delta_w32"], ref["relevance"]),
            # ... and against the stored (exact-weight) numbers.
            "captum64.embedding": max_rel_err(c64["relevance"], ref["relevance"]),
            "captum32.embedding": max_rel_err(c32["relevance"], ref["relevance"]),
            "captum32.delta": max_rel_err(c32["delta"], ref["delta"], ref["relevance"]),
        }
        if latent:
            errs["captum64.latent"] = max_rel_err(c64["latent"], ref["latent"])
            errs["captum32.latent"] = max_rel_err(c32["latent"], ref["latent"])
        for k, v in errs.items():
            worst[k] = max(worst.get(k, 0.0), v)
            assert v < TOL[k.split(".")[0]], f"{case}: {k} differs by {v:.3g} (tolerance {TOL[k.split('.')[0]]})"
        # Completeness sanity: the quadrature error must be small compared with F(x) - F(x').
        print(f"{case:55s} steps={steps:2d} T={len(ids):2d} F(x)-F(x')={ref['f_input'] - ref['f_baseline']:+.4f} "
              f"delta={ref['delta']:+.2e} err64w32={errs['captum64_w32.embedding']:.1e} err64={errs['captum64.embedding']:.1e} err32={errs['captum32.embedding']:.1e}"
              + (f" lat64={errs['captum64.latent']:.1e} lat32={errs['captum32.latent']:.1e}" if latent else ""))

        t = lambda x: torch.tensor(np.asarray(x, dtype=np.float64)).reshape(-1 if np.ndim(x) else 1).contiguous()  # noqa: E731
        tensors[f"{case}.alphas"] = t(alphas)
        tensors[f"{case}.weights"] = t(weights)
        tensors[f"{case}.relevance"] = t(ref["relevance"])
        tensors[f"{case}.f_input"] = t(ref["f_input"])
        tensors[f"{case}.f_baseline"] = t(ref["f_baseline"])
        tensors[f"{case}.delta"] = t(ref["delta"])
        if latent:
            tensors[f"{case}.latent"] = torch.tensor(ref["latent"]).contiguous()
            tensors[f"{case}.latent_exact"] = torch.tensor(ref["latent_exact"]).contiguous()
        records.append({
            "case": case, "model": name, "sequence_id": seq_rec["id"], "sequence": seq_rec["sequence"],
            "input_ids": ids, "baseline_ids": base, "head": head, "target": target, "baseline": baseline,
            "method": method, "steps": steps, "latent": latent,
            **({"prefix": " ".join(DECODER_PREFIX)} if kind == "iglm" else {}),
        })

    note = (
        "Integrated gradients references from scripts/make_ig_fixtures.py (torch %s, captum %s, transformers %s). "
        "All tensors are float64, computed with the model converted to float64 (model.double()), so Rust float32 "
        "results are compared against (nearly) exact numbers; exceptions inherited from HF: ESM rotary cos/sin and "
        "the ESM token_dropout scale factor are computed in float32 even in a float64 model. Path over the output of "
        "the whole embedding module (bert.embeddings / esm.embeddings; for ESM its output includes token_dropout's "
        "zeroing of <mask> rows and rescaling, so the mask baseline's e' has zero residue rows), attention mask all "
        "ones; relevance[t] = "
        "sum_d (e-e')[t,d] * sum_k weights[k] dF/de(alphas[k])[t,d]; F = pre-softmax logit `target` of `head`; "
        "delta = sum(relevance) - (f_input - f_baseline). alphas/weights are exactly what captum's "
        "approximation_parameters returns (riemann alphas come from torch.linspace in float32, so they carry float32 "
        "rounding). baseline_ids null = zero embedding-module output. latent[l, h, t] = sum_k weights[k] sum_{d in head h} "
        "dF/dctx_k[t,d] * D_k[t,d] with ctx = output[0] of layer l's attention.self (before the output projection) "
        "and D = numpy.gradient(ctx, alphas, axis=0, edge_order=1); latent_exact is the same sum with D_k = the exact "
        "derivative dctx/da at node k (torch.autograd.forward_ad along e - e', checked against a float64 central "
        "difference). input_ids come from HF's tokenizer with the folder's "
        "vocab.txt (BertTokenizer(vocab=...), EsmTokenizer). Each case was also computed with Captum "
        "(LayerIntegratedGradients / IntegratedGradients, latent collected as xai-proteins does) in float64 and float32; "
        "worst differences, as max|diff| / max|reference| per case (captum64_w32 = Captum float64 against "
        "this computation redone with Captum's float32-rounded quadrature weights, Captum casting its step sizes "
        "with .float()): %s."
        % (torch.__version__, __import__("captum").__version__, __import__("transformers").__version__,
           ", ".join(f"{k} {v:.1e}" for k, v in sorted(worst.items())))
    )
    save_file(tensors, os.path.join(args.out, "reference.safetensors"))
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump({"note": note, "cases": records}, f, indent=1)
    size = sum(os.path.getsize(os.path.join(args.out, p)) for p in os.listdir(args.out))
    print(f"{len(records)} cases, {size} bytes in {args.out}")
    print("worst differences:", json.dumps(worst))


if __name__ == "__main__":
    main()
