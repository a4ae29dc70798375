"""Parity fixture for protscope's L1 logistic regression (stats::logistic, used by
`contacts-fit`): scikit-learn's LogisticRegression(penalty="l1", solver="saga") fitted to
convergence on synthetic, correlated features (like attention maps: non-negative, skewed,
correlated between heads) at several C.

    python3 -m venv /tmp/skvenv && /tmp/skvenv/bin/pip install -r scripts/requirements-contacts-fit.txt
    /tmp/skvenv/bin/python scripts/make_contact_fit_fixtures.py

Writes tests/fixtures/contacts/l1_logistic_cases.json.
"""
import json
import pathlib

import numpy as np
from sklearn.linear_model import LogisticRegression

rng = np.random.default_rng(2024)
n, f = 1000, 16
shared = rng.gamma(2.0, 0.5, size=(n, 1))
x = (0.6 * shared + rng.gamma(1.5, 0.4, size=(n, f)) - 0.8).astype(np.float32)
truth = np.zeros(f)
truth[[0, 3, 7]] = [1.8, -1.2, 0.9]
z = x.astype(np.float64) @ truth - 1.0
y = rng.random(n) < 1.0 / (1.0 + np.exp(-z))

cases = []
for c in [0.02, 0.15, 1.0]:
    model = LogisticRegression(
        penalty="l1", C=c, solver="saga", tol=1e-12, max_iter=1_000_000, random_state=0
    )
    model.fit(x.astype(np.float64), y)
    w, b = model.coef_[0], model.intercept_[0]
    zz = x.astype(np.float64) @ w + b
    loss = np.sum(np.logaddexp(0.0, zz) - y * zz)
    cases.append(
        {
            "c": c,
            "coef": w.tolist(),
            "intercept": float(b),
            "objective": float(c * loss + np.abs(w).sum()),
            "nonzero": int(np.count_nonzero(w)),
            "n_iter": int(model.n_iter_[0]),
        }
    )
    print(c, cases[-1]["nonzero"], cases[-1]["objective"], cases[-1]["n_iter"])

out = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/contacts/l1_logistic_cases.json"
out.write_text(
    json.dumps(
        {
            "generator": "scripts/make_contact_fit_fixtures.py",
            "num_features": f,
            "x": [float(v) for v in x.ravel()],
            "y": [bool(v) for v in y],
            "cases": cases,
        }
    )
)
print("wrote", out)
