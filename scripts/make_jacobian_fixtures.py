"""Reference couplings from the categorical Jacobian (tests/fixtures/contacts/jacobian_cases.json).

The procedure of Zhang et al. 2024 ("Protein language models learn evolutionary statistics of
interacting sequence motifs") as their reference notebook runs it on ESM-2, through HF
transformers: the masked-LM logits of the residues over the 20 amino acids; every residue
substituted by each amino acid in turn (20 sequences per residue); J = logits(substituted) −
logits(wild type), shape (L, 20, L, 20); then `get_contacts`: J centred over each of its four
axes in turn, the Frobenius norm of each (i, j) block over the two amino-acid axes, diagonal
zeroed, APC (F − F·1 1ᵀF / 1ᵀF1) with the diagonal zeroed again, and (C + Cᵀ)/2. Everything
after the logits runs in float64 as numpy does there.

Models: the tiny ESM-2 (`pub_esm2`) and BERT (`bert_mlm`) fixtures; the first two reference
sequences of each, with the token ids recorded there.

    python3 scripts/make_jacobian_fixtures.py
"""

import json
import os

import numpy as np
import torch
from transformers import AutoModelForMaskedLM

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MODELS = os.path.join(ROOT, "tests", "fixtures", "models")
OUT = os.path.join(ROOT, "tests", "fixtures", "contacts", "jacobian_cases.json")
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"


def vocabulary(folder):
    with open(os.path.join(folder, "vocab.txt")) as f:
        return {token.strip(): i for i, token in enumerate(f)}


def categorical_jacobian(model, vocab, input_ids, n):
    ids = torch.tensor([input_ids])
    aa = torch.tensor([vocab[a] for a in AMINO_ACIDS])
    assert ids.shape[1] == n + 2, "one special token on each side"

    def logits(x):
        with torch.no_grad():
            return model(input_ids=x).logits[:, 1 : n + 1][..., aa].double().numpy()

    wild_type = logits(ids)[0]
    tiled = ids.repeat(len(AMINO_ACIDS), 1)
    jacobian = np.zeros((n, len(AMINO_ACIDS), n, len(AMINO_ACIDS)))
    for i in range(n):
        substituted = tiled.clone()
        substituted[:, i + 1] = aa
        jacobian[i] = logits(substituted)
    return jacobian - wild_type


def couplings(jacobian):
    j = jacobian.copy()
    for axis in range(4):
        j -= j.mean(axis, keepdims=True)
    norms = np.sqrt(np.square(j).sum((1, 3)))
    np.fill_diagonal(norms, 0)
    corrected = norms - norms.sum(0, keepdims=True) * norms.sum(1, keepdims=True) / norms.sum()
    np.fill_diagonal(corrected, 0)
    return (corrected + corrected.T) / 2


def main():
    cases = []
    for name in ["pub_esm2", "bert_mlm"]:
        folder = os.path.join(MODELS, name)
        model = AutoModelForMaskedLM.from_pretrained(folder).eval()
        vocab = vocabulary(folder)
        with open(os.path.join(folder, "reference.json")) as f:
            sequences = json.load(f)["sequences"]
        # The token ids the model fixtures were made with (the tokenizers are tested there).
        for record in sequences[:2]:
            sequence = record["sequence"]
            jacobian = categorical_jacobian(model, vocab, record["input_ids"], len(sequence))
            cases.append(
                {
                    "model": name,
                    "sequence": sequence,
                    # A few raw entries, to check J itself: [i, a, j, b, value].
                    "jacobian_entries": [
                        [i, a, j, b, float(jacobian[i, a, j, b])]
                        for (i, a, j, b) in [(0, 0, 1, 3), (2, 5, 0, 19), (3, 10, 3, 10)]
                        if i < len(sequence) and j < len(sequence)
                    ],
                    "couplings": couplings(jacobian).tolist(),
                }
            )
    with open(OUT, "w") as f:
        json.dump({"note": __doc__.split("\n\n")[0], "cases": cases}, f)
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
