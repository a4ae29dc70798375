"""AttnLRP reference numbers from lxt 2.1 for protscope's one-pass AttnLRP.

Runs in its own venv (lxt 2.1 patches transformers 4.52.4's BERT; see
scripts/requirements-lxt.txt):

    python3 -m venv /work/venv-lxt
    /work/venv-lxt/bin/pip install --no-deps -r scripts/requirements-lxt.txt   # + torch, numpy, safetensors
    /work/venv-lxt/bin/python scripts/make_lrp_fixtures.py

Writes tests/fixtures/attnlrp/reference.json and reference.safetensors (float64, keys
"<case>.<quantity>"). Cases: the sequences of tests/fixtures/attribution_methods/reference.json
(their token ids are reused) on the tiny BERT classifier, AntiBERTy (BERT with pooler and
species head) and the ESM-2 classifier, models in float64.

How the relevance is computed (lxt's efficient AttnLRP, Gradient x Input):
  * BERT and AntiBERTy: `lxt.efficient.monkey_patch(transformers.models.bert.modeling_bert)`,
    lxt's own patch: LayerNorm with its std detached, dropout off, BertSelfAttention's scores and
    context with their gradient halved (divide_gradient), the GELU of BertIntermediate and the
    pooler's tanh with the identity rule (identity_rule_implicit), eager attention.
  * ESM-2: lxt ships no ESM patch; the same lxt rule functions are applied to transformers'
    ESM modules here: lxt's layer_norm_forward on nn.LayerNorm, divide_gradient(., 2) on both
    torch.matmul products inside EsmSelfAttention (q k^T and probs v; the only matmuls there),
    identity_rule_implicit on EsmIntermediate's gelu and EsmClassificationHead's tanh.
  * Relevance is taken at the embedding module's OUTPUT (what protscope calls the embedding
    level): a forward hook replaces it by a leaf tensor; R[t] = sum_d e[t, d] * grad[t, d] after
    one backward pass of the target logit. Per head: every layer's attention.self output[0] (the
    context before the output projection) keeps its gradient; R[l, h, t] = sum_{d in head h}
    ctx[t, d] * grad[t, d].
  * One torchvision import of lxt (its ViT patch module, unused here) is satisfied by a stub
    module, as torchvision is not installed in this venv.
"""

import importlib.machinery
import json
import os
import sys
import types

import numpy as np
import torch


def stub(name):
    m = types.ModuleType(name)
    m.__spec__ = importlib.machinery.ModuleSpec(name, None)
    sys.modules[name] = m
    return m


# lxt.efficient.models imports torchvision's vision_transformer for its ViT map (unused here).
_tv, _tvm, _vt = stub("torchvision"), stub("torchvision.models"), stub("torchvision.models.vision_transformer")
_vt.nn = torch.nn
_tvm.vision_transformer = _vt
_tv.models = _tvm

import transformers  # noqa: E402
from lxt.efficient import monkey_patch  # noqa: E402
from lxt.efficient.patches import layer_norm_forward, patch_method  # noqa: E402
from lxt.efficient.rules import divide_gradient, identity_rule_implicit  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers.models.bert import modeling_bert  # noqa: E402
from transformers.models.esm import modeling_esm  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
OUT_DIR = os.path.join(FIXTURES, "attnlrp")
MODELS = {"bert_cls": ("classifier", 1), "antiberty_tiny": ("species", 2), "esm_cls": ("classifier", 0)}

monkey_patch(modeling_bert)
patch_method(layer_norm_forward, torch.nn.LayerNorm)


def esm_attention_forward(original):
    def forward(self, *args, **kwargs):
        matmul = torch.matmul
        torch.matmul = lambda a, b: divide_gradient(matmul(a, b), 2)
        try:
            return original(self, *args, **kwargs)
        finally:
            torch.matmul = matmul

    return forward


modeling_esm.EsmSelfAttention.forward = esm_attention_forward(modeling_esm.EsmSelfAttention.forward)
modeling_esm.EsmIntermediate.forward = lambda self, x: identity_rule_implicit(modeling_esm.gelu, self.dense(x))


def esm_head_forward(self, features, **kwargs):
    x = self.dense(features[:, 0, :])
    return self.out_proj(identity_rule_implicit(torch.tanh, x))


modeling_esm.EsmClassificationHead.forward = esm_head_forward


class AntiBERTy(torch.nn.Module):
    """BertModel with pooler and AntiBERTy's species head (the fixture folder's weights)."""

    def __init__(self, config):
        super().__init__()
        self.bert = modeling_bert.BertModel(config)
        self.species = torch.nn.Linear(config.hidden_size, 6)

    def forward(self, input_ids, attention_mask):
        return self.species(self.bert(input_ids, attention_mask=attention_mask)[1])


