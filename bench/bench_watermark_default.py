"""Does the provenance tab find the watermark in what the text tab makes with its defaults? Detection rate over seeds,
false positives on human text of the same length, and the perplexity cost, at several output lengths.

    nice -n 10 python -m bench.bench_watermark_default          # 200 seeds, 200 human passages; writes
                                                                # assets/text-model/watermark.json
    python -m bench.bench_watermark_default --dry-run           # 12 seeds, 40 passages, writes nothing

The app's path: TextContinuation.stream(DEFAULT_PROMPT, watermark=True) with the text tab's default sampling, seeds
0, 1, ...; the text a person copies (prompt + continuation) goes through generators.text.detect_text, as the
provenance tab checks it. A length L scores the text made of the prompt and the first L new tokens (a prefix of a
longer continuation is exactly an L-token continuation with the same seed). Human passages: windows of the held-out
books (training/novels.py VALID_BOOKS) as long as the prompt plus L tokens, decoded and checked the same way.
Perplexity: the model's own (unbiased) probabilities of the continuation's tokens, marked vs unmarked, same seeds.
The row for the tab's previous default (48 tokens) is printed beside the new one in the same run.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from bench.bench_watermark import held_out_books, spread_slices
from generators import text
from generators.provenance import watermark
from training.novels import DEFAULT_DATA

OUT = text.bundled_path() / "watermark.json"
PREVIOUS_DEFAULT = 48  # the text tab's default length before issue 27
LENGTHS = (48, 64, 96, 128, 160, 200)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=200)
    p.add_argument("--human", type=int, default=200)
    p.add_argument("--ppl-seeds", type=int, default=50, help="seeds of the perplexity comparison (marked vs not)")
    p.add_argument("--data", default=str(DEFAULT_DATA), help="folder with the Gutenberg books")
    p.add_argument("--out", default=str(OUT))
    p.add_argument("--dry-run", action="store_true", help="12 seeds, 40 passages, writes nothing")
    args = p.parse_args(argv)
    if args.dry_run:
        args.seeds, args.human, args.ppl_seeds = 12, 40, 12
    return args


def continuations(tc, prompt: str, seeds: int, mark: bool) -> list:
    """One finished Continuation per seed at the tab's defaults (bar the length, the longest measured)."""
    return [tc.continue_text(prompt, max_new_tokens=max(LENGTHS), seed=s, watermark=mark)[0] for s in range(seeds)]


def rates(results: list[dict]) -> dict:
    verdicts = [r["verdict"] for r in results]
    return {v: verdicts.count(v) / len(verdicts) for v in watermark.VERDICTS} | {
        "mean_z": statistics.mean(r["z_score"] for r in results),
        "mean_scored": statistics.mean(r["tokens_scored"] for r in results)}


def perplexity(conts: list) -> float:
    logp = [math.log(max(t.prob, 1e-30)) for c in conts for t in c.tokens]
    return math.exp(-statistics.mean(logp))


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(1)
    from ui.tabs.text_tab import DEFAULT_PROMPT  # the tab's own default, not a copy

    tc = text.TextContinuation(torch.device("cpu"))
    lm = tc.load()
    prompt_tokens = len(lm.tokenizer(DEFAULT_PROMPT).input_ids)
    print(f"prompt {DEFAULT_PROMPT!r} ({prompt_tokens} tokens), {args.seeds} seeds, watermark delta {watermark.DELTA:g}"
          f" gamma {watermark.GAMMA:g}, verdict at z >= {watermark.Z_THRESHOLD:g}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (shared: timings are noisy)")
    t0 = time.perf_counter()
    marked = continuations(tc, DEFAULT_PROMPT, args.seeds, True)
    plain = continuations(tc, DEFAULT_PROMPT, min(args.ppl_seeds, args.seeds), False)
    print(f"generated {len(marked) + len(plain)} continuations in {time.perf_counter() - t0:.0f} s")
    books = held_out_books(lm.tokenizer, args.data)
    rows = []
    print(f"\n{'new tokens':>10s} {'found':>7s} {'too short':>9s} {'missed':>7s} {'mean z':>7s} {'scored':>7s} "
          f"{'human flagged':>13s} {'human z max':>11s}")
    for n in LENGTHS:
        found = rates([text.detect_text(c.prompt_text + "".join(t.text for t in c.tokens[:n])) for c in marked])
        human = [text.detect_text(lm.decode(ids)) for ids in spread_slices(books, args.human, prompt_tokens + n)]
        row = {"new_tokens": n, "marked": found, "human": rates(human),
               "human_max_z": max(r["z_score"] for r in human)}
        rows.append(row)
        mark = "  <- previous default" if n == PREVIOUS_DEFAULT else "  <- default" if n == text.DEFAULT_NEW_TOKENS else ""
        print(f"{n:10d} {found['watermarked']:7.1%} {found['too_short']:9.1%} {found['no_watermark']:7.1%} "
              f"{found['mean_z']:7.2f} {found['mean_scored']:7.1f} {row['human']['watermarked']:13.1%} "
              f"{row['human_max_z']:11.2f}{mark}", flush=True)
    base, ppl = perplexity(plain), perplexity(marked[:len(plain)])
    print(f"\nperplexity of {max(LENGTHS)}-token continuations, seeds 0-{len(plain) - 1}: unmarked {base:.2f}, marked {ppl:.2f} "
          f"({ppl / base - 1:+.1%})")
    enough = next((r for r in rows if r["marked"]["watermarked"] >= 0.95), rows[-1])
    needed = math.ceil(enough["marked"]["mean_scored"])  # scored tokens where 95% of marked texts are found
    print(f"95% found from {enough['new_tokens']} new tokens on: a shorter text that is not found is 'too short to "
          f"tell' below {needed} scored tokens")
    result = {"tokens_needed": needed, "prompt": DEFAULT_PROMPT, "seeds": args.seeds, "human_passages": args.human,
              "delta": watermark.DELTA, "gamma": watermark.GAMMA, "z_threshold": watermark.Z_THRESHOLD,
              "default_new_tokens": text.DEFAULT_NEW_TOKENS, "previous_default": PREVIOUS_DEFAULT,
              "perplexity_unmarked": round(base, 3), "perplexity_marked": round(ppl, 3), "lengths": rows,
              "command": "python -m bench.bench_watermark_default"}
    if not args.dry_run:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
