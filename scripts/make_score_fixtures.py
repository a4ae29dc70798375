"""Reference sequence scores and real-model outputs for Sapiens (fairseq RoBERTa) and IgLM (GPT-2).

Tiny models (always): on the fixture folders of make_model_fixtures.py,
- `roberta_mlm`: pseudo-log-likelihood (Salazar et al. 2020) with HF RobertaForMaskedLM: each
  residue masked in turn, log-softmax at its position;
- `gpt2_lm`: IgLM's `log_likelihood` rule with HF GPT2LMHeadModel: tokens `[HEAVY] [HUMAN]
  residues [SEP]`, cross-entropy of tokens 2.. from the logits at 1..-1, mean over them;
written to tests/fixtures/scores/reference.json.

Real models (with --sapiens-wheel and/or --iglm-wheel, the wheels `pip download --no-deps
sapiens==1.0.5 iglm==0.1.0` gives): read straight from the wheels, not from protscope's
converted folders.
- Sapiens: each fairseq checkpoint's state dict is mapped onto HF RobertaForMaskedLM by the
  names transformers' own conversion script uses, and run on the first heavy (VH model) and
  light (VL model) chain of data/antibodies.fasta: MLM logits, layer-0 attention of the first
  40 tokens, pseudo-log-likelihood.
- IgLM: HF GPT2LMHeadModel.from_pretrained on the wheel's IgLM and IgLM-S folders, token ids
  from IgLM's own BertTokenizerFast on vocab.txt: logits, last-layer attention of the first 40
  tokens, and IgLM's log_likelihood (its code, repeated below) with `[HEAVY] [HUMAN]`; and
  Captum's integrated gradients of that log-likelihood (LayerIntegratedGradients on the
  embedding output, float64, pad baseline, Gauss-Legendre 16 steps).
Written to tests/fixtures/scores_real/.

    python3 scripts/make_score_fixtures.py [--sapiens-wheel W] [--iglm-wheel W]
"""

import argparse
import json
import os
import tempfile
import zipfile

import torch
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"


def read_fasta(path):
    records = []
    for line in open(path):
        line = line.strip()
        if line.startswith(">"):
            records.append([line[1:].split()[0], ""])
        elif line:
            records[-1][1] += line
    return records


def pseudo_log_likelihood(model, ids, first, last, mask_id):
    """Each token in first..last (exclusive) masked in turn; log p(true token)."""
    rows = []
    for t in range(first, last):
        masked = list(ids)
        masked[t] = mask_id
        with torch.no_grad():
            logits = model(torch.tensor([masked])).logits[0, t].double()
        rows.append(torch.log_softmax(logits, -1)[ids[t]].item())
    return rows


def iglm_log_likelihood(model, ids, eval_start=1):
    """IgLM.log_likelihood (iglm 0.1.0, no infill range): mean next-token log-probability."""
    token_seq = torch.tensor([ids])
    with torch.no_grad():
        logits = model(token_seq).logits
    shift_logits = logits[..., eval_start:-1, :].contiguous()
    shift_labels = token_seq[..., eval_start + 1:].contiguous().long()
    nll = torch.nn.functional.cross_entropy(
        shift_logits.view(-1, shift_logits.size(-1)), shift_labels.view(-1), reduction="mean")
    per_token = torch.log_softmax(logits[0, eval_start:-1].double(), -1)
    per_token = per_token.gather(1, shift_labels[0, :, None]).squeeze(1)
    return -nll.item(), per_token.tolist()


def tiny_scores():
    from transformers import GPT2LMHeadModel, RobertaForMaskedLM

    out = {}
    folder = os.path.join(FIXTURES, "models", "roberta_mlm")
    ref = json.load(open(os.path.join(folder, "reference.json")))
    model = RobertaForMaskedLM.from_pretrained(folder).eval()
    out["roberta_mlm"] = []
    for rec in ref["sequences"]:
        ids = rec["input_ids"]
        rows = pseudo_log_likelihood(model, ids, 1, len(ids) - 1, 24)
        out["roberta_mlm"].append({"id": rec["id"], "sequence": rec["sequence"], "residue_log_probs": rows,
                                   "log_likelihood": sum(rows), "n_scored": len(rows)})
    folder = os.path.join(FIXTURES, "models", "gpt2_lm")
    ref = json.load(open(os.path.join(folder, "reference.json")))
    model = GPT2LMHeadModel.from_pretrained(folder).eval()
    out["gpt2_lm"] = []
    for rec in ref["sequences"]:
        mean, per_token = iglm_log_likelihood(model, rec["input_ids"])
        out["gpt2_lm"].append({"id": rec["id"], "sequence": rec["sequence"], "prefix": ref["prefix"],
                               "mean_log_likelihood": mean, "token_log_probs": per_token,
                               "log_likelihood": sum(per_token), "n_scored": len(per_token)})
    path = os.path.join(FIXTURES, "scores")
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "reference.json"), "w") as f:
        json.dump({"note": "roberta_mlm: pseudo-log-likelihood with HF RobertaForMaskedLM (mask id 24); "
                   "gpt2_lm: IgLM's log_likelihood rule with HF GPT2LMHeadModel; natural logs",
                   **out}, f, indent=1)


