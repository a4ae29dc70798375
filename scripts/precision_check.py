"""What half precision costs: runs predict, attention and attribute (embedding + latent, exact
derivative) with --dtype f32 and with bf16/f16, on one device, and reports the largest
difference of every float column relative to that column's largest |value| in f32 (the numbers
README quotes). Standard library only.

    python3 scripts/precision_check.py --binary target/release/protscope \\
        --model ~/.cache/protscope/antiberty --fasta data/antibodies_171.fasta --limit 4 \\
        --output species --target 1 --steps 40 --device cpu --out /tmp/precision
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_check import compare, read_fasta, run, write_fasta  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--fasta", required=True)
    p.add_argument("--limit", type=int, default=4)
    p.add_argument("--head", required=True)
    p.add_argument("--target", default="0")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtypes", default="bf16,f16")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    log = open(os.path.join(args.out, "precision.log"), "w")

    records = read_fasta(args.fasta)
    fasta = os.path.join(args.out, "input.fasta")
    write_fasta(fasta, records[: args.limit])

    seconds = {}
    for dtype in ["f32", *args.dtypes.split(",")]:
        common = ["--model", args.model, "--device", args.device, "--dtype", dtype, "--fasta", fasta]
        total = 0.0
        total += run([args.binary, "predict", *common, "--out", f"{args.out}/predict.{dtype}.csv"], log)[0]
        total += run([args.binary, "attention", *common, "--out", f"{args.out}/attention.{dtype}.csv"], log)[0]
        target = f"{args.out}/attribute.{dtype}.csv"
        for stale in (target, target.replace(".csv", ".summary.csv")):
            if os.path.exists(stale):
                os.remove(stale)
        total += run([args.binary, "attribute", *common, "--output", args.head, "--target", args.target,
                      "--steps", str(args.steps), "--latent", "--latent-derivative", "exact", "--out", target], log)[0]
        seconds[dtype] = total

    result = {"model": args.model, "device": args.device, "proteins": min(args.limit, len(records)),
              "steps": args.steps, "seconds": seconds, "vs_f32": {}}
    for dtype in args.dtypes.split(","):
        result["vs_f32"][dtype] = {
            table + suffix: compare(f"{args.out}/{table}.{dtype}{suffix}.csv", f"{args.out}/{table}.f32{suffix}.csv")
            for table, suffix in [("predict", ""), ("attention", ""), ("attribute", ""), ("attribute", ".summary")]
        }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
