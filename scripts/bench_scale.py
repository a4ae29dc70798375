#!/usr/bin/env python3
"""Side-by-side scale benchmark (issue 12): protscope against HF transformers / Captum on
random-weight models of real shapes, at several sequence lengths, each cell in its own process.

    python scripts/bench_scale.py run --protscope target/release/protscope --out bench/scale.csv
    python scripts/bench_scale.py cell --model DIR --task forward --sequence MKT... [--steps 4]

`run` writes the model folders (`protscope dev random-model`), then for every (model, length,
task) runs protscope (`protscope dev bench`) and the reference (this script's `cell` mode) one
after the other, 2 threads each, and appends one row per side to the CSV (columns model, task,
tool, length, seconds, peak_rss_gb, status, note): seconds = the task inside the process (model
load and process start excluded, reported in the note), peak_rss_gb = the process's peak
resident memory (wait4's ru_maxrss, load included). A process whose resident memory passes
--kill-at-gb is stopped and marked `oom`; one running past --timeout is marked `timeout`.
Cells already in the CSV are skipped, so an interrupted run resumes. Finally the figure is drawn
with `protscope dev plot-scaling`.

Reference procedures (as in scripts/bench_captum.py): forward = `model(ids,
output_attentions=True)` with eager attention under no_grad; embedding IG = Captum
LayerIntegratedGradients on the embedding module, Gauss-Legendre, pad baseline, convergence
delta on, internal_batch_size = the batch; latent IG = the xai-proteins procedure, one complete
LayerIntegratedGradients pass per layer with hooks on that layer's attention.self: one layer is
timed and scaled by the number of layers (its peak memory is that of one layer's pass).
"""

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

MODELS = [
    # (name in the table, preset, lengths)
    ("ProtBert (420 M)", "protbert", [100, 250, 500, 1000]),
    ("ESM-2 150M", "esm2-150m", [100, 250, 500, 1000, 2000]),
    ("ESM-2 650M", "esm2-650m", [100, 250, 500, 1000, 2000]),
]
# (name in the table, task, the reference's name)
TASKS = [("forward + attentions", "forward", "HF transformers"),
         ("embedding IG", "embedding-ig", "Captum"),
         ("all-layer latent IG", "latent-ig", "xai-proteins procedure")]
COLUMNS = ["model", "task", "tool", "length", "seconds", "peak_rss_gb", "status", "note"]


def sequence_of(length):
    rng = random.Random(length)
    return "".join(rng.choice("ACDEFGHIKLMNPQRSTVWY") for _ in range(length))


def batch_for(length):
    """α-nodes per pass, the same on both sides (the default --steps 2: both nodes in one pass up
    to 500 residues, one node per pass beyond, as a 2 GiB activation budget gives on ProtBert)."""
    return 2 if length <= 500 else 1


# ---------------------------------------------------------------------------------------------
# One reference cell (runs in its own process).

