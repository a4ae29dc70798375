"""Reference numbers for the attribution methods beside integrated gradients: saliency, gradient x
input and SmoothGrad from Captum, attention rollout from NumPy.

Reads the tiny models of scripts/make_model_fixtures.py (the same loading code as
make_ig_fixtures.py) and writes tests/fixtures/attribution_methods/reference.json and
reference.safetensors (float64 tensors, keys "<case>.<quantity>").

Per case (model, sequence, head, target), with e = the embedding module's output (1, T, H) and
F = the pre-softmax logit `target` of `head`, attention mask all ones:
  * saliency[t]   = sum_d |dF/de[t, d]|: captum.attr.Saliency on a function of e (abs=True);
  * grad_input[t] = sum_d e[t, d] dF/de[t, d]: captum.attr.LayerGradientXActivation on the
    embedding module;
  * smoothgrad[t] = sum_d mean_s |dF/de(e + sigma n_s)[t, d]|: captum.attr.NoiseTunnel(Saliency),
    nt_type="smoothgrad", nt_samples=S, stdevs=sigma, where sigma = NOISE_LEVEL * (max e - min e).
    The noise n_s is protscope's seeded stream (SplitMix64 seeded with SEED ^ FNV-1a(sequence id),
    one Box-Muller draw per value from two 53-bit uniforms, re-implemented below) and reaches
    Captum's own NoiseTunnel through torch.normal, which NoiseTunnel calls once per attribute()
    with the expanded stdev tensor: inside the call torch.normal(0, std) returns std * n. So Captum
    does the expansion, the gradients and the averaging; only the random draws are fixed. The
    noise (S, T, H) is stored, so the Rust test checks the stream too;
  * rollout[t]: NumPy, from HF's attention probabilities (output_attentions, eager): per layer the
    heads averaged, A_hat = 0.5 A + 0.5 I with rows renormalised, R = A_hat_L ... A_hat_1 (matrix
    product, first layer applied first), relevance = R[0, :] (these models' heads read the first
    token).
Every case runs in float64 (stored) and float32 (checked against float64: the float32 error budget
the Rust side gets).

    /work/venv-ref/bin/python scripts/make_attribution_fixtures.py
"""

import json
import os
import sys
from unittest import mock

import numpy as np
import torch
from captum.attr import LayerGradientXActivation, NoiseTunnel, Saliency
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_ig_fixtures import FIXTURES, Target, max_rel_err, token_ids, tokenizer_for  # noqa: E402

OUT_DIR = os.path.join(FIXTURES, "attribution_methods")
MODELS = {
    "bert_cls": ("protbert", [("classifier", 1)]),
    "esm_cls": ("esm", [("classifier", 0)]),
    "antiberty_tiny": ("antiberty", [("species", 2)]),
}
SAMPLES = 8
NOISE_LEVEL = 0.15
SEED = 7
TOL32 = 1e-4

MASK64 = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK64

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)


def protein_seed(seed, protein):
    h = 0xCBF29CE484222325
    for b in protein.encode():
        h ^= b
        h = (h * 0x100000001B3) & MASK64
    return seed ^ h


def smoothgrad_noise(seed, protein, count):
    rng = SplitMix64(protein_seed(seed, protein))
    out = np.empty(count)
    for i in range(count):
        u1 = (rng.next_u64() >> 11) * (1.0 / (1 << 53))
        u2 = (rng.next_u64() >> 11) * (1.0 / (1 << 53))
        out[i] = np.sqrt(-2.0 * np.log(1.0 - u1)) * np.cos(2.0 * np.pi * u2)
    return out


def methods(tm, ids, target, noise):
    input_ids = torch.tensor([ids])
    e = tm.embed(input_ids)
    dtype = e.dtype

    def fwd(emb):
        return tm.logits_with_embedding(input_ids, emb)

    sal = Saliency(fwd).attribute(e, target=target, abs=True)
    gxi = LayerGradientXActivation(tm.logits, tm.embeddings).attribute(input_ids, target=target)
    sigma = float(NOISE_LEVEL * (e.max() - e.min()))
    n = torch.tensor(noise, dtype=dtype).reshape(SAMPLES, *e.shape[1:])
    calls = []

    def fixed_normal(mean, std, *args, **kwargs):
        assert mean == 0 and tuple(std.shape) == tuple(n.shape), (mean, std.shape)
        calls.append(1)
        return std * n

    with mock.patch.object(torch, "normal", fixed_normal):
        sg = NoiseTunnel(Saliency(fwd)).attribute(
            e, nt_type="smoothgrad", nt_samples=SAMPLES, stdevs=sigma, target=target
        )
    assert len(calls) == 1, "NoiseTunnel drew its noise in more than one call"
    with torch.no_grad():
        out = tm.model(input_ids, attention_mask=torch.ones_like(input_ids), output_attentions=True)
        attentions = out["attentions"] if isinstance(out, dict) else out.attentions
        f = tm.logits(input_ids)[0, target].item()
    return {
        "saliency": sal[0].sum(-1).detach().double().numpy(),
        "grad_input": gxi[0].sum(-1).detach().double().numpy(),
        "smoothgrad": sg[0].sum(-1).detach().double().numpy(),
        "rollout": rollout([a[0].double().numpy() for a in attentions]),
        "sigma": sigma,
        "f_input": f,
    }


