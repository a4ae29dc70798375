"""Tiny random protein language models and their reference outputs (HF transformers, PyTorch).

Builds small BERT / ESM-2 / AntiBERTy-shaped models with random weights, saves each as a Hugging
Face model folder under tests/fixtures/models/<name>/ together with reference.safetensors
(logits, attention probabilities, hidden states, per-layer self-attention contexts) and
reference.json (sequences and the token ids HF's tokenizer gives them). The Rust tests in
tests/integration/model_parity.rs load the same folders and compare.

With --antiberty DIR (a folder holding AntiBERTy's config.json, pytorch_model.bin and
vocab.txt, e.g. the one `protscope fetch antiberty` makes) it also writes
tests/fixtures/antiberty_real/reference.safetensors from the real weights.

    python3 scripts/make_model_fixtures.py [--antiberty ~/.cache/protscope/antiberty]
"""

import argparse
import json
import os
import re

import torch
from safetensors.torch import save_file
from torch import nn
from transformers import (
    AlbertConfig,
    AlbertForMaskedLM,
    AlbertForSequenceClassification,
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
    BertModel,
    BertPreTrainedModel,
    BertTokenizer,
    EsmConfig,
    EsmForMaskedLM,
    EsmForSequenceClassification,
)
from transformers.models.bert.modeling_bert import BertLMPredictionHead

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")

PROTBERT_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("LAGVESIKRDTPNQFYMHCWXUBZO")
ANTIBERTY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("ACDEFGHIKLMNPQRSTVWY")
ESM_VOCAB = ["<cls>", "<pad>", "<eos>", "<unk>"] + list("LAGVSERTIDPKQNFYMHWCXBUZO") + [".", "-", "<null_1>", "<mask>"]

# Short real fragments (antibody V domains and a kinase N-terminus), varied lengths. The ProtBert
# set includes U/Z/B to exercise the X mapping; the ESM set includes X.
SEQUENCES = {
    "protbert": [
        ("s1", "MKTAYIAKQR"),
        ("s2", "QVQLKESGPGLVAPSQSLSITCTVSGF"),
        ("s3", "EVQLVUSGGZLVB"),
    ],
    "antiberty": [
        ("h1", "EVQLVESGGGLVQPGRSLRLSCAASGFTFDDYAM"),
        ("l1", "DIQMTQSPSSLSASVGDRV"),
        ("x1", "QVQLXESG"),
    ],
    "esm": [
        ("e1", "MKTAYIAKQRQISFVKSHFSRQ"),
        ("e2", "LEDGRXLSDYNIQ"),
        ("e3", "GSHMASMTGGQQMGRGS"),
    ],
}

TINY = dict(
    hidden_size=16,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=32,
    max_position_embeddings=64,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
    initializer_range=0.3,
)


class AntiBERTyHeads(nn.Module):
    """Same module layout as the antiberty package's heads (cls.predictions/species/chain/graft)."""

    def __init__(self, config):
        super().__init__()
        self.predictions = BertLMPredictionHead(config)
        self.species = nn.Linear(config.hidden_size, 6)
        self.chain = nn.Linear(config.hidden_size, 2)
        self.graft = nn.Linear(config.hidden_size, 2)


class AntiBERTy(BertPreTrainedModel):
    """AntiBERTy's architecture: BertModel (with pooler) + AntiBERTyHeads."""

    def __init__(self, config):
        super().__init__(config)
        self.bert = BertModel(config)
        self.cls = AntiBERTyHeads(config)

    def forward(self, input_ids, attention_mask=None, output_attentions=False, output_hidden_states=False):
        out = self.bert(
            input_ids,
            attention_mask=attention_mask,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )
        seq, pooled = out[0], out[1]
        return {
            "mlm": self.cls.predictions(seq),
            "species": self.cls.species(pooled),
            "chain": self.cls.chain(pooled),
            "graft": self.cls.graft(pooled),
            "attentions": out.attentions,
            "hidden_states": out.hidden_states,
        }


def randomize_norms(model, generator):
    """Random LayerNorm weights/biases so that wiring mistakes cannot hide behind 1/0. Also
    switches to eager attention: only it returns attention probabilities."""
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")
    for module in model.modules():
        if isinstance(module, nn.LayerNorm) or type(module).__name__ == "T5LayerNorm":
            with torch.no_grad():
                module.weight.copy_(1.0 + 0.2 * torch.randn(module.weight.shape, generator=generator))
                if getattr(module, "bias", None) is not None:
                    module.bias.copy_(0.2 * torch.randn(module.bias.shape, generator=generator))


def write_vocab(folder, vocab):
    with open(os.path.join(folder, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab) + "\n")


def state_dict_contiguous(model):
    """Tied weights share storage, which safetensors refuses: clone every tensor."""
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}



