"""A random-weight checkpoint in the shape and layout of Rostlab/prot_t5_xl_uniref50: the full
encoder-decoder T5 (d_model 1024, d_ff 16384, 32 heads x d_kv 128, 24 + 24 layers, vocabulary
128; about 3 B parameters, 11 GB in float32) saved as one zip `pytorch_model.bin` beside a
config.json without `feed_forward_proj` and ProtT5's spiece.model pieces. For measuring the load
peak of the encoder-only read (README, BENCHMARKS.md); never commit one.

    python3 scripts/random_prott5_checkpoint.py --out /tmp/prott5-xl-full
    /usr/bin/time -v protscope embed --model /tmp/prott5-xl-full --fasta F --out e.parquet
"""

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_model_fixtures import write_spiece  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--layers", type=int, default=24, help="encoder and decoder layers each")
    args = parser.parse_args()
    from transformers import T5Config, T5ForConditionalGeneration

    os.makedirs(args.out, exist_ok=True)
    config = T5Config(vocab_size=128, d_model=1024, d_kv=128, d_ff=16384, num_layers=args.layers,
                      num_decoder_layers=args.layers, num_heads=32, relative_attention_num_buckets=32,
                      dropout_rate=0.1, layer_norm_epsilon=1e-6, pad_token_id=0, eos_token_id=1,
                      decoder_start_token_id=0, feed_forward_proj="relu")
    with torch.device("meta"):
        model = T5ForConditionalGeneration(config)
    generator = torch.Generator().manual_seed(0)
    state = {}
    for name, value in model.state_dict().items():
        state[name] = torch.empty(value.shape).normal_(0.0, 0.05, generator=generator)
        if "layer_norm" in name:
            state[name].fill_(1.0)
    torch.save(state, os.path.join(args.out, "pytorch_model.bin"))
    cfg = config.to_dict()
    cfg["architectures"] = ["T5WithLMHeadModel"]
    for field in ("feed_forward_proj", "is_gated_act", "dense_act_fn"):
        cfg.pop(field, None)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    write_spiece(args.out)
    encoder = sum(v.numel() for k, v in state.items() if not k.startswith(("decoder.", "lm_head.")))
    total = sum(v.numel() for v in state.values())
    print(f"{args.out}: {total / 1e9:.2f} B parameters ({4 * total / 1e9:.1f} GB), encoder {encoder / 1e9:.2f} B "
          f"({4 * encoder / 1e9:.2f} GB)")


if __name__ == "__main__":
    main()
