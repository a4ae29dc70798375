"""Reference values for ESM's contact-prediction evaluation (tests/fixtures/contacts/).

Reimplements, step for step in torch, `compute_precisions` and `evaluate_prediction` of esm's
`examples/contact_prediction.ipynb` (facebookresearch/esm): the upper triangle at separation
>= minsep, masked pairs at -inf, the top max(L, override_length) by descending argsort, the
cumulative hits gathered at (arange(0.1, 1.1, 0.1) * L).long() - 1 in float32, with
override_length = the defined targets of the first row. Random predictions and targets (some
residues unresolved: -1 rows and columns) for a few lengths; src/stats/contacts.rs is checked
against them by tests/integration/contact_prediction.rs.

    python3 scripts/make_contact_fixtures.py
"""

import json
import os

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "contacts", "precision_cases.json")
RANGES = [("local", 3, 6), ("short", 6, 12), ("medium", 12, 24), ("long", 24, None)]


def precisions(predictions, targets, minsep, maxsep):
    """esm's compute_precisions for one protein (batch of one, no src_lengths)."""
    predictions, targets = predictions.unsqueeze(0), targets.unsqueeze(0)
    override_length = (targets[0, 0] >= 0).sum()
    n = predictions.size(1)
    positions = torch.arange(n)
    separation = (positions.unsqueeze(0) - positions.unsqueeze(1)).unsqueeze(0)
    valid = (separation >= minsep) & (targets >= 0)
    if maxsep is not None:
        valid &= separation < maxsep
    predictions = predictions.masked_fill(~valid, float("-inf"))
    rows, cols = np.triu_indices(n, minsep)
    upper_predictions = predictions[:, rows, cols]
    upper_targets = targets[:, rows, cols]
    top = max(n, int(override_length))
    order = upper_predictions.argsort(dim=-1, descending=True)[:, :top]
    hits = upper_targets[torch.arange(1).unsqueeze(1), order]
    if hits.size(1) < top:
        hits = F.pad(hits, [0, top - hits.size(1)])
    cumulative = hits.type_as(predictions).cumsum(-1)
    lengths = override_length * torch.ones((1, 1), dtype=torch.long)
    at = (torch.arange(0.1, 1.1, 0.1).unsqueeze(0) * lengths).type(torch.long) - 1
    binned = cumulative.gather(1, at) / (at + 1).type_as(cumulative)
    return {"AUC": binned.mean(-1).item(), "P@L": binned[:, 9].item(), "P@L2": binned[:, 4].item(),
            "P@L5": binned[:, 1].item()}


def case(rng, n, unresolved):
    coords = rng.normal(size=(n, 3)).cumsum(0) * 1.5
    distance = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    targets = (distance < 8.0).astype(np.int64)
    for r in unresolved:
        targets[r, :] = -1
        targets[:, r] = -1
    # Predictions that know something: closer pairs score higher, plus noise; symmetric.
    logits = -distance / 4.0 + rng.normal(scale=1.0, size=(n, n))
    logits = (logits + logits.T) / 2
    predictions = (1 / (1 + np.exp(-logits))).astype(np.float32)
    p, t = torch.from_numpy(predictions), torch.from_numpy(targets)
    results = {name: precisions(p, t, lo, hi) for name, lo, hi in RANGES}
    return {"n": n, "predictions": predictions.flatten().tolist(), "targets": targets.flatten().tolist(),
            "unresolved": unresolved, "results": results}


def main():
    rng = np.random.default_rng(21)
    cases = [case(rng, 12, []), case(rng, 30, [5]), case(rng, 64, [0 + 7, 40, 41]), case(rng, 97, [])]
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"note": "esm compute_precisions / evaluate_prediction, reimplemented in torch", "cases": cases}, f)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
