#!/usr/bin/env python3
"""Write the attention-head statistics parity fixture tests/fixtures/heads/expected.json.

A plain re-implementation of the procedure of Vig et al. (2021), "BERTology Meets Biology"
(provis `compute_edge_features.analyze_heads`): for each protein, cut the residues to
max_len - 2, run the model (HF transformers, eager attention), drop the special-token rows and
columns, and for every (from, to) residue pair add the edge value times the feature value to a
per-(layer, head) sum, with Python loops over the pairs as provis has them. Edge values:

- threshold:    1[a >= theta]          (the paper's formula; provis' code keeps a > theta)
- weight:       a
- weight_above: a * 1[a > theta]       (provis' code with --min-attn)

Features: site(j) from tests/fixtures/heads/sites.jsonl, contact(i, j) from a deterministic
synthetic contact map (written into the fixture), and aa_to_X for the 20 amino acids. Also the
amino-acid analysis (pairwise Pearson r across heads of the aa_to_X proportions, and its
Pearson r with BLOSUM62) for the threshold form, as provis' report_aa_correlations.py does.

The model is tests/fixtures/models/bert_cls (BertForSequenceClassification, 2 layers x 4 heads).
Token ids come from BertTokenizer on space-separated residues. Thresholds are checked to be at
least MARGIN (2e-6) away from every attention weight, so that float differences between implementations
cannot move an edge across them.

Usage: python scripts/make_heads_fixtures.py
(sites.jsonl is rebuilt from ../shared/data/provis/binding_sites_valid.jsonl when that exists and
the fixture does not.)
"""

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.stats import pearsonr
from transformers import BertForSequenceClassification, BertTokenizer

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "tests" / "fixtures" / "models" / "bert_cls"
OUT = ROOT / "tests" / "fixtures" / "heads"
IDS = ["3g9y.A", "3cji.D", "4zbj.D", "5n41.A", "4h4n.A", "4i6r.A", "1j34.C"]
MAX_LEN = 40
# Candidate thresholds; the first three far enough from every weight are used.
THETA_CANDIDATES = [0.05, 0.06, 0.1, 0.12, 0.3, 0.35, 0.4]
MARGIN = 2e-6
MIN_TOTAL = 5.0
AMINO_ACIDS = "ARNDCQEGHILKMFPSTWYV"

# NCBI BLAST BLOSUM62 (Henikoff & Henikoff 1992), 20 standard residues.
BLOSUM62_TEXT = """
   A  R  N  D  C  Q  E  G  H  I  L  K  M  F  P  S  T  W  Y  V
A  4 -1 -2 -2  0 -1 -1  0 -2 -1 -1 -1 -1 -2 -1  1  0 -3 -2  0
R -1  5  0 -2 -3  1  0 -2  0 -3 -2  2 -1 -3 -2 -1 -1 -3 -2 -3
N -2  0  6  1 -3  0  0  0  1 -3 -3  0 -2 -3 -2  1  0 -4 -2 -3
D -2 -2  1  6 -3  0  2 -1 -1 -3 -4 -1 -3 -3 -1  0 -1 -4 -3 -3
C  0 -3 -3 -3  9 -3 -4 -3 -3 -1 -1 -3 -1 -2 -3 -1 -1 -2 -2 -1
Q -1  1  0  0 -3  5  2 -2  0 -3 -2  1  0 -3 -1  0 -1 -2 -1 -2
E -1  0  0  2 -4  2  5 -2  0 -3 -3  1 -2 -3 -1  0 -1 -3 -2 -2
G  0 -2  0 -1 -3 -2 -2  6 -2 -4 -4 -2 -3 -3 -2  0 -2 -2 -3 -3
H -2  0  1 -1 -3  0  0 -2  8 -3 -3 -1 -2 -1 -2 -1 -2 -2  2 -3
I -1 -3 -3 -3 -1 -3 -3 -4 -3  4  2 -3  1  0 -3 -2 -1 -3 -1  3
L -1 -2 -3 -4 -1 -2 -3 -4 -3  2  4 -2  2  0 -3 -2 -1 -2 -1  1
K -1  2  0 -1 -3  1  1 -2 -1 -3 -2  5 -1 -3 -1  0 -1 -3 -2 -2
M -1 -1 -2 -3 -1  0 -2 -3 -2  1  2 -1  5  0 -2 -1 -1 -1 -1  1
F -2 -3 -3 -3 -2 -3 -3 -3 -1  0  0 -3  0  6 -4 -2 -2  1  3 -1
P -1 -2 -2 -1 -3 -1 -1 -2 -2 -3 -3 -1 -2 -4  7 -1 -1 -4 -3 -2
S  1 -1  1  0 -1  0  0  0 -1 -2 -2  0 -1 -2 -1  4  1 -3 -2 -2
T  0 -1  0 -1 -1 -1 -1 -2 -2 -1 -1 -1 -1 -2 -1  1  5 -2 -2  0
W -3 -3 -4 -4 -2 -2 -3 -2 -2 -3 -2 -3 -1  1 -4 -3 -2 11  2 -3
Y -2 -2 -2 -3 -2 -1 -2 -3  2 -1 -1 -2 -1  3 -3 -2 -2  2  7 -1
V  0 -3 -3 -3 -1 -2 -2 -3 -3  3  1 -2  1 -1 -2 -2  0 -3 -1  4
"""


