"""GPU parity and speed check of a CUDA build of protscope (called by scripts/gpu-check.sh).

Parity: every command runs with --device cuda and --device cpu on the same inputs; the two output
tables must have the same rows in the same order, identical text/integer columns and float
columns within --tolerance relative to the column's largest magnitude.
Speed: integrated gradients on the GPU, protscope against Captum on the same GPU
(scripts/bench_captum.py), equal steps, Gauss-Legendre nodes, pad baseline, all steps in one batch.
Writes OUT/gpu-check.json and OUT/gpu-check.md; exits non-zero when a parity check fails.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TINY = ["bert_cls", "esm_cls", "antiberty_tiny"]


def run(cmd, log, env=None):
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    seconds = time.perf_counter() - t0
    log.write("$ " + " ".join(cmd) + f"\n({seconds:.2f} s, exit {proc.returncode})\n{proc.stderr[-4000:]}\n")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return seconds, proc.stdout


def read_table(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def is_float(text):
    return any(c in text for c in ".eE") or text in ("NaN", "inf", "-inf")


def compare(cuda_csv, cpu_csv):
    """Largest difference per float column, relative to that column's largest |value|."""
    header_a, rows_a = read_table(cuda_csv)
    header_b, rows_b = read_table(cpu_csv)
    if header_a != header_b:
        return {"error": f"columns differ: {header_a} vs {header_b}"}
    if len(rows_a) != len(rows_b):
        return {"error": f"{len(rows_a)} rows on cuda vs {len(rows_b)} on cpu"}
    worst, float_cols = {}, set()
    for ra, rb in zip(rows_a, rows_b):
        for i, (a, b) in enumerate(zip(ra, rb)):
            if a == b:
                continue
            if not (is_float(a) or is_float(b)):
                return {"error": f"column {header_a[i]}: {a!r} on cuda vs {b!r} on cpu"}
            float_cols.add(i)
    result = {"rows": len(rows_a)}
    # delta = Σ relevance − (F(x) − F(x')) is near 0 by design: it is compared on the scale of
    # F (absolute, scaled by max(1, |F|)), as the IG parity tests do.
    f_scale = 1.0
    for column in ("f_input", "f_baseline"):
        if column in header_b:
            j = header_b.index(column)
            f_scale = max(f_scale, max(abs(float(r[j])) for r in rows_b))
    for i in sorted(float_cols):
        va = [float(r[i]) for r in rows_a]
        vb = [float(r[i]) for r in rows_b]
        if header_a[i] == "delta":
            scale = f_scale
        else:
            scale = max(max(abs(v) for v in vb), 1e-12)
        worst[header_a[i]] = max(abs(x - y) for x, y in zip(va, vb)) / scale
    result["max_relative_difference"] = worst
    return result


def read_fasta(path):
    """[(id, sequence)] of a FASTA file; the id is the header's first word."""
    records = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith(">"):
                records.append([line[1:].split()[0], ""])
            elif line:
                records[-1][1] += line
    return [(name, seq) for name, seq in records]


def write_fasta(path, records):
    with open(path, "w") as f:
        for name, seq in records:
            f.write(f">{name}\n{seq}\n")