def sapiens_hf(checkpoint):
    """HF RobertaForMaskedLM from a fairseq checkpoint, mapped as transformers'
    convert_roberta_original_pytorch_checkpoint_to_pytorch.py maps it."""
    from transformers import RobertaConfig, RobertaForMaskedLM

    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    state, args = ckpt["model"], ckpt["args"]
    p = "decoder.sentence_encoder." if "decoder.sentence_encoder.embed_tokens.weight" in state else "encoder.sentence_encoder."
    h = "decoder.lm_head." if p.startswith("decoder") else "encoder.lm_head."
    vocab, d = state[p + "embed_tokens.weight"].shape
    config = RobertaConfig(
        vocab_size=vocab, hidden_size=d, num_hidden_layers=args.encoder_layers,
        num_attention_heads=args.encoder_attention_heads, intermediate_size=args.encoder_ffn_embed_dim,
        max_position_embeddings=state[p + "embed_positions.weight"].shape[0], type_vocab_size=1,
        layer_norm_eps=1e-5, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, pad_token_id=1,
    )
    model = RobertaForMaskedLM(config)
    model.set_attn_implementation("eager")
    m = model.roberta
    with torch.no_grad():
        m.embeddings.word_embeddings.weight.copy_(state[p + "embed_tokens.weight"])
        m.embeddings.position_embeddings.weight.copy_(state[p + "embed_positions.weight"])
        m.embeddings.token_type_embeddings.weight.zero_()
        m.embeddings.LayerNorm.weight.copy_(state[p + "emb_layer_norm.weight"])
        m.embeddings.LayerNorm.bias.copy_(state[p + "emb_layer_norm.bias"])
        for i, layer in enumerate(m.encoder.layer):
            s = f"{p}layers.{i}."
            att = layer.attention
            for ours, theirs in [(att.self.query, "self_attn.q_proj"), (att.self.key, "self_attn.k_proj"),
                                 (att.self.value, "self_attn.v_proj"), (att.output.dense, "self_attn.out_proj"),
                                 (att.output.LayerNorm, "self_attn_layer_norm"), (layer.intermediate.dense, "fc1"),
                                 (layer.output.dense, "fc2"), (layer.output.LayerNorm, "final_layer_norm")]:
                ours.weight.copy_(state[s + theirs + ".weight"])
                ours.bias.copy_(state[s + theirs + ".bias"])
        lm = model.lm_head
        lm.dense.weight.copy_(state[h + "dense.weight"])
        lm.dense.bias.copy_(state[h + "dense.bias"])
        lm.layer_norm.weight.copy_(state[h + "layer_norm.weight"])
        lm.layer_norm.bias.copy_(state[h + "layer_norm.bias"])
        lm.decoder.weight.copy_(state[h + "weight"])
        lm.bias.copy_(state[h + "bias"])
    return model.eval()


def sapiens_real(wheel, tensors, meta):
    tmp = tempfile.mkdtemp()
    with zipfile.ZipFile(wheel) as z:
        z.extractall(tmp)
    v1 = os.path.join(tmp, "sapiens", "models", "v1")
    symbols = [l.split()[0] for l in open(os.path.join(v1, "dict.txt")) if l.strip()]
    vocab = ["<s>", "<pad>", "</s>", "<unk>"] + symbols + ["<mask>"]
    seqs = read_fasta(os.path.join(ROOT, "data", "antibodies.fasta"))
    heavy = next(r for r in seqs if r[0].endswith("_VH"))
    light = next(r for r in seqs if r[0].endswith("_VL"))
    meta["sapiens"] = []
    for name, ckpt, (sid, seq) in [("sapiens-vh", "checkpoint_vh.pt", heavy), ("sapiens-vl", "checkpoint_vl.pt", light)]:
        model = sapiens_hf(os.path.join(v1, ckpt))
        ids = [0] + [vocab.index(c) for c in seq] + [2]
        with torch.no_grad():
            out = model(torch.tensor([ids]), output_attentions=True)
            short = model(torch.tensor([ids[:40]]), output_attentions=True)
        tensors[f"{name}.logits"] = out.logits[0].contiguous()
        tensors[f"{name}.attention.layer0.first40"] = short.attentions[0][0].contiguous()
        rows = pseudo_log_likelihood(model, ids, 1, len(ids) - 1, vocab.index("<mask>"))
        meta["sapiens"].append({"model": name, "id": sid, "sequence": seq, "input_ids": ids,
                                "residue_log_probs": rows, "log_likelihood": sum(rows)})