def blosum62():
    lines = [l.split() for l in BLOSUM62_TEXT.strip().splitlines()]
    cols = lines[0]
    return {(row[0], c): int(v) for row in lines[1:] for c, v in zip(cols, row[1:])}


def load_sites():
    path = OUT / "sites.jsonl"
    if not path.exists():
        shared = Path(os.environ.get("PROTSCOPE_SHARED_DATA", ROOT.parent / "shared" / "data"))
        source = shared / "provis" / "binding_sites_valid.jsonl"
        by_id = {}
        for line in source.read_text().splitlines():
            d = json.loads(line)
            by_id[d["id"]] = d
        OUT.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(by_id[i], separators=(",", ":")) + "\n" for i in IDS))
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()]


def synthetic_contacts(n, protein_index):
    """Symmetric contact map with |i - j| >= 2 and a few unresolved residues (known = False)."""
    contact = np.zeros((n, n), dtype=bool)
    for i in range(n):
        for j in range(n):
            if abs(i - j) >= 2 and (i * j + protein_index) % 5 == 0:
                contact[i, j] = True
    unresolved = [r for r in range(n) if (r + protein_index) % 11 == 3]
    known = np.ones((n, n), dtype=bool)
    for i in range(n):
        for j in range(n):
            if abs(i - j) < 2 or i in unresolved or j in unresolved:
                known[i, j] = False
    contact &= known
    return contact, known, unresolved


def edge_value(a, form, theta):
    if form == "threshold":
        return (a >= theta).double()
    if form == "weight":
        return a.double()
    return a.double() * (a > theta).double()


