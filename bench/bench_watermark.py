"""Text watermark (generators/provenance/watermark.py): detection rate against perplexity cost, false positives on human text,
what edits defeat it, and what it costs the decoding loop.

    nice -n 10 python bench/bench_watermark.py     # 50 prompts x 2 alternatives from the held-out books
    python bench/bench_watermark.py --quick        # 8 prompts, deltas 2 and 4, 40 human passages: a smoke run

Prompts are 16-token slices of the held-out Gutenberg books (training/novels.py VALID_BOOKS), continued for 240
tokens (the bundled model's context is 256) at the app's defaults: temperature 0.8, top-k 40, top-p 0.95,
repetition penalty 1.1, with the same seeds with and without the mark. Detection at L tokens scores the first L
new tokens (the first against the prompt's last token); a prefix of a 240-token continuation is distributed
exactly as an L-token continuation. Perplexity is that of the continuations under the model without the bias (the
loop records the unbiased probabilities), pooled over all their tokens. "via text" decodes the first 128 tokens and
tokenizes the text again, as the checker does. Edits replace 10/25/50% of the first 128 tokens by uniformly random
ones. Human passages are 128-token windows of the same books, spread evenly.
"""

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from generators import text
from generators.provenance import watermark
from generators.lm.text_decoding import Gpt2Session, HfSession, Sampling, SamplingLoop
from generators.provenance.watermark import Watermark, detect
from training.novels import DEFAULT_DATA, VALID_BOOKS, clean_book

APP_SAMPLING = Sampling(temperature=0.8, top_k=40, top_p=0.95, repetition_penalty=1.1)
PROMPT_TOKENS, NEW_TOKENS = 16, 240
LENGTHS = (32, 64, 128, 240)
EDITS = (0.10, 0.25, 0.50)
HUMAN_TOKENS = 128


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(text.bundled_path()), help="model folder (default: the bundled one)")
    p.add_argument("--data", default=str(DEFAULT_DATA), help="folder with the Gutenberg books")
    p.add_argument("--prompts", type=int, default=50)
    p.add_argument("--alternatives", type=int, default=2, help="continuations per prompt (one batch)")
    p.add_argument("--deltas", default="1,1.5,2,3")
    p.add_argument("--gammas", default="0.25,0.5")
    p.add_argument("--human", type=int, default=200, help="human passages for the false-positive rate")
    p.add_argument("--threads", type=int, default=1, help="torch threads (the app gives each request one)")
    p.add_argument("--repeats", type=int, default=7, help="speed: runs of each variant (median)")
    p.add_argument("--part", choices=("all", "speed", "quality"), default="all")
    p.add_argument("--quick", "--dry-run", action="store_true", help="a smoke run: few prompts, two deltas")
    args = p.parse_args(argv)
    if args.quick:
        args.prompts, args.human, args.deltas, args.gammas, args.repeats = 8, 40, "2,4", "0.25", 2
    args.deltas = [float(d) for d in args.deltas.split(",")]
    args.gammas = [float(g) for g in args.gammas.split(",")]
    return args


def held_out_books(tok, data: str) -> list[list[int]]:
    """The held-out books, each as one list of token ids."""
    books = [clean_book((Path(data) / name).read_text(encoding="utf-8")) for name in VALID_BOOKS]
    return [tok(b).input_ids for b in books]