def reference_cell(args):
    import torch
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    from transformers import AutoConfig, AutoModelForSequenceClassification
    folder = Path(args.model)
    config = AutoConfig.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="eager").eval()
    vocab = {t: i for i, t in enumerate(folder.joinpath("vocab.txt").read_text().split("\n"))}
    esm = config.model_type == "esm"
    cls, sep, pad = ("<cls>", "<eos>", "<pad>") if esm else ("[CLS]", "[SEP]", "[PAD]")
    ids = [vocab[cls]] + [vocab[r] for r in args.sequence] + [vocab[sep]]
    base = [ids[0]] + [vocab[pad]] * (len(ids) - 2) + [ids[-1]]
    ids, base = torch.tensor([ids]), torch.tensor([base])
    backbone = model.esm if esm else model.bert
    load_s = time.perf_counter() - t0
    out = {"tool": "reference", "task": args.task, "tokens": ids.shape[1], "load_s": round(load_s, 3)}

    def forward(input_ids):
        return model(input_ids, attention_mask=torch.ones_like(input_ids)).logits

    t0 = time.perf_counter()
    if args.task == "forward":
        with torch.no_grad():
            result = model(ids, attention_mask=torch.ones_like(ids), output_attentions=True)
        out["attention_values"] = sum(a.numel() for a in result.attentions)
    else:
        from captum.attr import LayerIntegratedGradients
        lig = LayerIntegratedGradients(forward, backbone.embeddings)
        if args.task == "embedding-ig":
            _, delta = lig.attribute(ids, baselines=base, target=0, n_steps=args.steps, method="gausslegendre",
                                     internal_batch_size=args.batch_size, return_convergence_delta=True)
            out["delta"] = delta.item()
        else:
            sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
            from bench_captum import xai_latent_layer
            for layer in range(args.latent_layers):
                xai_latent_layer(lig, backbone.encoder.layer[layer].attention.self, ids, base, 0, args.steps,
                                 args.batch_size, config.num_attention_heads)
            layers = config.num_hidden_layers
            out["layers_timed"] = args.latent_layers
            out["layers_in_model"] = layers
    run_s = time.perf_counter() - t0
    if args.task == "latent-ig":
        out["run_one_layer_s"] = round(run_s, 3)
        run_s = run_s / args.latent_layers * out["layers_in_model"]
    out["run_s"] = round(run_s, 3)
    print(json.dumps(out))


# ---------------------------------------------------------------------------------------------
# The driver.