def iglm_real(wheel, tensors, meta):
    from transformers import BertTokenizerFast, GPT2LMHeadModel

    tmp = tempfile.mkdtemp()
    with zipfile.ZipFile(wheel) as z:
        z.extractall(tmp)
    models = os.path.join(tmp, "iglm", "trained_models")
    # transformers 5 ignores `vocab_file=` (what IgLM passes); the same file goes in as `vocab`.
    tok = BertTokenizerFast(vocab=os.path.join(models, "vocab.txt"), do_lower_case=False)
    assert tok.vocab_size == 33, "vocabulary not loaded"
    seqs = read_fasta(os.path.join(ROOT, "data", "antibodies.fasta"))
    cases = [(sid, seq, "[HEAVY]" if sid.endswith("_VH") else "[LIGHT]") for sid, seq in seqs
             if sid.endswith("_VH") or sid.endswith("_VL")][:2]
    meta["iglm"] = []
    for name, inner in [("iglm", "IgLM"), ("iglm-s", "IgLM-S")]:
        model = GPT2LMHeadModel.from_pretrained(os.path.join(models, inner), attn_implementation="eager").eval()
        for k, (sid, seq, chain) in enumerate(cases):
            tokens = [chain, "[HUMAN]"] + list(seq) + [tok.sep_token]
            ids = tok.convert_tokens_to_ids(tokens)
            assert tok.unk_token_id not in ids
            mean, per_token = iglm_log_likelihood(model, ids)
            with torch.no_grad():
                out = model(torch.tensor([ids]), output_attentions=True)
                short = model(torch.tensor([ids[:40]]), output_attentions=True)
            tensors[f"{name}.s{k}.logits"] = out.logits[0].contiguous()
            tensors[f"{name}.s{k}.attention.last.first40"] = short.attentions[-1][0].contiguous()
            meta["iglm"].append({"model": name, "case": k, "id": sid, "sequence": seq, "prefix": f"{chain} [HUMAN]",
                                 "input_ids": ids, "mean_log_likelihood": mean, "token_log_probs": per_token})
        # Integrated gradients of the sequence log-likelihood (first case): Captum's
        # LayerIntegratedGradients over the embedding output (wte + wpe, the input of `drop`),
        # float64, pad baseline (prefix and [SEP] kept), Gauss-Legendre with 16 steps.
        from captum.attr import LayerIntegratedGradients

        sid, seq, chain = cases[0]
        ids = tok.convert_tokens_to_ids([chain, "[HUMAN]"] + list(seq) + [tok.sep_token])
        base = ids[:2] + [tok.pad_token_id] * (len(ids) - 3) + ids[-1:]
        model64 = model.double()
        labels = torch.tensor(ids)

        def log_likelihood(input_ids):
            lp = torch.log_softmax(model64(input_ids).logits, -1)
            return lp[:, torch.arange(len(ids) - 1), labels[1:]][:, 1:].sum(-1)

        lig = LayerIntegratedGradients(log_likelihood, model64.transformer.drop)
        attr, delta = lig.attribute(torch.tensor([ids]), baselines=torch.tensor([base]), n_steps=16,
                                    method="gausslegendre", return_convergence_delta=True)
        tensors[f"{name}.ig.loglik.relevance"] = attr[0].sum(-1).detach().contiguous()
        meta.setdefault("iglm_ig", []).append({"model": name, "id": sid, "prefix": f"{chain} [HUMAN]",
                                               "input_ids": ids, "baseline_ids": base, "steps": 16,
                                               "method": "gausslegendre", "delta": delta.item()})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sapiens-wheel")
    parser.add_argument("--iglm-wheel")
    args = parser.parse_args()
    tiny_scores()
    if args.sapiens_wheel or args.iglm_wheel:
        tensors, meta = {}, {}
        if args.sapiens_wheel:
            sapiens_real(args.sapiens_wheel, tensors, meta)
        if args.iglm_wheel:
            iglm_real(args.iglm_wheel, tensors, meta)
        out = os.path.join(FIXTURES, "scores_real")
        os.makedirs(out, exist_ok=True)
        save_file(tensors, os.path.join(out, "reference.safetensors"))
        meta["note"] = ("Sapiens: fairseq checkpoints of sapiens==1.0.5 mapped onto HF RobertaForMaskedLM; IgLM: "
                        "HF GPT2LMHeadModel on the folders of iglm==0.1.0 with IgLM's log_likelihood rule")
        with open(os.path.join(out, "reference.json"), "w") as f:
            json.dump(meta, f, indent=1)
    print("fixtures written under", FIXTURES)


if __name__ == "__main__":
    main()