def hf_token_ids(folder, kind, seq):
    """Token ids from HF's own tokenizer class for the folder."""
    if kind == "esm":
        from transformers import EsmTokenizer

        tok = EsmTokenizer(vocab_file=os.path.join(folder, "vocab.txt"))
        return tok(seq)["input_ids"]
    # transformers 5 ignores `vocab_file=`; pass the path as `vocab`.
    tok = BertTokenizer(vocab=os.path.join(folder, "vocab.txt"), do_lower_case=False)
    assert tok.vocab_size > 5, "vocabulary not loaded"
    text = " ".join(re.sub(r"[UZOB]", "X", seq) if kind == "protbert" else seq)
    return tok(text)["input_ids"]


def capture_contexts(model, layers):
    """Forward hooks on each layer's self-attention module: output[0] is the per-head context
    concatenated (B, T, hidden), before the output projection. `layers` may instead be a list of
    output projections (ALBERT, T5, ESM C have no module whose output is the context): their
    input is the context. A module used by several layers (ALBERT) records once per use."""
    store = []
    if layers and type(layers[0]).__name__ == "Conv1D":  # GPT-2's c_proj: its input is the context
        hooks = [m.register_forward_pre_hook(lambda m, i: store.append(i[0].detach())) for m in layers]
    elif layers and isinstance(layers[0], nn.Identity):  # XLNet's context probes
        hooks = [m.register_forward_hook(lambda m, i, o: store.append(o.detach())) for m in dict.fromkeys(layers)]
    elif layers and isinstance(layers[0], nn.Linear):
        hooks = [m.register_forward_pre_hook(lambda m, i: store.append(i[0].detach())) for m in dict.fromkeys(layers)]
    else:
        hooks = [layer.attention.self.register_forward_hook(lambda m, i, o: store.append(o[0].detach())) for layer in layers]
    return store, hooks


def run_reference(model, kind, folder, layers, head_names, sequences):
    tensors, records = {}, []
    model.eval()
    for idx, (sid, seq) in enumerate(sequences):
        ids = hf_token_ids(folder, kind, seq)
        input_ids = torch.tensor([ids])
        store, hooks = capture_contexts(model, layers)
        with torch.no_grad():
            out = model(input_ids, attention_mask=torch.ones_like(input_ids), output_attentions=True, output_hidden_states=True)
        for h in hooks:
            h.remove()
        key = f"s{idx}"
        tensors[f"{key}.attentions"] = torch.stack([a[0] for a in out["attentions"]]).contiguous()
        tensors[f"{key}.hidden_states"] = torch.stack([h[0] for h in out["hidden_states"]]).contiguous()
        tensors[f"{key}.contexts"] = torch.stack([c[0] for c in store]).contiguous()
        for name, attr in head_names.items():
            tensors[f"{key}.logits.{name}"] = out[attr][0].detach().contiguous()
        records.append({"id": sid, "sequence": seq, "input_ids": ids})
    return tensors, records


def save_reference(folder, tensors, records, note):
    save_file(tensors, os.path.join(folder, "reference.safetensors"))
    with open(os.path.join(folder, "reference.json"), "w") as f:
        json.dump({"note": note, "sequences": records}, f, indent=1)


class DictOut:
    """Adapts HF ModelOutput to dict-style access by the names used above."""

    def __init__(self, model):
        self.model = model

    def __call__(self, input_ids, **kw):
        out = self.model(input_ids, **kw)
        return {"attentions": out.attentions, "hidden_states": out.hidden_states, "logits": out.logits}

    def eval(self):
        self.model.eval()


def build_bert_classifier(name, multi_label, safetensors, seed):
    torch.manual_seed(seed)
    folder = os.path.join(FIXTURES, "models", name)
    os.makedirs(folder, exist_ok=True)
    labels = ["binder", "non-binder", "unknown"] if not multi_label else ["membrane", "nucleus", "cytoplasm", "secreted"]
    config = BertConfig(
        vocab_size=len(PROTBERT_VOCAB),
        type_vocab_size=2,
        num_labels=len(labels),
        id2label={i: l for i, l in enumerate(labels)},
        label2id={l: i for i, l in enumerate(labels)},
        problem_type="multi_label_classification" if multi_label else "single_label_classification",
        **TINY,
    )
    model = BertForSequenceClassification(config)
    randomize_norms(model, torch.Generator().manual_seed(seed))
    model.save_pretrained(folder)
    if not safetensors:
        # transformers 5 only writes safetensors; write the legacy torch.save format by hand so
        # the pytorch_model.bin reader is covered too.
        os.remove(os.path.join(folder, "model.safetensors"))
        torch.save(state_dict_contiguous(model), os.path.join(folder, "pytorch_model.bin"))
    write_vocab(folder, PROTBERT_VOCAB)
    tensors, records = run_reference(
        DictOut(model), "protbert", folder, model.bert.encoder.layer, {"classifier": "logits"}, SEQUENCES["protbert"]
    )
    save_reference(folder, tensors, records, f"BertForSequenceClassification, multi_label={multi_label}")


