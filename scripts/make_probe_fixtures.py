"""Parity fixture for protscope's probing classifier (stats::classifier, used by `probe`):
scikit-learn's StandardScaler + LogisticRegression(C) (lbfgs; multinomial for 3 classes,
binary for 2) fitted to convergence on synthetic correlated features split into train and
test, with the test probabilities, accuracy, one-vs-all F1, macro F1, and provis' pooled
precision at L/20 (protein groups of the test rows).

    python3 -m venv /work/venv-probe && /work/venv-probe/bin/pip install -r scripts/requirements-probe.txt
    /work/venv-probe/bin/python scripts/make_probe_fixtures.py

Writes tests/fixtures/probe/l2_logistic_cases.json.
"""
import json
import pathlib

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.preprocessing import StandardScaler

rng = np.random.default_rng(21)
n, f = 900, 12
shared = rng.normal(size=(n, 1))
x = (0.7 * shared + rng.normal(size=(n, f)) * rng.uniform(0.5, 3.0, size=f) + rng.uniform(-2, 2, size=f)).astype(np.float32)
n_train = 600


def provis_precision_at_k(groups, divisor):
    """precision_at_ks of provis' probing/metrics.py with k = int(round(L / divisor))."""
    top_all = []
    for scores, labels in groups:
        k = int(round(len(scores) / divisor))
        pairs = sorted(zip(scores, labels), reverse=True)[:k]
        top_all.extend(l for _, l in pairs)
    return sum(top_all) / len(top_all)


cases = []
for k, c in [(3, 0.05), (3, 1.0), (2, 0.1), (2, 10.0)]:
    truth = rng.normal(size=(f, k)) * (rng.random((f, k)) < 0.4)
    z = x.astype(np.float64) @ truth * 0.5 + rng.gumbel(size=(n, k))
    y = z.argmax(1)
    scaler = StandardScaler().fit(x[:n_train].astype(np.float64))
    xt = scaler.transform(x[:n_train].astype(np.float64))
    xs = scaler.transform(x[n_train:].astype(np.float64))
    model = LogisticRegression(C=c, tol=1e-12, max_iter=100_000).fit(xt, y[:n_train])
    prob = model.predict_proba(xs)
    pred = prob.argmax(1)
    ytest = y[n_train:]
    case = {
        "num_classes": k,
        "c": c,
        "labels": [int(v) for v in y],
        "coef": model.coef_.ravel().tolist(),
        "intercept": model.intercept_.tolist(),
        "scaler_mean": scaler.mean_.tolist(),
        "scaler_scale": scaler.scale_.tolist(),
        "test_probabilities": prob.ravel().tolist(),
        "test_accuracy": float(accuracy_score(ytest, pred)),
        "test_f1": [float(v) for v in f1_score(ytest, pred, average=None, labels=list(range(k)))],
        "test_macro_f1": float(f1_score(ytest, pred, average="macro")),
        "n_iter": int(model.n_iter_[0]),
    }
    if k == 2:
        # Test rows as proteins of 60 residues; precision at L/20 pools each one's top 3.
        groups = [(prob[i:i + 60, 1].tolist(), ytest[i:i + 60].tolist()) for i in range(0, len(ytest), 60)]
        case["test_precision_at_l20"] = provis_precision_at_k(groups, 20)
    cases.append(case)
    print(k, c, case["test_accuracy"], case["test_macro_f1"], case["n_iter"])

out = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/probe/l2_logistic_cases.json"
out.write_text(
    json.dumps(
        {
            "generator": "scripts/make_probe_fixtures.py",
            "num_features": f,
            "num_train": n_train,
            "x": [float(v) for v in x.ravel()],
            "cases": cases,
        }
    )
)
print("wrote", out)