def first_sequence_head(predictions_csv):
    header, rows = read_table(predictions_csv)
    return rows[0][header.index("head")]


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--binary", required=True)
    p.add_argument("--antiberty", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--tolerance", type=float, default=1e-4)
    p.add_argument("--gpu-device", default="cuda", help="the device checked against cpu (cpu: a dry run of this script)")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--no-timing", action="store_true", help="parity only (no Captum run)")
    p.add_argument("--antibodies", type=int, default=8, help="AntiBERTy proteins for parity and timing")
    args = p.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    log = open(os.path.join(out, "gpu-check.log"), "w", buffering=1)
    summary = {"binary": os.path.abspath(args.binary), "tolerance": args.tolerance, "steps": args.steps,
               "parity": {}, "timing": {}, "failures": []}

    models = [(name, os.path.join(ROOT, "tests", "fixtures", "models", name)) for name in TINY]
    models.append(("antiberty", os.path.abspath(args.antiberty)))
    antibodies = read_fasta(os.path.join(ROOT, "data", "antibodies_171.fasta"))[: args.antibodies]

    for name, folder in models:
        work = os.path.join(out, name)
        os.makedirs(work, exist_ok=True)
        fasta = os.path.join(work, "input.fasta")
        if name == "antiberty":
            write_fasta(fasta, antibodies)
        else:
            with open(os.path.join(folder, "reference.json")) as f:
                write_fasta(fasta, [(s["id"], s["sequence"]) for s in json.load(f)["sequences"]])
        checks = {}
        # A dry run on a machine without a GPU (--gpu-device cpu) checks the generic op path (the
        # formulas a GPU runs) against the CPU kernels instead.
        gpu_env = {"PROTSCOPE_GENERIC_OPS": "1"} if args.gpu_device == "cpu" else {}
        for device, side, env in [(args.gpu_device, "gpu", gpu_env), ("cpu", "cpu", {})]:
            common = ["--model", folder, "--device", device]
            run([args.binary, "predict", *common, "--fasta", fasta, "--out", f"{work}/predict.{side}.csv"], log, env)
            # AntiBERTy's full maps are 7 M rows for 8 antibodies: its first and last layer do.
            layers = ["--layers", "0,7"] if name == "antiberty" else []
            run([args.binary, "attention", *common, *layers, "--fasta", fasta,
                 "--out", f"{work}/attention.{side}.csv"], log, env)
            head = first_sequence_head(f"{work}/predict.{side}.csv")
            for kind, extra in [("embedding", []),
                                ("latent-exact", ["--latent", "--latent-derivative", "exact"]),
                                ("latent-fd", ["--latent", "--latent-derivative", "fd"])]:
                target = f"{work}/attribute-{kind}.{side}.csv"
                for stale in (target, target.replace(".csv", ".summary.csv")):
                    if os.path.exists(stale):
                        os.remove(stale)
                run([args.binary, "attribute", *common, "--fasta", fasta, "--output", head, "--target", "0",
                     "--steps", str(args.steps), "--batch-size", "10", *extra, "--out", target], log, env)
        for table in ["predict", "attention", "attribute-embedding", "attribute-latent-exact", "attribute-latent-fd"]:
            for suffix in ["", ".summary"]:
                cuda_csv = f"{work}/{table}.gpu{suffix}.csv"
                cpu_csv = f"{work}/{table}.cpu{suffix}.csv"
                if not os.path.exists(cuda_csv):
                    continue
                result = compare(cuda_csv, cpu_csv)
                key = table + suffix
                checks[key] = result
                worst = max(result.get("max_relative_difference", {}).values(), default=0.0)
                if "error" in result or worst > args.tolerance:
                    summary["failures"].append(f"{name} {key}: {result.get('error', f'{worst:.2e} > {args.tolerance}')}")
        summary["parity"][name] = checks
        print(f"{name}: parity checked", flush=True)

    # Speed: AntiBERTy, the same proteins, steps and batch on the GPU for both.
    if not args.no_timing:
        fasta = os.path.join(out, "antiberty", "input.fasta")
        common = ["--model", os.path.abspath(args.antiberty), "--device", args.gpu_device]
        startup, _ = run([args.binary, "predict", *common, "--fasta", fasta, "--out", f"{out}/antiberty/startup.csv"], log)
        for kind, extra in [("embedding", []), ("latent_all_layers", ["--latent", "--latent-derivative", "exact"])]:
            target = f"{out}/antiberty/timed-{kind}.csv"
            for stale in (target, target.replace(".csv", ".summary.csv")):
                if os.path.exists(stale):
                    os.remove(stale)
            seconds, _ = run([args.binary, "attribute", *common, "--fasta", fasta, "--output", "species", "--target", "1",
                              "--steps", str(args.steps), "--batch-size", str(args.steps), *extra, "--out", target], log)
            summary["timing"][f"protscope_{kind}_seconds_per_protein"] = max(seconds - startup, 0.0) / len(antibodies)
        summary["timing"]["protscope_startup_seconds"] = startup
        _, captum_json = run([sys.executable, os.path.join(HERE, "bench_captum.py"), "--model", os.path.abspath(args.antiberty),
                              "--fasta", fasta, "--output", "species", "--target", "1", "--steps", str(args.steps),
                              "--internal-batch-size", str(args.steps), "--latent-internal-batch-size", str(args.steps),
                              "--latent-layers", "1", "--device", args.gpu_device], log)
        captum = json.loads(captum_json)
        summary["timing"]["captum"] = captum
        t = summary["timing"]
        t["speedup_embedding"] = captum["embedding_ig"]["seconds_per_protein"] / t["protscope_embedding_seconds_per_protein"]
        t["speedup_latent_all_layers"] = (captum["latent_ig_xai_proteins"]["seconds_per_protein_all_layers"]
                                          / t["protscope_latent_all_layers_seconds_per_protein"])

    with open(os.path.join(out, "gpu-check.json"), "w") as f:
        json.dump(summary, f, indent=1)
    lines = ["# protscope GPU check", "", f"Tolerance: {args.tolerance} relative; {args.steps} IG steps.", "",
             f"| model | table | rows | worst relative difference, {args.gpu_device} vs cpu |", "|---|---|---|---|"]
    for name, checks in summary["parity"].items():
        for key, result in checks.items():
            worst = max(result.get("max_relative_difference", {}).values(), default=0.0)
            lines.append(f"| {name} | {key} | {result.get('rows', '-')} | {result.get('error', f'{worst:.2e}')} |")
    t = summary["timing"]
    if t:
        captum = t["captum"]
        lines += ["", "| IG on the GPU, AntiBERTy | protscope s/protein | Captum s/protein | speed-up |",
                  "|---|---|---|---|",
                  f"| embedding | {t['protscope_embedding_seconds_per_protein']:.3f} | "
                  f"{captum['embedding_ig']['seconds_per_protein']:.3f} | {t['speedup_embedding']:.1f}x |",
                  f"| latent, all layers | {t['protscope_latent_all_layers_seconds_per_protein']:.3f} | "
                  f"{captum['latent_ig_xai_proteins']['seconds_per_protein_all_layers']:.3f} (one layer x layers) | "
                  f"{t['speedup_latent_all_layers']:.1f}x |"]
    lines += ["", "Failures: " + ("none" if not summary["failures"] else "; ".join(summary["failures"]))]
    with open(os.path.join(out, "gpu-check.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    sys.exit(1 if summary["failures"] else 0)


if __name__ == "__main__":
    main()