def build_bert_mlm(seed):
    torch.manual_seed(seed)
    folder = os.path.join(FIXTURES, "models", "bert_mlm")
    os.makedirs(folder, exist_ok=True)
    config = BertConfig(vocab_size=len(PROTBERT_VOCAB), **TINY)
    model = BertForMaskedLM(config)
    randomize_norms(model, torch.Generator().manual_seed(seed))
    model.save_pretrained(folder)
    write_vocab(folder, PROTBERT_VOCAB)
    tensors, records = run_reference(
        DictOut(model), "protbert", folder, model.bert.encoder.layer, {"mlm": "logits"}, SEQUENCES["protbert"][:2]
    )
    save_reference(folder, tensors, records, "BertForMaskedLM (tied decoder)")


def build_esm(name, arch, seed, shard):
    torch.manual_seed(seed)
    folder = os.path.join(FIXTURES, "models", name)
    os.makedirs(folder, exist_ok=True)
    labels = ["cytoplasm", "membrane"]
    config = EsmConfig(
        vocab_size=len(ESM_VOCAB),
        pad_token_id=ESM_VOCAB.index("<pad>"),
        mask_token_id=ESM_VOCAB.index("<mask>"),
        position_embedding_type="rotary",
        token_dropout=True,
        emb_layer_norm_before=False,
        layer_norm_eps=1e-5,
        num_labels=len(labels),
        id2label={i: l for i, l in enumerate(labels)},
        label2id={l: i for i, l in enumerate(labels)},
        **TINY,
    )
    config.max_position_embeddings = 66
    model = arch(config)
    randomize_norms(model, torch.Generator().manual_seed(seed))
    if shard:
        model.save_pretrained(folder, max_shard_size="20KB")
    else:
        model.save_pretrained(folder)
    write_vocab(folder, ESM_VOCAB)
    head = {"classifier": "logits"} if arch is EsmForSequenceClassification else {"mlm": "logits"}
    tensors, records = run_reference(DictOut(model), "esm", folder, model.esm.encoder.layer, head, SEQUENCES["esm"])
    save_reference(folder, tensors, records, f"{arch.__name__}, rotary, token_dropout")


def antiberty_config(**kw):
    return BertConfig(vocab_size=len(ANTIBERTY_VOCAB), type_vocab_size=2, **kw)


ANTIBERTY_HEADS = {"species": "species", "chain": "chain", "graft": "graft", "mlm": "mlm"}
ANTIBERTY_LABELS = {
    "species": ["Camel", "Human", "Mouse", "Rabbit", "Rat", "Rhesus"],
    "chain": ["Heavy", "Light"],
}


def build_antiberty_tiny(seed):
    torch.manual_seed(seed)
    folder = os.path.join(FIXTURES, "models", "antiberty_tiny")
    os.makedirs(folder, exist_ok=True)
    config = antiberty_config(**TINY)
    model = AntiBERTy(config)
    randomize_norms(model, torch.Generator().manual_seed(seed))
    save_file(state_dict_contiguous(model), os.path.join(folder, "model.safetensors"))
    cfg = config.to_dict()
    cfg["architectures"] = ["AntiBERTy"]
    cfg["protscope_head_labels"] = ANTIBERTY_LABELS
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    write_vocab(folder, ANTIBERTY_VOCAB)
    tensors, records = run_reference(
        model, "antiberty", folder, model.bert.encoder.layer, ANTIBERTY_HEADS, SEQUENCES["antiberty"]
    )
    save_reference(folder, tensors, records, "AntiBERTy-shaped: BertModel + cls.{predictions,species,chain,graft}")


def load_real_antiberty(folder):
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    config = BertConfig(**{k: v for k, v in cfg.items() if k not in ("architectures", "_name_or_path", "protscope_head_labels")})
    model = AntiBERTy(config)
    state = torch.load(os.path.join(folder, "pytorch_model.bin"), map_location="cpu", weights_only=True)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids")]
    assert not missing, f"missing weights: {missing}"
    model.set_attn_implementation("eager")
    model.eval()
    return model


def read_fasta(path):
    records, name = [], None
    for line in open(path):
        line = line.strip()
        if line.startswith(">"):
            name = line[1:].split()[0]
            records.append([name, ""])
        elif line:
            records[-1][1] += line
    return [(n, s) for n, s in records]


def build_antiberty_real(folder):
    """Species/chain/graft logits for data/antibodies.fasta, and layer-3 attention of the first
    40 residues of the first sequence (kept small)."""
    model = load_real_antiberty(folder)
    out_dir = os.path.join(FIXTURES, "antiberty_real")
    os.makedirs(out_dir, exist_ok=True)
    tensors, records = {}, []
    seqs = read_fasta(os.path.join(ROOT, "data", "antibodies.fasta"))
    for idx, (sid, seq) in enumerate(seqs):
        ids = hf_token_ids(folder, "antiberty", seq)
        with torch.no_grad():
            out = model(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long))
        for head in ("species", "chain", "graft"):
            tensors[f"s{idx}.logits.{head}"] = out[head][0].contiguous()
        records.append({"id": sid, "sequence": seq, "input_ids": ids})
    sid, seq = seqs[0]
    ids = hf_token_ids(folder, "antiberty", seq[:40])
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_attentions=True)
    tensors["truncated.attention.layer3"] = out["attentions"][3][0].contiguous()
    save_file(tensors, os.path.join(out_dir, "reference.safetensors"))
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump({"note": "real AntiBERTy (antiberty==0.1.3 wheel) loaded into HF BertModel + linear heads; "
                   "`truncated` = first 40 residues of the first sequence",
                   "sequences": records, "truncated_residues": 40}, f, indent=1)