def rollout(attentions):
    """attentions: per layer (heads, T, T)."""
    t = attentions[0].shape[-1]
    r = np.eye(t)
    for a in attentions:
        a_hat = 0.5 * a.mean(0) + 0.5 * np.eye(t)
        a_hat = a_hat / a_hat.sum(-1, keepdims=True)
        r = a_hat @ r
    return r[0]


def main():
    torch.manual_seed(0)
    os.makedirs(OUT_DIR, exist_ok=True)
    tensors, records, worst = {}, [], {}
    for name, (kind, heads) in MODELS.items():
        tok = tokenizer_for(name, kind)
        with open(os.path.join(FIXTURES, "models", name, "reference.json")) as f:
            sequences = json.load(f)["sequences"]
        for head, target in heads:
            t64, t32 = Target(name, head, torch.float64), Target(name, head, torch.float32)
            for s in (0, 1):
                rec = sequences[s]
                ids = token_ids(tok, kind, rec["sequence"])
                assert tok.unk_token_id not in ids
                hidden = t64.embed(torch.tensor([ids])).shape[-1]
                noise = smoothgrad_noise(SEED, rec["id"], SAMPLES * len(ids) * hidden)
                ref = methods(t64, ids, target, noise)
                c32 = methods(t32, ids, target, noise)
                case = f"{name}.{s}.{head}.{target}"
                for q in ("saliency", "grad_input", "smoothgrad", "rollout"):
                    err = max_rel_err(c32[q], ref[q])
                    worst[q] = max(worst.get(q, 0.0), err)
                    assert err < TOL32, f"{case}: float32 {q} differs by {err:.2g}"
                    tensors[f"{case}.{q}"] = torch.tensor(ref[q]).contiguous()
                tensors[f"{case}.noise"] = torch.tensor(noise[: 4 * hidden]).contiguous()
                tensors[f"{case}.sigma"] = torch.tensor([ref["sigma"]], dtype=torch.float64)
                tensors[f"{case}.f_input"] = torch.tensor([ref["f_input"]], dtype=torch.float64)
                records.append({
                    "case": case, "model": name, "sequence_id": rec["id"], "sequence": rec["sequence"],
                    "input_ids": ids, "head": head, "target": target,
                })
                print(f"{case:40s} T={len(ids):2d} sigma={ref['sigma']:.4f} "
                      + " ".join(f"{q}32={max_rel_err(c32[q], ref[q]):.1e}" for q in ("saliency", "grad_input", "smoothgrad", "rollout")))
    note = (
        "Attribution-method references from scripts/make_attribution_fixtures.py (torch %s, captum %s, "
        "transformers %s), float64 models. saliency / grad_input / smoothgrad: Captum Saliency (abs=True), "
        "LayerGradientXActivation on the embedding module, NoiseTunnel(Saliency) smoothgrad with nt_samples=%d, "
        "stdevs = %.2f * (max e - min e) and protscope's seeded noise (seed %d; `noise` holds the first 4*hidden "
        "values of the stream), each summed over the hidden axis. rollout: NumPy from HF's attention "
        "probabilities, R[0, :] of prod (0.5 A_mean + 0.5 I, rows renormalised). Worst float32-vs-float64 "
        "differences (max|diff| / max|ref|): %s."
        % (torch.__version__, __import__("captum").__version__, __import__("transformers").__version__,
           SAMPLES, NOISE_LEVEL, SEED, ", ".join(f"{k} {v:.1e}" for k, v in sorted(worst.items())))
    )
    with open(os.path.join(OUT_DIR, "reference.json"), "w") as f:
        json.dump({"note": note, "samples": SAMPLES, "noise_level": NOISE_LEVEL, "seed": SEED, "cases": records}, f, indent=1)
    save_file(tensors, os.path.join(OUT_DIR, "reference.safetensors"))
    print(note)


if __name__ == "__main__":
    main()