def measure(cmd, env, timeout, kill_at_gb):
    """Runs `cmd`; returns (status, stdout, stderr, peak RSS in GB, wall seconds)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    status = "ok"
    wait_status, usage = 0, None
    out_chunks, err_chunks = [], []
    import threading

    def pump(stream, sink):
        for line in stream:
            sink.append(line)

    threads = [threading.Thread(target=pump, args=(proc.stdout, out_chunks), daemon=True),
               threading.Thread(target=pump, args=(proc.stderr, err_chunks), daemon=True)]
    for t in threads:
        t.start()
    while True:
        try:
            pid, wait_status, usage = os.wait4(proc.pid, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == proc.pid:
            break
        try:
            rss_kb = next(int(line.split()[1]) for line in open(f"/proc/{proc.pid}/status")
                          if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            rss_kb = 0
        if rss_kb > kill_at_gb * 1024 * 1024:
            status = "oom"
            proc.kill()
        elif time.perf_counter() - start > timeout:
            status = "timeout"
            proc.kill()
        time.sleep(0.2)
    for t in threads:
        t.join()
    proc.returncode = os.waitstatus_to_exitcode(wait_status)
    if status == "ok" and proc.returncode != 0:
        err = "".join(err_chunks)
        status = "refused" if "--memory-budget" in err else "oom" if proc.returncode == -9 else "failed"
    peak_gb = usage.ru_maxrss / 1024 / 1024 if usage else float("nan")
    return status, "".join(out_chunks), "".join(err_chunks), peak_gb, time.perf_counter() - start


def run(args):
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if out.exists():
        with open(out) as f:
            done = {(r["model"], r["task"], r["tool"], int(r["length"])) for r in csv.DictReader(f)}
    else:
        with open(out, "w", newline="") as f:
            csv.writer(f).writerow(COLUMNS)
    models_dir = Path(args.models)
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads))
    only_models = set(args.only_models.split(",")) if args.only_models else None
    only_tasks = set(args.only_tasks.split(",")) if args.only_tasks else None
    for name, preset, lengths in MODELS:
        if only_models and preset not in only_models:
            continue
        folder = models_dir / preset
        if not (folder / "model.safetensors").is_file():
            # ESM-2's published 1,026 positions stop at 1,024 residues; rotary models have no
            # learned positions, so a larger limit changes nothing else.
            extra = ["--max-positions", "2050"] if preset.startswith("esm2") else []
            subprocess.run([args.protscope, "dev", "random-model", "--preset", preset, "--out", str(folder)] + extra,
                           check=True)
        for length in lengths:
            if args.max_length and length > args.max_length:
                continue
            seq = sequence_of(length)
            for task_name, task, reference in TASKS:
                if only_tasks and task not in only_tasks:
                    continue
                steps, batch = args.steps, batch_for(length)
                sides = [
                    ("protscope", [args.protscope, "dev", "bench", "--model", str(folder), "--task", task,
                                   "--sequence", seq, "--steps", str(steps), "--batch-size", str(batch)]),
                    (reference, [sys.executable, __file__, "cell", "--model", str(folder), "--task", task,
                                   "--sequence", seq, "--steps", str(steps), "--batch-size", str(batch),
                                   "--threads", str(args.threads), "--latent-layers", "1"]),
                ]
                for tool, cmd in sides:
                    if (name, task_name, tool, length) in done:
                        continue
                    # The same start for both sides: the weight file in the page cache.
                    subprocess.run(["cat", str(folder / "model.safetensors")], stdout=subprocess.DEVNULL, check=True)
                    status, stdout, stderr, peak, wall = measure(cmd, env, args.timeout, args.kill_at_gb)
                    seconds, note = "", ""
                    if status == "ok":
                        result = json.loads(stdout.strip().splitlines()[-1])
                        seconds = f"{result['run_s']:.3f}"
                        note = f"load {result['load_s']:.1f} s"
                        if task != "forward":
                            note += f"; {steps} steps, batch {batch}"
                        if result.get("recompute_layers"):
                            note += "; layers recomputed"
                        if "run_one_layer_s" in result:
                            note += f"; one layer {result['run_one_layer_s']:.1f} s x {result['layers_in_model']}"
                    elif status in ("failed", "refused"):
                        note = (stderr.strip().splitlines() or ["?"])[-1][:200].replace(",", ";")
                        if status == "failed":  # the figure knows ok/oom/timeout/refused/skipped
                            status, note = "skipped", "failed: " + note
                    else:
                        note = f"stopped after {wall:.0f} s"
                    row = [name, task_name, tool, length, seconds, f"{peak:.3f}", status, note]
                    print(",".join(map(str, row)), flush=True)
                    with open(out, "a", newline="") as f:
                        csv.writer(f).writerow(row)
    if args.figure:
        subprocess.run([args.protscope, "dev", "plot-scaling", "--table", str(out), "--out", args.figure],
                       check=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    c = sub.add_parser("cell", help="one reference measurement (prints one JSON line)")
    c.add_argument("--model", required=True)
    c.add_argument("--task", required=True, choices=["forward", "embedding-ig", "latent-ig"])
    c.add_argument("--sequence", required=True)
    c.add_argument("--steps", type=int, default=4)
    c.add_argument("--batch-size", type=int, default=1)
    c.add_argument("--threads", type=int, default=2)
    c.add_argument("--latent-layers", type=int, default=1, help="layers run for latent IG (then scaled)")
    r = sub.add_parser("run", help="the whole table")
    r.add_argument("--protscope", required=True, help="release binary")
    r.add_argument("--out", required=True, help="CSV (appended to; existing cells are skipped)")
    r.add_argument("--models", default="/tmp/protscope-bench-models", help="random-weight model folders")
    r.add_argument("--figure", help="draw the figure here at the end (.svg or .png)")
    r.add_argument("--steps", type=int, default=2)
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--timeout", type=float, default=1800)
    r.add_argument("--kill-at-gb", type=float, default=21.0)
    r.add_argument("--max-length", type=int)
    r.add_argument("--only-models", help="comma-separated presets")
    r.add_argument("--only-tasks", help="comma-separated tasks")
    args = p.parse_args()
    reference_cell(args) if args.mode == "cell" else run(args)


if __name__ == "__main__":
    main()