def build_albert(name, arch, seed):
    """ALBERT with factorised embeddings (embedding_size 8 < hidden 16) and 3 layers sharing one
    layer group, ProtBert's vocabulary."""
    torch.manual_seed(seed)
    folder = os.path.join(FIXTURES, "models", name)
    os.makedirs(folder, exist_ok=True)
    labels = ["binder", "non-binder"]
    tiny = dict(TINY, num_hidden_layers=3)
    config = AlbertConfig(
        vocab_size=len(PROTBERT_VOCAB),
        embedding_size=8,
        num_hidden_groups=1,
        inner_group_num=1,
        hidden_act="gelu_new",
        classifier_dropout_prob=0.0,
        num_labels=len(labels),
        id2label={i: l for i, l in enumerate(labels)},
        label2id={l: i for i, l in enumerate(labels)},
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=3,
        **tiny,
    )
    model = arch(config)
    randomize_norms(model, torch.Generator().manual_seed(seed))
    model.save_pretrained(folder)
    write_vocab(folder, PROTBERT_VOCAB)
    shared = model.albert.encoder.albert_layer_groups[0].albert_layers[0].attention.dense
    head = {"classifier": "logits"} if arch is AlbertForSequenceClassification else {"mlm": "logits"}
    tensors, records = run_reference(
        DictOut(model), "protbert", folder, [shared] * config.num_hidden_layers, head, SEQUENCES["protbert"]
    )
    save_reference(folder, tensors, records, f"{arch.__name__}, embedding_size 8, 3 layers sharing one group")


ESMC_VOCAB = ["<cls>", "<pad>", "<eos>", "<unk>"] + list("LAGVSERTIDPKQNFYMHWCXBUZO") + [".", "-", "|", "<mask>"]


