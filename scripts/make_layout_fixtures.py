"""Tiny random models saved in the layouts of the published protein language model repositories,
with HF transformers' outputs for the seeds' own usage (tests/integration/layouts.rs compares).

Each folder under tests/fixtures/models/pub_<name>/ holds the files the published repository
holds (file names, config fields, checkpoint kind, tokenizer files), tiny:

- pub_prot_bert      Rostlab/prot_bert: BertForMaskedLM, pytorch_model.bin in torch's legacy
                     (pre-1.6, non-zip) format with TF-converted names LayerNorm.gamma/.beta,
                     vocab.txt, special_tokens_map.json, tokenizer_config.json.
- pub_prot_albert    Rostlab/prot_albert: AlbertForMaskedLM, legacy pytorch_model.bin,
                     spiece.model only (ALBERT layout: <pad> <unk> [CLS] [SEP] [MASK], then ▁A…).
- pub_prot_xlnet     Rostlab/prot_xlnet: XLNetLMHeadModel, legacy pytorch_model.bin, spiece.model.
                     References for input_ids only (provis, ProtTrans: s{i}.*) and for the
                     tokenizer's segment ids (HF model(**tokenizer(x)): tokenizer.s{i}.*).
- pub_prot_t5_full   Rostlab/prot_t5_xl_uniref50: a full encoder-decoder checkpoint
                     (architectures T5WithLMHeadModel, no feed_forward_proj in config.json),
                     sharded pytorch_model.bin.index.json (zip shards), spiece.model.
- pub_prot_t5_half   Rostlab/prot_t5_xl_half_uniref50-enc: T5EncoderModel, float16
                     pytorch_model.bin, spiece.model; references from the float16 weights in float32.
- pub_t5_no_sentinels  a T5 encoder whose tokenizer.json has no <extra_id_N> (no mask token).
- pub_esm2           facebook/esm2_*: EsmForMaskedLM with its contact head, model.safetensors,
                     vocab.txt, special_tokens_map.json, tokenizer_config.json.

Token ids come from the tokenizer class each seed uses (BertTokenizer, AlbertTokenizer,
XLNetTokenizer, T5Tokenizer, EsmTokenizer) with do_lower_case=False and residues U/Z/O/B → X,
space-separated, as provis' compute_edge_features.py prepares them.

    python3 scripts/make_layout_fixtures.py [--only pub_prot_xlnet ...]
"""

import argparse
import json
import os
import re
import shutil
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_model_fixtures import (  # noqa: E402
    ESM_VOCAB,
    FIXTURES,
    PROTBERT_VOCAB,
    PROTT5_PIECES,
    SEQUENCES,
    TINY,
    XLNET_PIECES,
    capture_contexts,
    install_xlnet_context_probes,
    randomize_norms,
    state_dict_contiguous,
    write_spiece,
    write_unigram_spiece,
    write_vocab,
    write_xlnet_spiece,
    xlnet_token_types,
)

ALBERT_PIECES = ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"] + ["\u2581" + a for a in "LAGVESIKRDTPNQFYMHCWXUBZO"]


def fresh_folder(name):
    folder = os.path.join(FIXTURES, "models", name)
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    return folder


def write_json(folder, name, value):
    with open(os.path.join(folder, name), "w") as f:
        json.dump(value, f, indent=2)


def save_legacy(state, path, tf_names=False):
    """torch.save in the pre-1.6 layout (magic number, pickles, raw storages)."""
    if tf_names:
        state = {re.sub(r"LayerNorm\.weight$", "LayerNorm.gamma", re.sub(r"LayerNorm\.bias$", "LayerNorm.beta", k)): v
                 for k, v in state.items()}
    torch.save(state, path, _use_new_zipfile_serialization=False)
    with open(path, "rb") as f:
        assert f.read(2) != b"PK", "expected the legacy (non-zip) format"


def provis_text(seq):
    return re.sub(r"[UZOB]", "X", " ".join(seq))


PROVIS_SEQUENCE = "MKUZOBTAYIAKQRQISFVK"


def provis_cases(tok):
    """Token ids as provis' compute_edge_features.get_attention prepares them for ProtBert,
    ProtAlbert and ProtXLNet: residues cut to max_seq_len - 2, space-joined, U/Z/O/B -> X,
    tokenizer.encode (specials added)."""
    cases = []
    for max_seq_len in (8, 64):
        tokens = PROVIS_SEQUENCE
        tokens = tokens[:max_seq_len - 2]
        formatted = re.sub(r"[UZOB]", "X", " ".join(list(tokens)))
        ids = tok.encode(formatted)
        assert len(ids) == min(len(PROVIS_SEQUENCE) + 2, max_seq_len), ids
        cases.append({"sequence": PROVIS_SEQUENCE, "max_seq_len": max_seq_len, "input_ids": ids})
    return cases


