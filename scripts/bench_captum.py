"""Captum timing baseline for protscope's integrated-gradients engine (real AntiBERTy).

Times, per protein of a FASTA file:
  (1) embedding-level IG: Captum LayerIntegratedGradients over the whole embedding module
      (model.bert.embeddings), Gauss-Legendre, pad baseline ([CLS] [PAD]... [SEP]), convergence
      delta on, internal_batch_size = --internal-batch-size;
  (2) latent (per-head) IG the way xai-proteins runs it (Wenzel, Gruener, Strodthoff 2024): one
      complete LayerIntegratedGradients pass per hooked layer, a forward hook and a full backward
      hook on that layer's attention.self, then the step gradients are scaled by
      torch.gradient(contexts, spacing=alphas, edge_order=1) and the quadrature weights and summed
      per head. xai-proteins uses internal_batch_size=1 (the default of --latent-internal-batch-size).
      Only --latent-layers layers are run (default: all); the per-layer time is reported so that
      the total can be scaled to every layer.
Prints one JSON object.

    /work/pyenv/bin/python scripts/bench_captum.py --model ~/.cache/protscope/antiberty \\
        --fasta data/antibodies.fasta --output species --target 1 --steps 50 --threads 2
"""

import argparse
import json
import os
import platform
import sys
import time

import captum
import torch
from captum.attr import LayerIntegratedGradients
from captum.attr._utils.approximation_methods import approximation_parameters
from transformers import BertTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_model_fixtures import load_real_antiberty, read_fasta  # noqa: E402


def xai_latent_layer(lig, module, ids, base, target, steps, internal_batch_size, n_heads):
    """Latent IG of one layer the way xai-proteins runs it: one complete LayerIntegratedGradients
    pass with a forward hook and a full backward hook on that layer's `attention.self` (`module`),
    then the step gradients scaled by torch.gradient(contexts, spacing=alphas) and the
    Gauss-Legendre weights, summed per head. Returns (heads, T)."""
    step_sizes, alphas = approximation_parameters("gausslegendre")
    w = torch.tensor(step_sizes(steps))
    a = torch.tensor(alphas(steps))
    fwd, bwd = [], []
    hooks = [module.register_forward_hook(lambda m, i, o: fwd.append(o[0].detach())),
             module.register_full_backward_hook(lambda m, gi, go: bwd.append(go[0].detach()))]
    try:
        lig.attribute(ids, baselines=base, target=target, n_steps=steps, method="gausslegendre",
                      internal_batch_size=internal_batch_size)
    finally:
        for h in hooks:
            h.remove()
    h = torch.cat(fwd[2:])  # the first two forwards are LIG's input and baseline runs
    g = torch.cat(bwd)
    d = torch.gradient(h, spacing=(a.to(device=h.device, dtype=h.dtype),), dim=0, edge_order=1)[0]
    per_dim = (w.to(device=g.device, dtype=g.dtype)[:, None, None] * g * d).sum(0)  # (T, hidden)
    return per_dim.reshape(per_dim.shape[0], n_heads, -1).sum(-1).T  # (heads, T)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="AntiBERTy folder (config.json, pytorch_model.bin, vocab.txt)")
    p.add_argument("--fasta", required=True)
    p.add_argument("--head", default="species", choices=["species", "chain", "graft"])
    p.add_argument("--target", type=int, default=1)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--internal-batch-size", type=int, default=None,
                   help="Captum internal_batch_size for (1); default: all steps in one batch")
    p.add_argument("--latent-internal-batch-size", type=int, default=1,
                   help="internal_batch_size for (2); xai-proteins uses 1")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--latent-layers", type=int, default=None, help="layers to run for (2); default all, 0 skips (2)")
    p.add_argument("--limit", type=int, default=None, help="only the first N proteins")
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeat", type=int, default=1,
                   help="time embedding IG this many times per protein and keep the fastest (shared machines)")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = load_real_antiberty(args.model).to(device)
    n_layers = model.config.num_hidden_layers
    n_heads = model.config.num_attention_heads
    latent_layers = n_layers if args.latent_layers is None else min(args.latent_layers, n_layers)
    tok = BertTokenizer(vocab=os.path.join(args.model, "vocab.txt"), do_lower_case=False)
    proteins = read_fasta(args.fasta)[: args.limit]

    def forward(input_ids):
        return model(input_ids, attention_mask=torch.ones_like(input_ids))[args.head]

    lig = LayerIntegratedGradients(forward, model.bert.embeddings)

    def inputs_for(seq):
        ids = tok(" ".join(seq))["input_ids"]
        assert tok.unk_token_id not in ids, f"unknown residue in {seq}"
        base = [ids[0]] + [tok.pad_token_id] * (len(ids) - 2) + [ids[-1]]
        return torch.tensor([ids], device=device), torch.tensor([base], device=device)

    def embedding_ig(ids, base):
        attr, delta = lig.attribute(ids, baselines=base, target=args.target, n_steps=args.steps, method="gausslegendre",
                                    internal_batch_size=args.internal_batch_size, return_convergence_delta=True)
        return attr[0].sum(-1), delta.item()

    def latent_layer(ids, base, layer):
        return xai_latent_layer(lig, model.bert.encoder.layer[layer].attention.self, ids, base, args.target,
                                args.steps, args.latent_internal_batch_size, n_heads)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    # warm-up (not timed)
    ids, base = inputs_for(proteins[0][1])
    embedding_ig(ids, base)
    if latent_layers:
        latent_layer(ids, base, 0)

    t_emb, t_lat, deltas, lengths = 0.0, 0.0, [], []
    for _, seq in proteins:
        ids, base = inputs_for(seq)
        lengths.append(ids.shape[1])
        best = float("inf")
        for _ in range(max(1, args.repeat)):
            sync()
            t0 = time.perf_counter()
            _, delta = embedding_ig(ids, base)
            sync()
            best = min(best, time.perf_counter() - t0)
        t_emb += best
        deltas.append(abs(delta))
        if latent_layers:
            t0 = time.perf_counter()
            for layer in range(latent_layers):
                latent_layer(ids, base, layer)
            sync()
            t_lat += time.perf_counter() - t0

    n = len(proteins)
    emb_s = t_emb / n
    out = {
        "model": os.path.abspath(args.model),
        "proteins": n,
        "mean_tokens": sum(lengths) / n,
        "steps": args.steps,
        "method": "gausslegendre",
        "baseline": "pad",
        "head": args.head,
        "target": args.target,
        "embedding_ig": {
            "internal_batch_size": args.internal_batch_size,
            "seconds_per_protein": emb_s,
            "proteins_per_second": 1.0 / emb_s,
            "mean_abs_delta": sum(deltas) / n,
        },
        "torch": torch.__version__,
        "captum": captum.__version__,
        "threads": args.threads,
        "device": args.device if device.type != "cpu" else f"cpu ({platform.processor() or platform.machine()})",
    }
    if latent_layers:
        per_layer = t_lat / n / latent_layers
        out["latent_ig_xai_proteins"] = {
            "internal_batch_size": args.latent_internal_batch_size,
            "layers_run": latent_layers,
            "layers_in_model": n_layers,
            "seconds_per_protein_per_layer": per_layer,
            "seconds_per_protein_all_layers": per_layer * n_layers,
            "proteins_per_second_all_layers": 1.0 / (per_layer * n_layers),
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
