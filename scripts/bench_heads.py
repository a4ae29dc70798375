#!/usr/bin/env python3
"""Timing baseline for `protscope heads --amino-acids`: provis' procedure in Python.

For each protein (in FASTA order, the first --limit ones): cut to max_len - 2 residues, run HF
transformers' BertModel with AntiBERTy's weights (eager attention, CPU), drop the special
tokens, apply the threshold (a >= theta, the paper's formula), and add the edge values to the
per-(layer, head) sums of the aa_to_X features with Python loops over the (from, to) residue
pairs, as provis' `analyze_heads` does. Prints one JSON object: proteins, residue pairs, seconds
(model forward and pair loops separately) and per-(layer, head) totals, so the Rust output can
be compared on the same proteins.

Other model folders (e.g. `protscope dev random-model --preset esm2-150m`) load with HF's
AutoModel (eager attention) and are tokenised one residue per token from their vocab.txt.

Usage: python scripts/bench_heads.py --model ~/.cache/protscope/antiberty --fasta FILE
           [--limit 20] [--max-len 512] [--min-attn 0.3] [--out totals.json]
"""

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import torch
from transformers import BertConfig, BertModel, BertTokenizer


def read_fasta(path):
    records = []
    for line in open(path):
        line = line.strip()
        if line.startswith(">"):
            records.append([line[1:].split()[0], ""])
        elif line:
            records[-1][1] += line
    return records


def load_antiberty(folder):
    cfg = json.loads((folder / "config.json").read_text())
    skip = ("architectures", "_name_or_path", "protscope_head_labels")
    config = BertConfig(**{k: v for k, v in cfg.items() if k not in skip})
    model = BertModel(config, add_pooling_layer=False)
    state = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    bert = {k[len("bert.") :]: v for k, v in state.items() if k.startswith("bert.")}
    missing, _ = model.load_state_dict(bert, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids")]
    assert not missing, f"missing weights: {missing}"
    model.set_attn_implementation("eager")
    model.eval()
    return model


def load_auto(folder):
    """Any HF folder with vocab.txt: (model, ids of a residue string)."""
    from transformers import AutoModel
    model = AutoModel.from_pretrained(folder, attn_implementation="eager").eval()
    vocab = {t: i for i, t in enumerate((folder / "vocab.txt").read_text().split("\n"))}
    esm = model.config.model_type == "esm"
    cls, sep = ("<cls>", "<eos>") if esm else ("[CLS]", "[SEP]")
    return model, lambda residues: [vocab[cls]] + [vocab[r] for r in residues] + [vocab[sep]]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True, type=Path)
    p.add_argument("--fasta", required=True)
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--max-len", type=int, default=512)
    p.add_argument("--min-attn", type=float, default=0.3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    p.add_argument("--out")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if (args.model / "pytorch_model.bin").is_file():
        model = load_antiberty(args.model)
        tok = BertTokenizer(vocab=str(args.model / "vocab.txt"), do_lower_case=False)
        assert tok.vocab_size > 5, "vocabulary not loaded"
        encode = lambda residues: tok(" ".join(residues))["input_ids"]
    else:
        model, encode = load_auto(args.model)
    n_layers, n_heads = model.config.num_hidden_layers, model.config.num_attention_heads
    records = read_fasta(args.fasta)[: args.limit]

    total = torch.zeros((n_layers, n_heads), dtype=torch.double)
    sums = defaultdict(lambda: torch.zeros((n_layers, n_heads), dtype=torch.double))
    forward_s = loops_s = 0.0
    pairs = 0
    for _, seq in records:
        residues = seq[: args.max_len - 2]
        ids = encode(residues)
        assert len(ids) == len(residues) + 2
        t0 = time.perf_counter()
        with torch.no_grad():
            out = model(torch.tensor([ids]), output_attentions=True)
        attns = torch.stack([a[0, :, 1:-1, 1:-1] for a in out.attentions])
        t1 = time.perf_counter()
        edges = (attns >= torch.tensor(args.min_attn, dtype=torch.float32)).double()
        total += edges.sum((2, 3))
        n = len(residues)
        for to_index in range(n):
            for from_index in range(n):
                sums[f"aa_to_{residues[to_index]}"] += edges[:, :, from_index, to_index]
        t2 = time.perf_counter()
        forward_s += t1 - t0
        loops_s += t2 - t1
        pairs += n * n
    result = {
        "proteins": len(records),
        "residue_pairs": pairs,
        "forward_seconds": forward_s,
        "pair_loop_seconds": loops_s,
        "seconds": forward_s + loops_s,
        "torch_threads": torch.get_num_threads(),
        "peak_rss_gb": __import__("resource").getrusage(__import__("resource").RUSAGE_SELF).ru_maxrss / 2**20,
        "total": total.flatten().tolist(),
        "sums": {k: v.flatten().tolist() for k, v in sorted(sums.items())},
    }
    text = json.dumps(result)
    if args.out:
        Path(args.out).write_text(text)
    summary = {k: v for k, v in result.items() if k not in ("total", "sums")}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