class EsmCReference(nn.Module):
    """ESM C from the official `esm` package's own modules (TransformerStack with its
    UnifiedTransformerBlocks, RegressionHead), as `esm.models.esmc.ESMC` assembles them, plus a
    mean-pooled linear classifier. Attention probabilities, which the official code never forms
    (scaled_dot_product_attention), are recomputed from each block's own q/k path."""

    def __init__(self, d_model, n_heads, n_layers, classes):
        super().__init__()
        from esm.layers.regression_head import RegressionHead
        from esm.layers.transformer_stack import TransformerStack

        self.embed = nn.Embedding(64, d_model)
        self.transformer = TransformerStack(d_model, n_heads, None, n_layers, n_layers_geom=0, use_flash_attn=False)
        self.sequence_head = RegressionHead(d_model, 64)
        self.classifier = nn.Linear(d_model, classes)

    def forward(self, input_ids, attention_mask=None, output_attentions=False, output_hidden_states=False):
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        x = self.embed(input_ids)
        attentions = []
        hooks = []
        for block in self.transformer.blocks:
            attn = block.attn

            def probs(m, i, o, attn=attn):
                q, k, _ = torch.chunk(o, 3, dim=-1)
                q, k = attn._apply_rotary(attn.q_ln(q), attn.k_ln(k))
                q = q.unflatten(-1, (attn.n_heads, attn.d_head)).transpose(1, 2)
                k = k.unflatten(-1, (attn.n_heads, attn.d_head)).transpose(1, 2)
                attentions.append(torch.softmax(q @ k.transpose(-1, -2) / attn.d_head**0.5, dim=-1))

            hooks.append(attn.layernorm_qkv.register_forward_hook(probs))
        try:
            last, _, hiddens = self.transformer(x, sequence_id=mask.bool())
        finally:
            for h in hooks:
                h.remove()
        pooled = (last * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return {
            "mlm": self.sequence_head(last),
            "classifier": self.classifier(pooled),
            "attentions": attentions,
            # protscope's convention (as HF's for pre-LN models): embeddings, every block's
            # output, the last one after the final norm.
            "hidden_states": [x] + hiddens[:-1] + [last],
        }


def build_esmc(seed):
    torch.manual_seed(seed)
    folder = os.path.join(FIXTURES, "models", "esmc_tiny")
    os.makedirs(folder, exist_ok=True)
    labels = ["cytoplasm", "membrane"]
    model = EsmCReference(d_model=16, n_heads=4, n_layers=2, classes=len(labels))
    randomize_norms(model, torch.Generator().manual_seed(seed))
    model.eval()
    save_file(state_dict_contiguous(model), os.path.join(folder, "model.safetensors"))
    config = {
        "model_type": "esmc",
        "hidden_size": 16,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "vocab_size": 64,
        "num_labels": len(labels),
        "id2label": {str(i): l for i, l in enumerate(labels)},
        "pad_token_id": ESMC_VOCAB.index("<pad>"),
    }
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    write_vocab(folder, ESMC_VOCAB)
    out_proj = [block.attn.out_proj for block in model.transformer.blocks]
    tensors, records = run_reference(
        model, "esm", folder, out_proj, {"mlm": "mlm", "classifier": "classifier"}, SEQUENCES["esm"]
    )
    save_reference(
        folder, tensors, records,
        "ESM C from the official esm package's TransformerStack/RegressionHead (d 16, 4 heads, 2 layers, "
        "SwiGLU 2x48, qk LayerNorm, residual scaling sqrt(2/36)) + mean-pooled linear classifier",
    )


PROTT5_PIECES = ["<pad>", "</s>", "<unk>"] + ["\u2581" + a for a in "ALGVSREDTIPKFQNYMHWCXBOUZ"]


def write_spiece(folder):
    """A SentencePiece unigram model whose pieces are ProtT5's (`<pad>`, `</s>`, `<unk>`, then
    `▁A`, `▁L`, …): HF's T5Tokenizer reads it as it reads ProtT5's spiece.model."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    model = pb.ModelProto()
    model.trainer_spec.model_type = pb.TrainerSpec.UNIGRAM
    model.trainer_spec.vocab_size = len(PROTT5_PIECES)
    model.trainer_spec.pad_id, model.trainer_spec.eos_id = 0, 1
    model.trainer_spec.unk_id, model.trainer_spec.bos_id = 2, -1
    model.normalizer_spec.name = "identity"
    model.normalizer_spec.add_dummy_prefix = True
    model.normalizer_spec.remove_extra_whitespaces = True
    kinds = {"<pad>": pb.ModelProto.SentencePiece.CONTROL, "</s>": pb.ModelProto.SentencePiece.CONTROL,
             "<unk>": pb.ModelProto.SentencePiece.UNKNOWN}
    for i, piece in enumerate(PROTT5_PIECES):
        entry = model.pieces.add()
        entry.piece = piece
        entry.score = 0.0 if piece in kinds else -1.0 - i * 0.01
        entry.type = kinds.get(piece, pb.ModelProto.SentencePiece.NORMAL)
    with open(os.path.join(folder, "spiece.model"), "wb") as f:
        f.write(model.SerializeToString())


class T5MeanPoolClassifier(nn.Module):
    """T5EncoderModel + a linear layer on the mean of the last hidden state over the attention
    mask: how ProtT5 embeddings are fine-tuned for per-protein tasks."""

    def __init__(self, config, classes):
        super().__init__()
        from transformers import T5EncoderModel

        self.encoder_model = T5EncoderModel(config)
        self.classifier = nn.Linear(config.d_model, classes)

    def forward(self, input_ids, attention_mask=None, output_attentions=False, output_hidden_states=False):
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        out = self.encoder_model(input_ids, attention_mask=mask, output_attentions=output_attentions,
                                 output_hidden_states=output_hidden_states)
        last = out.last_hidden_state
        pooled = (last * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return {"classifier": self.classifier(pooled), "attentions": out.attentions, "hidden_states": out.hidden_states}


def build_t5(name, feed_forward_proj, tokenizer_json, seed):
    """T5 encoders with context width 4 heads x 8 = 32 != d_model 16 and 8 relative-position
    buckets (so that log-spaced buckets occur in short sequences)."""
    from transformers import T5Config, T5Tokenizer

    torch.manual_seed(seed)
    folder = os.path.join(FIXTURES, "models", name)
    os.makedirs(folder, exist_ok=True)
    for stale in ("spiece.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if os.path.exists(os.path.join(folder, stale)):
            os.remove(os.path.join(folder, stale))
    write_spiece(folder)
    # As users load ProtT5's folder (T5Tokenizer(vocab_file=...) misreads the pieces in
    # transformers 5); 100 sentinels <extra_id_N> follow the pieces.
    tok = T5Tokenizer.from_pretrained(folder)
    labels = ["soluble", "insoluble"]
    config = T5Config(
        vocab_size=len(tok), d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, relative_attention_max_distance=20,
        feed_forward_proj=feed_forward_proj, dropout_rate=0.0, layer_norm_epsilon=1e-6,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, initializer_factor=3.0,
        num_labels=len(labels), id2label={i: l for i, l in enumerate(labels)},
        label2id={l: i for i, l in enumerate(labels)},
    )
    model = T5MeanPoolClassifier(config, len(labels))
    randomize_norms(model.encoder_model, torch.Generator().manual_seed(seed))
    model.eval()
    state = {k.removeprefix("encoder_model."): v for k, v in state_dict_contiguous(model).items()}
    save_file(state, os.path.join(folder, "model.safetensors"))
    cfg = config.to_dict()
    cfg["architectures"] = ["T5EncoderModel"]
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    if tokenizer_json:
        tok.save_pretrained(folder)  # tokenizer.json (fast) beside spiece.model
        os.remove(os.path.join(folder, "spiece.model"))
    sequences = [(sid, seq) for sid, seq in SEQUENCES["protbert"]]
    tensors, records = {}, []
    layers = [block.layer[0].SelfAttention.o for block in model.encoder_model.encoder.block]
    for idx, (sid, seq) in enumerate(sequences):
        text = " ".join(re.sub(r"[UZOB]", "X", seq))
        ids = tok(text)["input_ids"]
        assert len(ids) == len(seq) + 1 and ids[-1] == 1, ids
        store, hooks = capture_contexts(model, layers)
        with torch.no_grad():
            out = model(torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
        for h in hooks:
            h.remove()
        key = f"s{idx}"
        tensors[f"{key}.attentions"] = torch.stack([a[0] for a in out["attentions"]]).contiguous()
        tensors[f"{key}.hidden_states"] = torch.stack([h[0] for h in out["hidden_states"]]).contiguous()
        tensors[f"{key}.contexts"] = torch.stack([c[0] for c in store]).contiguous()
        tensors[f"{key}.logits.classifier"] = out["classifier"][0].contiguous()
        records.append({"id": sid, "sequence": seq, "input_ids": ids})
    save_reference(
        folder, tensors, records,
        f"T5EncoderModel ({feed_forward_proj}, d_model 16, 4 heads x d_kv 8, 8 buckets) + mean-pooled classifier; "
        f"token ids from HF T5Tokenizer ({'tokenizer.json' if tokenizer_json else 'spiece.model'})",
    )


XLNET_PIECES = ["<unk>", "<s>", "</s>", "<cls>", "<sep>", "<pad>", "<mask>", "<eod>", "<eop>"] + [
    "\u2581" + a for a in "ALGVSREDTIPKFQNYMHWCXBOUZ"
]


def write_unigram_spiece(folder, pieces, special_ids, controls):
    """A SentencePiece unigram model with `pieces` in order: `<unk>` UNKNOWN, `controls` CONTROL,
    the rest NORMAL; `special_ids` sets the trainer's unk/bos/eos/pad ids (-1: none)."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    model = pb.ModelProto()
    model.trainer_spec.model_type = pb.TrainerSpec.UNIGRAM
    model.trainer_spec.vocab_size = len(pieces)
    for name, value in special_ids.items():
        setattr(model.trainer_spec, name, value)
    model.normalizer_spec.name = "identity"
    model.normalizer_spec.add_dummy_prefix = True
    model.normalizer_spec.remove_extra_whitespaces = True
    for i, piece in enumerate(pieces):
        entry = model.pieces.add()
        entry.piece = piece
        if piece == "<unk>":
            entry.type, entry.score = pb.ModelProto.SentencePiece.UNKNOWN, 0.0
        elif piece in controls:
            entry.type, entry.score = pb.ModelProto.SentencePiece.CONTROL, 0.0
        else:
            entry.type, entry.score = pb.ModelProto.SentencePiece.NORMAL, -1.0 - i * 0.01
    with open(os.path.join(folder, "spiece.model"), "wb") as f:
        f.write(model.SerializeToString())


def write_xlnet_spiece(folder):
    """ProtXLNet-style SentencePiece model: XLNet's control symbols, then residue pieces `▁A`…"""
    write_unigram_spiece(folder, XLNET_PIECES, {"unk_id": 0, "bos_id": 1, "eos_id": 2, "pad_id": 5},
                         [p for p in XLNET_PIECES if p.startswith("<") and p != "<unk>"])


def install_xlnet_context_probes(model):
    """XLNet forms the per-head context (attn_vec) inside XLNetRelativeAttention.forward, with no
    module around it. Route it through an nn.Identity per layer (`rel_attn.ctx_probe`, shaped
    (B, T, heads·head_size) as protscope's contexts) so hooks can read it and its gradient."""
    from transformers.models.xlnet import modeling_xlnet

    cls = modeling_xlnet.XLNetRelativeAttention
    if not hasattr(cls, "_protscope_post_attention"):
        cls._protscope_post_attention = cls.post_attention

        def post_attention(self, h, attn_vec, residual=True):
            i, b, n, d = attn_vec.shape
            ctx = attn_vec.permute(1, 0, 2, 3).reshape(b, i, n * d)
            if hasattr(self, "ctx_probe"):
                ctx = self.ctx_probe(ctx)
            return cls._protscope_post_attention(self, h, ctx.reshape(b, i, n, d).permute(1, 0, 2, 3), residual)

        cls.post_attention = post_attention
    for layer in model.transformer.layer:
        layer.rel_attn.ctx_probe = nn.Identity()
    return [layer.rel_attn.ctx_probe for layer in model.transformer.layer]


def xlnet_token_types(input_ids):
    """What HF's XLNet tokenizer gives one sequence: segment 0, and 2 for the final <cls>."""
    types = torch.zeros_like(input_ids)
    types[:, -1] = 2
    return types


class XLNetWithSegments(nn.Module):
    """XLNetForSequenceClassification called as `model(**tokenizer(text))` calls it: with the
    tokenizer's token_type_ids."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, **kw):
        return self.model(input_ids, token_type_ids=xlnet_token_types(input_ids), **kw)


def build_xlnet(seed):
    from transformers import XLNetConfig, XLNetForSequenceClassification, XLNetTokenizer

    torch.manual_seed(seed)
    folder = os.path.join(FIXTURES, "models", "xlnet_cls")
    os.makedirs(folder, exist_ok=True)
    write_xlnet_spiece(folder)
    tok = XLNetTokenizer.from_pretrained(folder)
    labels = ["binder", "non-binder"]
    config = XLNetConfig(
        vocab_size=len(XLNET_PIECES), d_model=16, n_layer=2, n_head=4, d_inner=32, ff_activation="gelu",
        untie_r=True, attn_type="bi", dropout=0.0, summary_last_dropout=0.0, initializer_range=0.3,
        pad_token_id=5, bos_token_id=1, eos_token_id=2, num_labels=len(labels),
        id2label={i: l for i, l in enumerate(labels)}, label2id={l: i for i, l in enumerate(labels)},
    )
    model = XLNetForSequenceClassification(config)
    randomize_norms(model, torch.Generator().manual_seed(seed))
    model.eval()
    model.save_pretrained(folder)
    probes = install_xlnet_context_probes(model)
    tensors, records = {}, []
    for idx, (sid, seq) in enumerate(SEQUENCES["protbert"]):
        enc = tok(" ".join(re.sub(r"[UZOB]", "X", seq)), return_token_type_ids=True)
        ids = enc["input_ids"]
        assert ids[-2:] == [4, 3] and len(ids) == len(seq) + 2, ids
        input_ids = torch.tensor([ids])
        assert enc["token_type_ids"] == xlnet_token_types(input_ids)[0].tolist(), enc["token_type_ids"]
        store, hooks = capture_contexts(model, probes)
        with torch.no_grad():
            out = XLNetWithSegments(model)(input_ids, attention_mask=torch.ones_like(input_ids),
                                           output_attentions=True, output_hidden_states=True)
        for h in hooks:
            h.remove()
        key = f"s{idx}"
        tensors[f"{key}.attentions"] = torch.stack([a[0] for a in out.attentions]).contiguous()
        tensors[f"{key}.hidden_states"] = torch.stack([h[0] for h in out.hidden_states]).contiguous()
        tensors[f"{key}.contexts"] = torch.stack([c[0] for c in store]).contiguous()
        tensors[f"{key}.logits.classifier"] = out.logits[0].contiguous()
        records.append({"id": sid, "sequence": seq, "input_ids": ids})
    save_reference(
        folder, tensors, records,
        "XLNetForSequenceClassification (d 16, 4 heads, 2 layers, bi attention, untie_r), called with the "
        "tokenizer's token_type_ids (<cls> segment 2); contexts = attn_vec routed through an nn.Identity probe",
    )


# Sapiens' fairseq dictionary order: <s> <pad> </s> <unk>, the residues of dict.txt, <mask>.
ROBERTA_VOCAB = ["<s>", "<pad>", "</s>", "<unk>"] + list("ACDEFGHIKLMNPQRSTVWY") + ["<mask>"]
# IgLM's vocab.txt: BERT specials, residues, species and chain tokens.
IGLM_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("ACDEFGHIKLMNPQRSTVWY") + [
    "[CAMEL]", "[HUMAN]", "[MOUSE]", "[RABBIT]", "[RAT]", "[RHESUS]", "[HEAVY]", "[LIGHT]"]
IGLM_PREFIX = ["[HEAVY]", "[HUMAN]"]


def build_roberta(name, arch, seed):
    """RoBERTa with Sapiens' vocabulary and fairseq layout: positions start at padding_idx + 1
    (max_position_embeddings = 64 + 2), one token type; ids as fairseq encodes `<s> residues </s>`."""
    from transformers import RobertaConfig

    torch.manual_seed(seed)
    folder = os.path.join(FIXTURES, "models", name)
    os.makedirs(folder, exist_ok=True)
    labels = ["human", "non-human"]
    config = RobertaConfig(
        vocab_size=len(ROBERTA_VOCAB), type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2,
        layer_norm_eps=1e-5, num_labels=len(labels), id2label={i: l for i, l in enumerate(labels)},
        label2id={l: i for i, l in enumerate(labels)}, **dict(TINY, max_position_embeddings=66),
    )
    model = arch(config)
    randomize_norms(model, torch.Generator().manual_seed(seed))
    model.eval()
    model.save_pretrained(folder)
    write_vocab(folder, ROBERTA_VOCAB)
    head = {"classifier": "logits"} if arch.__name__.endswith("Classification") else {"mlm": "logits"}
    tensors, records = {}, []
    for idx, (sid, seq) in enumerate(SEQUENCES["antiberty"]):
        seq = seq.replace("X", "A")
        ids = [0] + [ROBERTA_VOCAB.index(c) for c in seq] + [2]
        store, hooks = capture_contexts(model, model.roberta.encoder.layer)
        with torch.no_grad():
            out = DictOut(model)(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                 output_attentions=True, output_hidden_states=True)
        for h in hooks:
            h.remove()
        key = f"s{idx}"
        tensors[f"{key}.attentions"] = torch.stack([a[0] for a in out["attentions"]]).contiguous()
        tensors[f"{key}.hidden_states"] = torch.stack([h[0] for h in out["hidden_states"]]).contiguous()
        tensors[f"{key}.contexts"] = torch.stack([c[0] for c in store]).contiguous()
        for hname, attr in head.items():
            tensors[f"{key}.logits.{hname}"] = out[attr][0].detach().contiguous()
        records.append({"id": sid, "sequence": seq, "input_ids": ids})
    save_reference(folder, tensors, records, f"{arch.__name__} (Sapiens vocabulary, positions from padding_idx + 1)")


def build_gpt2(seed):
    """GPT2LMHeadModel with IgLM's vocabulary (d 16, 4 heads, 2 layers, gelu_new, tied LM head);
    sequences read as IgLM scores them: `[HEAVY] [HUMAN] residues [SEP]`. Contexts are the inputs
    of each block's attn.c_proj."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    folder = os.path.join(FIXTURES, "models", "gpt2_lm")
    os.makedirs(folder, exist_ok=True)
    config = GPT2Config(
        vocab_size=len(IGLM_VOCAB), n_embd=16, n_layer=2, n_head=4, n_inner=32, n_positions=64,
        activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        initializer_range=0.3, pad_token_id=0, bos_token_id=2, eos_token_id=3,
    )
    model = GPT2LMHeadModel(config)
    randomize_norms(model, torch.Generator().manual_seed(seed))
    model.eval()
    model.save_pretrained(folder)
    write_vocab(folder, IGLM_VOCAB)
    tensors, records = {}, []
    for idx, (sid, seq) in enumerate(SEQUENCES["antiberty"]):
        seq = seq.replace("X", "A")
        ids = [IGLM_VOCAB.index(t) for t in IGLM_PREFIX + list(seq) + ["[SEP]"]]
        store, hooks = capture_contexts(model, [block.attn.c_proj for block in model.transformer.h])
        with torch.no_grad():
            out = model(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                        output_attentions=True, output_hidden_states=True)
        for h in hooks:
            h.remove()
        key = f"s{idx}"
        tensors[f"{key}.attentions"] = torch.stack([a[0] for a in out.attentions]).contiguous()
        tensors[f"{key}.hidden_states"] = torch.stack([h[0] for h in out.hidden_states]).contiguous()
        tensors[f"{key}.contexts"] = torch.stack([c[0] for c in store]).contiguous()
        tensors[f"{key}.logits.lm"] = out.logits[0].contiguous()
        records.append({"id": sid, "sequence": seq, "input_ids": ids})
    save_reference(folder, tensors, records,
                   "GPT2LMHeadModel (IgLM vocabulary, d 16, 4 heads, 2 layers, gelu_new, tied LM head); "
                   "ids = [HEAVY] [HUMAN] residues [SEP]")
    with open(os.path.join(folder, "reference.json")) as f:
        ref = json.load(f)
    ref["prefix"] = " ".join(IGLM_PREFIX)
    with open(os.path.join(folder, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)


BUILDERS = {
    "bert_cls": lambda: build_bert_classifier("bert_cls", multi_label=False, safetensors=True, seed=1),
    "bert_multilabel": lambda: build_bert_classifier("bert_multilabel", multi_label=True, safetensors=False, seed=2),
    "bert_mlm": lambda: build_bert_mlm(seed=3),
    "esm_cls": lambda: build_esm("esm_cls", EsmForSequenceClassification, seed=4, shard=False),
    "esm_mlm": lambda: build_esm("esm_mlm", EsmForMaskedLM, seed=5, shard=True),
    "antiberty_tiny": lambda: build_antiberty_tiny(seed=6),
    "albert_cls": lambda: build_albert("albert_cls", AlbertForSequenceClassification, seed=7),
    "albert_mlm": lambda: build_albert("albert_mlm", AlbertForMaskedLM, seed=8),
    "esmc_tiny": lambda: build_esmc(seed=9),
    "t5_gated": lambda: build_t5("t5_gated", "gated-gelu", tokenizer_json=False, seed=10),
    "t5_relu": lambda: build_t5("t5_relu", "relu", tokenizer_json=True, seed=11),
    "xlnet_cls": lambda: build_xlnet(seed=12),
    "roberta_mlm": lambda: build_roberta("roberta_mlm", __import__("transformers").RobertaForMaskedLM, seed=13),
    "roberta_cls": lambda: build_roberta("roberta_cls", __import__("transformers").RobertaForSequenceClassification, seed=14),
    "gpt2_lm": lambda: build_gpt2(seed=15),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--antiberty", help="folder with real AntiBERTy weights (config.json, pytorch_model.bin, vocab.txt)")
    parser.add_argument("--only", nargs="+", choices=sorted(BUILDERS), help="build these fixtures only")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    for name in args.only or BUILDERS:
        BUILDERS[name]()
    if args.antiberty:
        build_antiberty_real(args.antiberty)
    print("fixtures written under", FIXTURES)


if __name__ == "__main__":
    main()