def load(name):
    folder = os.path.join(FIXTURES, "models", name)
    if name == "bert_cls":
        m = transformers.BertForSequenceClassification.from_pretrained(folder, attn_implementation="eager")
        return m, m.bert.embeddings, [l.attention.self for l in m.bert.encoder.layer], m.config
    if name == "esm_cls":
        # The rotary inv_freq buffers are computed at construction (from_pretrained calls them
        # newly initialised); the logits are checked against the main venv's below.
        m = transformers.EsmForSequenceClassification.from_pretrained(folder, attn_implementation="eager")
        return m, m.esm.embeddings, [l.attention.self for l in m.esm.encoder.layer], m.config
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    config = transformers.BertConfig(**cfg)
    config._attn_implementation = "eager"
    m = AntiBERTy(config)
    state = load_file(os.path.join(folder, "model.safetensors"))
    state = {k.replace("cls.species.", "species."): v for k, v in state.items() if not k.startswith("cls.") or k.startswith("cls.species.")}
    missing, unexpected = m.load_state_dict(state, strict=False)
    assert not [k for k in missing if not k.endswith("position_ids")] and not unexpected, (missing, unexpected)
    return m, m.bert.embeddings, [l.attention.self for l in m.bert.encoder.layer], config


def logits(model, name, ids):
    out = model(ids, attention_mask=torch.ones_like(ids))
    return out if torch.is_tensor(out) else out.logits


def relevance(name, ids, target):
    model, embeddings, selfattn, config = load(name)
    model = model.double().eval()
    ids = torch.tensor([ids])
    leaf = {}

    def replace_embedding(module, inputs, output):
        e = output.detach().requires_grad_(True)
        leaf["e"] = e
        return e

    contexts = []

    def keep_context(module, inputs, output):
        output[0].retain_grad()
        contexts.append(output[0])

    hooks = [embeddings.register_forward_hook(replace_embedding)]
    hooks += [m.register_forward_hook(keep_context) for m in selfattn]
    try:
        y = logits(model, name, ids)[0, target]
        y.backward()
    finally:
        for h in hooks:
            h.remove()
    e = leaf["e"]
    emb = (e * e.grad)[0].sum(-1).detach().numpy()
    heads = config.num_attention_heads
    latent = []
    for c in contexts:
        r = (c * c.grad)[0].detach().numpy()  # (T, H)
        t, h = r.shape
        latent.append(r.reshape(t, heads, h // heads).sum(-1).T)
    with torch.no_grad():
        plain = y.item()
    return emb, np.stack(latent), plain


def main():
    with open(os.path.join(FIXTURES, "attribution_methods", "reference.json")) as f:
        cases = json.load(f)["cases"]
    # The logits of the main reference venv (transformers 5): the older transformers here must
    # load the same models.
    main_ref = load_file(os.path.join(FIXTURES, "attribution_methods", "reference.safetensors"))
    os.makedirs(OUT_DIR, exist_ok=True)
    tensors, records = {}, []
    for c in cases:
        name = c["model"]
        if name not in MODELS:
            continue
        head, target = MODELS[name]
        emb, latent, f_input = relevance(name, c["input_ids"], target)
        expected = main_ref[c["case"] + ".f_input"].item()
        assert abs(f_input - expected) <= 1e-6 * max(1.0, abs(expected)), (c["case"], f_input, expected)
        case = f"{name}.{c['sequence_id']}.{head}.{target}"
        tensors[f"{case}.relevance"] = torch.tensor(emb).contiguous()
        tensors[f"{case}.latent"] = torch.tensor(latent).contiguous()
        tensors[f"{case}.f_input"] = torch.tensor([f_input], dtype=torch.float64)
        records.append({"case": case, "model": name, "sequence_id": c["sequence_id"], "sequence": c["sequence"],
                        "input_ids": c["input_ids"], "head": head, "target": target})
        print(f"{case:45s} T={len(c['input_ids']):2d} F={f_input:+.4f} sum R={emb.sum():+.4f} "
              f"sum latent per layer={np.round(latent.sum(axis=(1, 2)), 4).tolist()}")
    note = (
        "AttnLRP references from scripts/make_lrp_fixtures.py: lxt %s efficient rules (BERT: lxt's own "
        "modeling_bert patch; ESM-2: lxt's rule functions applied to transformers' ESM modules, see the script), "
        "transformers %s, torch %s, float64 models. relevance[t] = sum_d e[t,d] * grad[t,d] at the embedding "
        "module's output; latent[l, h, t] = sum over head h's slice of ctx * grad at layer l's attention.self "
        "output. f_input = the target logit."
        % (__import__("importlib.metadata").metadata.version("lxt"), transformers.__version__, torch.__version__)
    )
    with open(os.path.join(OUT_DIR, "reference.json"), "w") as f:
        json.dump({"note": note, "cases": records}, f, indent=1)
    save_file(tensors, os.path.join(OUT_DIR, "reference.safetensors"))
    print(note)


if __name__ == "__main__":
    main()