def main():
    torch.manual_seed(0)
    tok = BertTokenizer(vocab=str(MODEL / "vocab.txt"), do_lower_case=False)
    assert tok.vocab_size > 5, "vocabulary not loaded"
    model = BertForSequenceClassification.from_pretrained(str(MODEL))
    model.set_attn_implementation("eager")
    model.eval()
    items = load_sites()
    n_layers, n_heads = model.config.num_hidden_layers, model.config.num_attention_heads

    proteins = []
    attentions = []
    for index, item in enumerate(items):
        residues = item["sequence"][: MAX_LEN - 2]
        ids = tok(" ".join(residues))["input_ids"]
        assert len(ids) == len(residues) + 2, (item["id"], len(ids))
        with torch.no_grad():
            out = model(torch.tensor([ids]), output_attentions=True)
        # (layers, heads, n, n) without the special tokens.
        attn = torch.stack([a[0, :, 1:-1, 1:-1] for a in out.attentions])
        attentions.append(attn)
        n = len(residues)
        site = [1 if (p + 1) in set(item["sites"]) else 0 for p in range(n)]
        contact, known, unresolved = synthetic_contacts(n, index)
        proteins.append(
            {
                "id": item["id"],
                "residues": residues,
                "site": site,
                "contact": contact,
                "known": known,
                "unresolved": unresolved,
            }
        )

    all_weights = torch.cat([a.flatten() for a in attentions]).double().numpy()
    margins = {}
    for t in THETA_CANDIDATES:
        margin = float(np.min(np.abs(all_weights - np.float32(t))))
        if margin > MARGIN and len(margins) < 3:
            margins[str(t)] = margin
    THETAS = [float(t) for t in margins]
    assert len(THETAS) == 3, margins

    forms = {}
    for form, theta in [("threshold", t) for t in THETAS] + [("weight", None)] + [
        ("weight_above", t) for t in THETAS
    ]:
        total = torch.zeros((n_layers, n_heads), dtype=torch.double)
        sums = {}
        for p, attn in zip(proteins, attentions):
            edges = edge_value(attn, form, theta if theta is None else np.float32(theta).item())
            total += edges.sum((2, 3))
            n = len(p["residues"])
            # The (i, j) loops of provis' analyze_heads.
            for to_index in range(n):
                for from_index in range(n):
                    values = {}
                    if p["site"][to_index] == 1:
                        values["site"] = 1
                    if p["contact"][from_index, to_index]:
                        values["contact"] = 1
                    values[f"aa_to_{p['residues'][to_index]}"] = 1
                    for name, v in values.items():
                        if name not in sums:
                            sums[name] = torch.zeros((n_layers, n_heads), dtype=torch.double)
                        sums[name] += edges[:, :, from_index, to_index] * v
        key = form if theta is None else f"{form}_{theta}"
        forms[key] = {
            "form": form,
            "theta": theta,
            "total": total.flatten().tolist(),
            "sums": {
                name: v.flatten().tolist()
                for name, v in sums.items()
                if name in ("site", "contact") or name[len("aa_to_") :] in AMINO_ACIDS
            },
        }

    # Backgrounds.
    site_pos = sum(sum(p["site"]) for p in proteins)
    residues_total = sum(len(p["residues"]) for p in proteins)
    contact_pos = sum(int(p["contact"].sum()) for p in proteins)
    known_total = sum(int(p["known"].sum()) for p in proteins)
    background = {
        "site": site_pos / residues_total,
        "contact": contact_pos / known_total,
    }
    for aa in AMINO_ACIDS:
        background[f"aa_to_{aa}"] = (
            sum(p["residues"].count(aa) for p in proteins) / residues_total
        )

    # Amino-acid analysis on the threshold form at the middle theta.
    f = forms[f"threshold_{THETAS[1]}"]
    total = np.array(f["total"])
    include = total >= MIN_TOTAL
    vectors = {}
    for aa in AMINO_ACIDS:
        s = np.array(f["sums"].get(f"aa_to_{aa}", [0.0] * len(total)))
        vectors[aa] = (s / np.where(include, total, 1.0))[include]
    blosum = blosum62()
    aas = sorted(AMINO_ACIDS)
    pairs = []
    for i, a in enumerate(aas):
        for b in aas[i + 1 :]:
            x, y = vectors[a], vectors[b]
            if np.ptp(x) == 0 or np.ptp(y) == 0:
                r = float("nan")
            else:
                r = float(pearsonr(x, y)[0])
            pairs.append({"aa1": a, "aa2": b, "r": r, "blosum62": blosum[(a, b)]})
    defined = [p for p in pairs if not np.isnan(p["r"])]
    blosum_r = float(pearsonr([p["r"] for p in defined], [p["blosum62"] for p in defined])[0])

    expected = {
        "note": "written by scripts/make_heads_fixtures.py; do not edit",
        "model": "tests/fixtures/models/bert_cls",
        "max_len": MAX_LEN,
        "num_layers": n_layers,
        "num_heads": n_heads,
        "min_total": MIN_TOTAL,
        "threshold_margins": margins,
        "proteins": [
            {
                "id": p["id"],
                "residues": p["residues"],
                "contacts": [[int(i), int(j)] for i, j in zip(*np.nonzero(p["contact"]))],
                "unresolved": p["unresolved"],
                "min_separation": 2,
            }
            for p in proteins
        ],
        "background": background,
        "forms": forms,
        "aa_analysis": {
            "theta": THETAS[1],
            "heads_used": int(include.sum()),
            "pairs": [{**p, "r": repr(p["r"])} for p in pairs],
            "blosum_r": blosum_r,
        },
    }
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print("edges per threshold:", {k: sum(v["total"]) for k, v in forms.items()})
    print("blosum_r", blosum_r, "heads", int(include.sum()))


if __name__ == "__main__":
    sys.exit(main())