def reference_entry(tensors, key, out, store, logits=None):
    tensors[f"{key}.attentions"] = torch.stack([a[0] for a in out.attentions]).contiguous()
    tensors[f"{key}.hidden_states"] = torch.stack([h[0] for h in out.hidden_states]).contiguous()
    tensors[f"{key}.contexts"] = torch.stack([c[0] for c in store]).contiguous()
    for name, value in (logits or {}).items():
        tensors[f"{key}.logits.{name}"] = value[0].contiguous()


def save_reference(folder, tensors, records, note, provis=None):
    save_file(tensors, os.path.join(folder, "reference.safetensors"))
    reference = {"note": note, "sequences": records}
    if provis:
        reference["provis_inputs"] = provis
    write_json(folder, "reference.json", reference)


def masked_lm_references(model, tok, context_layers):
    """Outputs for each ProtBert sequence as provis feeds it (`tok.encode` of the spaced text,
    the ids alone): attention, hidden states, contexts and the MLM logits."""
    tensors, records = {}, []
    for i, (sid, seq) in enumerate(SEQUENCES["protbert"]):
        ids = tok.encode(provis_text(seq))
        assert len(ids) == len(seq) + 2, ids
        store, hooks = capture_contexts(model, context_layers)
        out = model(torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
        for h in hooks:
            h.remove()
        reference_entry(tensors, f"s{i}", out, store, {"mlm": out.logits})
        records.append({"id": sid, "sequence": seq, "input_ids": ids})
    return tensors, records


def build_prot_bert(seed):
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    torch.manual_seed(seed)
    folder = fresh_folder("pub_prot_bert")
    config = BertConfig(vocab_size=len(PROTBERT_VOCAB), hidden_act="gelu", **TINY)
    config.architectures = ["BertForMaskedLM"]
    model = BertForMaskedLM(config)
    randomize_norms(model, torch.Generator().manual_seed(seed))
    model.eval()
    config.to_json_file(os.path.join(folder, "config.json"))
    save_legacy(state_dict_contiguous(model), os.path.join(folder, "pytorch_model.bin"), tf_names=True)
    write_vocab(folder, PROTBERT_VOCAB)
    write_json(folder, "special_tokens_map.json", {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                                                   "cls_token": "[CLS]", "mask_token": "[MASK]"})
    write_json(folder, "tokenizer_config.json", {"do_lower_case": False})
    tok = BertTokenizer(vocab=os.path.join(folder, "vocab.txt"), do_lower_case=False)
    tensors, records = masked_lm_references(model, tok, model.bert.encoder.layer)
    save_reference(folder, tensors, records,
                   "Rostlab/prot_bert layout: BertForMaskedLM, legacy pytorch_model.bin with LayerNorm.gamma/beta",
                   provis_cases(tok))


def write_albert_spiece(folder):
    """ALBERT's SentencePiece layout: `<pad> <unk> [CLS] [SEP] [MASK]`, then residue pieces `▁A`…"""
    write_unigram_spiece(folder, ALBERT_PIECES, {"pad_id": 0, "unk_id": 1, "bos_id": -1, "eos_id": -1},
                         ["<pad>", "[CLS]", "[SEP]", "[MASK]"])


def build_prot_albert(seed):
    from transformers import AlbertConfig, AlbertForMaskedLM, AlbertTokenizer

    torch.manual_seed(seed)
    folder = fresh_folder("pub_prot_albert")
    config = AlbertConfig(
        vocab_size=len(ALBERT_PIECES), embedding_size=8, num_hidden_groups=1, inner_group_num=1,
        hidden_act="gelu", pad_token_id=0, bos_token_id=2, eos_token_id=3, **dict(TINY, num_hidden_layers=3),
    )
    config.architectures = ["AlbertForMaskedLM"]
    model = AlbertForMaskedLM(config)
    randomize_norms(model, torch.Generator().manual_seed(seed))
    model.eval()
    config.to_json_file(os.path.join(folder, "config.json"))
    save_legacy(state_dict_contiguous(model), os.path.join(folder, "pytorch_model.bin"))
    write_albert_spiece(folder)
    write_json(folder, "special_tokens_map.json", {"bos_token": "[CLS]", "eos_token": "[SEP]", "unk_token": "<unk>",
                                                   "sep_token": "[SEP]", "pad_token": "<pad>", "cls_token": "[CLS]",
                                                   "mask_token": "[MASK]"})
    write_json(folder, "tokenizer_config.json", {"do_lower_case": False, "remove_space": True, "keep_accents": True})
    # provis: AlbertTokenizer.from_pretrained("Rostlab/prot_albert", do_lower_case=False).
    tok = AlbertTokenizer.from_pretrained(folder, do_lower_case=False)
    shared = model.albert.encoder.albert_layer_groups[0].albert_layers[0].attention.dense
    tensors, records = masked_lm_references(model, tok, [shared] * config.num_hidden_layers)
    assert all(r["input_ids"][0] == 2 and r["input_ids"][-1] == 3 for r in records)
    save_reference(folder, tensors, records,
                   "Rostlab/prot_albert layout: AlbertForMaskedLM, legacy pytorch_model.bin, spiece.model only; "
                   "ids from AlbertTokenizer(do_lower_case=False)", provis_cases(tok))


def build_prot_xlnet(seed):
    from transformers import XLNetConfig, XLNetLMHeadModel, XLNetTokenizer

    torch.manual_seed(seed)
    folder = fresh_folder("pub_prot_xlnet")
    config = XLNetConfig(
        vocab_size=len(XLNET_PIECES), d_model=16, n_layer=2, n_head=4, d_inner=32, ff_activation="gelu",
        untie_r=True, attn_type="bi", bi_data=False, clamp_len=-1, mem_len=512, dropout=0.0,
        initializer_range=0.3, pad_token_id=5, bos_token_id=1, eos_token_id=2,
    )
    config.architectures = ["XLNetLMHeadModel"]
    model = XLNetLMHeadModel(config)
    randomize_norms(model, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        model.lm_loss.bias.normal_(0, 0.5)
    model.eval()
    config.to_json_file(os.path.join(folder, "config.json"))
    save_legacy(state_dict_contiguous(model), os.path.join(folder, "pytorch_model.bin"))
    write_xlnet_spiece(folder)
    write_json(folder, "special_tokens_map.json", {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                                                   "sep_token": "<sep>", "pad_token": "<pad>", "cls_token": "<cls>",
                                                   "mask_token": "<mask>", "additional_special_tokens": ["<eop>", "<eod>"]})
    write_json(folder, "tokenizer_config.json", {"do_lower_case": False, "remove_space": True, "keep_accents": False})
    tok = XLNetTokenizer.from_pretrained(folder, do_lower_case=False)
    probes = install_xlnet_context_probes(model)
    tensors, records, worst = {}, [], 0.0
    for i, (sid, seq) in enumerate(SEQUENCES["protbert"]):
        ids = tok.encode(provis_text(seq))
        assert ids[-2:] == [4, 3] and len(ids) == len(seq) + 2, ids
        input_ids = torch.tensor([ids])
        for prefix, kwargs in (("", {}), ("tokenizer.", {"token_type_ids": xlnet_token_types(input_ids)})):
            store, hooks = capture_contexts(model, probes)
            # provis: model(torch.tensor(token_idxs).unsqueeze(0)), no mask, no segment ids.
            out = model(input_ids, output_attentions=True, output_hidden_states=True, **kwargs)
            for h in hooks:
                h.remove()
            reference_entry(tensors, f"{prefix}s{i}", out, store, {"mlm": out.logits})
        d = (tensors[f"s{i}.attentions"] - tensors[f"tokenizer.s{i}.attentions"]).abs().max().item()
        worst = max(worst, d)
        records.append({"id": sid, "sequence": seq, "input_ids": ids})
    print(f"pub_prot_xlnet: the two segment conventions differ by up to {worst:.3f} in attention")
    save_reference(folder, tensors, records,
                   "Rostlab/prot_xlnet layout: XLNetLMHeadModel, legacy pytorch_model.bin, spiece.model; s{i}: "
                   "input_ids only (provis); tokenizer.s{i}: with the tokenizer's token_type_ids", provis_cases(tok))


def t5_config(feed_forward_proj, vocab_size):
    from transformers import T5Config

    return T5Config(
        vocab_size=vocab_size, d_model=16, d_kv=8, d_ff=32, num_layers=2, num_decoder_layers=2, num_heads=4,
        relative_attention_num_buckets=8, relative_attention_max_distance=20, feed_forward_proj=feed_forward_proj,
        dropout_rate=0.0, layer_norm_epsilon=1e-6, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
        initializer_factor=3.0,
    )


def t5_reference(folder, encoder, tok, note):
    """Encoder outputs for the provis-style text of each ProtBert sequence."""
    tensors, records = {}, []
    layers = [block.layer[0].SelfAttention.o for block in encoder.block]
    for i, (sid, seq) in enumerate(SEQUENCES["protbert"]):
        ids = tok(provis_text(seq))["input_ids"]
        assert len(ids) == len(seq) + 1 and ids[-1] == 1, ids
        store, hooks = capture_contexts(encoder, layers)
        out = encoder(input_ids=torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
        for h in hooks:
            h.remove()
        reference_entry(tensors, f"s{i}", out, store)
        records.append({"id": sid, "sequence": seq, "input_ids": ids})
    save_reference(folder, tensors, records, note)


def prott5_tokenizer_files(folder):
    write_spiece(folder)
    extra = [f"<extra_id_{i}>" for i in range(100)]
    write_json(folder, "special_tokens_map.json", {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
                                                   "additional_special_tokens": extra})
    write_json(folder, "tokenizer_config.json", {"do_lower_case": False, "extra_ids": 100,
                                                 "additional_special_tokens": extra})


def prott5_model(name, cls, seed):
    """A fresh fixture folder with ProtT5's tokenizer files and a random T5 model `cls` of the
    tiny shape (ReLU feed-forward, as ProtT5-XL-U50), eager attention, in eval mode."""
    from transformers import T5Tokenizer

    torch.manual_seed(seed)
    folder = fresh_folder(name)
    prott5_tokenizer_files(folder)
    tok = T5Tokenizer.from_pretrained(folder)
    config = t5_config("relu", len(tok))
    model = cls(config)
    randomize_norms(model, torch.Generator().manual_seed(seed))
    model.set_attn_implementation("eager")
    model.eval()
    return folder, tok, config, model


def build_prot_t5_full(seed):
    from transformers import T5ForConditionalGeneration

    folder, tok, config, model = prott5_model("pub_prot_t5_full", T5ForConditionalGeneration, seed)
    cfg = config.to_dict()
    cfg["architectures"] = ["T5WithLMHeadModel"]
    for field in ("feed_forward_proj", "is_gated_act", "dense_act_fn"):
        cfg.pop(field, None)  # ProtT5-XL-U50's config.json predates these fields
    write_json(folder, "config.json", cfg)
    # Two zip shards and their index (the decoder and LM head in the second), as
    # save_pretrained(max_shard_size=...) wrote them before transformers 5.
    state = state_dict_contiguous(model)
    first, second = "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"
    shards = {first: {}, second: {}}
    for name, value in state.items():
        shards[second if name.startswith(("decoder.", "lm_head.")) else first][name] = value
    weight_map = {}
    for part, tensors in shards.items():
        torch.save(tensors, os.path.join(folder, part))
        weight_map.update({name: part for name in tensors})
    total = sum(v.numel() * v.element_size() for v in state.values())
    write_json(folder, "pytorch_model.bin.index.json", {"metadata": {"total_size": total}, "weight_map": weight_map})
    t5_reference(folder, model.encoder, tok,
                 "Rostlab/prot_t5_xl_uniref50 layout: T5WithLMHeadModel (encoder + decoder + lm_head), relu, "
                 "no feed_forward_proj, sharded pytorch_model.bin.index.json; encoder outputs")


def build_prot_t5_half(seed):
    from transformers import T5EncoderModel

    folder, tok, config, model = prott5_model("pub_prot_t5_half", T5EncoderModel, seed)
    model = model.half().float()  # the float16 weights, run in float32
    cfg = config.to_dict()
    cfg["architectures"] = ["T5EncoderModel"]
    cfg["torch_dtype"] = "float16"
    write_json(folder, "config.json", cfg)
    torch.save({k: v.half() for k, v in state_dict_contiguous(model).items()}, os.path.join(folder, "pytorch_model.bin"))
    t5_reference(folder, model.encoder, tok,
                 "Rostlab/prot_t5_xl_half_uniref50-enc layout: T5EncoderModel, float16 pytorch_model.bin, "
                 "spiece.model; outputs of the float16 weights in float32")


def build_t5_no_sentinels(seed):
    """A T5 tokenizer.json made from ProtT5's pieces with extra_ids=0: no mask token at all."""
    from transformers import T5EncoderModel, T5TokenizerFast

    torch.manual_seed(seed)
    folder = fresh_folder("pub_t5_no_sentinels")
    write_spiece(folder)
    tok = T5TokenizerFast.from_pretrained(folder, extra_ids=0)
    tok.save_pretrained(folder)
    for name in ("spiece.model", "special_tokens_map.json", "tokenizer_config.json"):
        if os.path.exists(os.path.join(folder, name)):
            os.remove(os.path.join(folder, name))
    vocab = json.load(open(os.path.join(folder, "tokenizer.json")))
    assert not any("extra_id" in t["content"] for t in vocab.get("added_tokens", [])), "sentinels left"
    config = t5_config("relu", len(PROTT5_PIECES))
    model = T5EncoderModel(config)
    randomize_norms(model, torch.Generator().manual_seed(seed))
    model.set_attn_implementation("eager")
    model.eval()
    cfg = config.to_dict()
    cfg["architectures"] = ["T5EncoderModel"]
    write_json(folder, "config.json", cfg)
    save_file(state_dict_contiguous(model), os.path.join(folder, "model.safetensors"))
    t5_reference(folder, model.encoder, tok, "T5EncoderModel, tokenizer.json without <extra_id_N> (no mask token)")


def build_esm2(seed):
    from transformers import EsmConfig, EsmForMaskedLM, EsmTokenizer

    torch.manual_seed(seed)
    folder = fresh_folder("pub_esm2")
    config = EsmConfig(
        vocab_size=len(ESM_VOCAB), pad_token_id=1, mask_token_id=32, position_embedding_type="rotary",
        token_dropout=True, emb_layer_norm_before=False, layer_norm_eps=1e-5, **TINY,
    )
    config.max_position_embeddings = 66
    config.architectures = ["EsmForMaskedLM"]
    model = EsmForMaskedLM(config)
    randomize_norms(model, torch.Generator().manual_seed(seed))
    model.eval()
    model.save_pretrained(folder)
    write_vocab(folder, ESM_VOCAB)
    write_json(folder, "special_tokens_map.json", {"cls_token": "<cls>", "eos_token": "<eos>", "mask_token": "<mask>",
                                                   "pad_token": "<pad>", "unk_token": "<unk>"})
    write_json(folder, "tokenizer_config.json", {"model_max_length": 1000000000000000019884624838656})
    assert any(k.startswith("esm.contact_head") for k in model.state_dict()), "no contact head"
    tok = EsmTokenizer(vocab_file=os.path.join(folder, "vocab.txt"))
    tensors, records = {}, []
    for i, (sid, seq) in enumerate(SEQUENCES["esm"]):
        ids = tok(seq)["input_ids"]
        store, hooks = capture_contexts(model, model.esm.encoder.layer)
        out = model(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                    output_attentions=True, output_hidden_states=True)
        for h in hooks:
            h.remove()
        reference_entry(tensors, f"s{i}", out, store, {"mlm": out.logits})
        tensors[f"s{i}.contacts"] = model.predict_contacts(
            torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))[0].contiguous()
        records.append({"id": sid, "sequence": seq, "input_ids": ids})
    # The same sequences as one right-padded batch, as EsmTokenizer pads them.
    batch = tok([seq for _, seq in SEQUENCES["esm"]], padding=True, return_tensors="pt")
    contacts = model.predict_contacts(batch["input_ids"], batch["attention_mask"])
    for i, (_, seq) in enumerate(SEQUENCES["esm"]):
        n = len(seq)
        tensors[f"batch.s{i}.contacts"] = contacts[i, :n, :n].contiguous()
    save_reference(folder, tensors, records, "facebook/esm2 layout: EsmForMaskedLM with contact head, model.safetensors; "
                   "s{i}.contacts: HF predict_contacts alone, batch.s{i}.contacts: in one padded batch")


BUILDERS = {
    "pub_prot_bert": lambda: build_prot_bert(seed=21),
    "pub_prot_albert": lambda: build_prot_albert(seed=22),
    "pub_prot_xlnet": lambda: build_prot_xlnet(seed=23),
    "pub_prot_t5_full": lambda: build_prot_t5_full(seed=24),
    "pub_prot_t5_half": lambda: build_prot_t5_half(seed=25),
    "pub_t5_no_sentinels": lambda: build_t5_no_sentinels(seed=26),
    "pub_esm2": lambda: build_esm2(seed=27),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=sorted(BUILDERS), help="build these fixtures only")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    for name in args.only or BUILDERS:
        BUILDERS[name]()
        print("wrote", name)


if __name__ == "__main__":
    main()