def spread_slices(books: list[list[int]], count: int, length: int) -> list[list[int]]:
    """`count` slices of `length` tokens, taken in turn from each book at evenly spaced, non-overlapping places."""
    per_book = [count // len(books) + (i < count % len(books)) for i in range(len(books))]
    out = []
    for ids, k in zip(books, per_book):
        stride = (len(ids) - length) // max(k, 1)
        out += [ids[j * stride: j * stride + length] for j in range(k)]
    return out


@torch.inference_mode()
def generate(lm, prompts, n: int, mark: Watermark | None) -> list[dict]:
    """n continuations of each prompt: their ids (to the first EOS), unbiased probabilities, the prompt's last id."""
    eos, out = lm.tokenizer.eos_token_id, []
    for i, prompt in enumerate(prompts):
        session = (Gpt2Session(lm.fast, n, len(prompt) + NEW_TOKENS) if lm.fast is not None
                   else HfSession(lm.model, n))
        loop = SamplingLoop(session, torch.tensor([prompt], device=lm.device), n, NEW_TOKENS, APP_SAMPLING,
                            torch.Generator(lm.device).manual_seed(i), eos, mark)
        steps = [loop.step() for _ in range(NEW_TOKENS)]  # (NEW_TOKENS, n)
        for a in range(n):
            ids = [s[a] for s in steps]
            ids = ids[:ids.index(eos) + 1] if eos in ids else ids
            out.append({"ids": ids, "probs": loop.records(a, len(ids))[0], "prev": prompt[-1]})
    return out


def perplexity(runs: list[dict]) -> float:
    logp = [math.log(max(p, 1e-30)) for r in runs for p in r["probs"]]
    return math.exp(-sum(logp) / len(logp))


def cost_interval(runs: list[dict], plain: list[dict], reps: int = 2000) -> tuple[float, float]:
    """95% bootstrap interval of ppl(runs) / ppl(plain) - 1, resampling whole continuations of each set."""
    def sums(rs):
        return (np.array([-sum(math.log(max(p, 1e-30)) for p in r["probs"]) for r in rs]),
                np.array([len(r["probs"]) for r in rs]))

    rng, (a, n), (b, m) = np.random.default_rng(0), sums(runs), sums(plain)
    i, j = rng.integers(len(a), size=(reps, len(a))), rng.integers(len(b), size=(reps, len(b)))
    ratio = np.exp(a[i].sum(1) / n[i].sum(1) - b[j].sum(1) / m[j].sum(1)) - 1
    return tuple(np.quantile(ratio, [0.025, 0.975]))


def replace_tokens(ids: list[int], share: float, vocab: int, rng: np.random.Generator) -> list[int]:
    """A copy of ids with round(share * len) of them, at random places, replaced by uniformly random tokens."""
    ids = list(ids)
    for j in rng.choice(len(ids), round(share * len(ids)), replace=False):
        ids[j] = int(rng.integers(vocab))
    return ids


def detection_row(lm, runs: list[dict], gamma: float, vocab: int) -> dict:
    """Shares of continuations detected (z >= 4) at each length, via text, after edits; mean z at 128."""
    def rate(seqs):
        return statistics.mean(detect(s, gamma=gamma)["z_score"] >= watermark.Z_THRESHOLD for s in seqs)

    row = {f"@{n}": rate([[r["prev"]] + r["ids"][:n] for r in runs]) for n in LENGTHS}
    row["text@128"] = rate([lm.tokenizer(lm.decode(r["ids"][:128])).input_ids for r in runs])
    rng = np.random.default_rng(0)
    for share in EDITS:
        row[f"{share:.0%} edit"] = rate([[r["prev"]] + replace_tokens(r["ids"][:128], share, vocab, rng)
                                         for r in runs])
    row["z@128"] = statistics.mean(detect([r["prev"]] + r["ids"][:128], gamma=gamma)["z_score"] for r in runs)
    return row


def quality(lm, args) -> None:
    books = held_out_books(lm.tokenizer, args.data)
    prompts = spread_slices(books, args.prompts, PROMPT_TOKENS)
    vocab = lm.model.get_output_embeddings().weight.shape[0]
    print(f"{len(prompts)} prompts x {args.alternatives} continuations of up to {NEW_TOKENS} tokens, {APP_SAMPLING}")
    t0 = time.perf_counter()
    plain = generate(lm, prompts, args.alternatives, None)
    base_ppl = perplexity(plain)
    short = sum(len(r["ids"]) < n for r in plain for n in LENGTHS)
    print(f"unmarked: perplexity {base_ppl:.2f}, {short} (continuation, length) pairs cut short by EOS, "
          f"{time.perf_counter() - t0:.0f} s")
    cols = [f"@{n}" for n in LENGTHS] + ["text@128"] + [f"{s:.0%} edit" for s in EDITS]
    print(f"\ndetected at z >= {watermark.Z_THRESHOLD:g} (share of {len(plain)} continuations); edits at 128 tokens")
    print(f"{'gamma':>5s} {'delta':>5s} {'ppl':>6s} {'cost':>6s} {'95% interval':>15s} "
          + " ".join(f"{c:>8s}" for c in cols) + f" {'mean z@128':>10s}")
    for gamma in args.gammas:
        for delta in [0.0] + args.deltas:
            runs = plain if delta == 0 else generate(lm, prompts, args.alternatives, Watermark(delta, gamma))
            ppl, row = perplexity(runs), detection_row(lm, runs, gamma, vocab)
            lo, hi = cost_interval(runs, plain)
            print(f"{gamma:5.2f} {delta:5.2f} {ppl:6.2f} {ppl / base_ppl - 1:+6.1%} {lo:+7.1%}..{hi:+6.1%} "
                  + " ".join(f"{row[c]:8.1%}" for c in cols) + f" {row['z@128']:10.2f}", flush=True)
    false_positives(books, args)


def false_positives(books, args) -> None:
    passages = spread_slices(books, args.human, HUMAN_TOKENS)
    print(f"\nhuman text: {len(passages)} passages of {HUMAN_TOKENS} tokens from the held-out books")
    print(f"{'gamma':>5s} {'scored':>7s} {'z >= 4':>7s} {'z >= 2':>7s} {'mean z':>7s} {'max z':>6s}")
    for gamma in args.gammas:
        res = [detect(p, gamma=gamma) for p in passages]
        z = [r["z_score"] for r in res]
        print(f"{gamma:5.2f} {statistics.mean(r['tokens_scored'] for r in res):7.1f} "
              f"{statistics.mean(v >= 4 for v in z):7.1%} {statistics.mean(v >= 2 for v in z):7.1%} "
              f"{statistics.mean(z):7.2f} {max(z):6.2f}")


def speed(tc, args) -> None:
    """tokens/s of TextContinuation.stream (the app's path) without and with the mark, runs interleaved."""
    prompt = "The old captain looked out over the harbour and said"
    print(f"\nspeed: TextContinuation.stream, 128 new tokens, app defaults, median of {args.repeats}, "
          f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for n in (1, 3):
        times = {0.0: [], watermark.DELTA: []}
        for r in range(args.repeats + 1):  # the first round warms up
            for delta in times:
                t0 = time.perf_counter()
                *_, last = tc.stream(prompt, max_new_tokens=128, seed=r, n=n, watermark=delta)
                if r:
                    times[delta].append(sum(len(a.tokens) for a in last) / (time.perf_counter() - t0))
        off, on = (statistics.median(v) for v in times.values())
        print(f"  n={n}: off {off:6.1f} tok/s, watermark delta={watermark.DELTA:g} {on:6.1f} tok/s "
              f"({on / off - 1:+.1%})")
    lm, mark = tc.load(), Watermark()
    logits = torch.zeros(1, lm.model.get_output_embeddings().weight.shape[0])
    t0, steps = time.perf_counter(), 2000
    for i in range(steps):
        mark.bias(logits, [i])
    print(f"  the bias alone: {(time.perf_counter() - t0) / steps * 1e6:.0f} us a step (n=1, V={logits.shape[1]})")


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    os.environ["PLAYGROUND_TEXT_MODEL"] = args.model
    tc = text.TextContinuation(torch.device("cpu"))
    lm = tc.load()
    print(f"model {args.model}: vocab {lm.model.get_output_embeddings().weight.shape[0]}, context {lm.context}; "
          f"key {watermark.KEY}")
    if args.part in ("all", "speed"):
        speed(tc, args)
    if args.part in ("all", "quality"):
        quality(lm, args)


if __name__ == "__main__":
    main()
