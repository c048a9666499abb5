"""Text continuation speed: transformers' `generate()` beside our decoding loop and each optimisation tried.

    python -m bench.bench_text                       # bundled model + a GPT-2-124M-sized random model
    python -m bench.bench_text --model PATH --quick  # a fast smoke run
    python -m bench.bench_text --compile             # also try torch.compile (slow to compile on CPU)

All runs are greedy (temperature 0, no penalty) with the same prompt and max_new_tokens, so every
variant must produce the same tokens as `generate()`; the `same` column checks it. Figures are the
median of --repeats runs after one warm-up: time to first token (TTFT) and new tokens per second
over the whole call (prompt included). On CUDA machines the GPU is measured too.
"""

import argparse
import copy
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel
from transformers.pytorch_utils import Conv1D

from generators import text
from generators.lm.text_decoding import Gpt2Session, HfSession, Sampling, SamplingLoop

PROMPT = "The old captain looked out over the harbour and said"
GREEDY = Sampling(temperature=0.0, top_k=0, top_p=1.0, repetition_penalty=1.0)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(text.bundled_path()), help="model folder (default: the bundled one)")
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--no-124m", action="store_true", help="skip the GPT-2-124M-sized model")
    p.add_argument("--compile", action="store_true", help="also time torch.compile of the lean GPT-2 step")
    p.add_argument("--quick", action="store_true", help="8 tokens, 1 repeat: a smoke run for CI")
    args = p.parse_args(argv)
    if args.quick:
        args.new_tokens, args.repeats = 8, 1
    return args


class FirstToken:
    """A transformers streamer (put/end) that notes when the first new token arrives; put() gets the prompt first."""

    def __init__(self):
        self.calls, self.at = 0, None

    def put(self, value):
        self.calls += 1
        if self.calls == 2:
            value.tolist()  # waits for the GPU, if any
            self.at = time.perf_counter()

    def end(self):
        pass


def run_generate(lm, ids, n_new, **kw):
    streamer, t0 = FirstToken(), time.perf_counter()
    out = lm.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n_new, do_sample=False,
                            pad_token_id=lm.tokenizer.eos_token_id, streamer=streamer, **kw)
    if ids.device.type == "cuda":
        torch.cuda.synchronize()
    return streamer.at - t0, time.perf_counter() - t0, out[0, ids.shape[1]:].tolist()


def run_loop(make_session, ids, n_new, eos_id):
    """Our loop without the adapter's text decoding: the decoding cost alone."""
    t0 = time.perf_counter()
    loop = SamplingLoop(make_session(), ids, 1, n_new, GREEDY, torch.Generator(ids.device), eos_id)
    tokens = loop.step()
    first = time.perf_counter() - t0
    while len(tokens) < n_new and not loop.all_done():
        tokens += loop.step()
    return first, time.perf_counter() - t0, tokens


def run_adapter(tc, n_new):
    """The path users run: TextContinuation.stream, text decoded at every token."""
    t0, first = time.perf_counter(), None
    for alts in tc.stream(PROMPT, max_new_tokens=n_new, temperature=0, repetition_penalty=1.0):
        first = first or time.perf_counter() - t0
    return first, time.perf_counter() - t0, [t.token_id for t in alts[0].tokens]


def int8_copy(model):
    """Dynamic int8 weights for every linear layer; GPT-2's Conv1D (y = x W + b) becomes nn.Linear first."""
    model = copy.deepcopy(model)
    for module in list(model.modules()):
        for name, child in module.named_children():
            if isinstance(child, Conv1D):
                linear = torch.nn.Linear(child.weight.shape[0], child.weight.shape[1])
                linear.weight.data, linear.bias.data = child.weight.data.T.contiguous(), child.bias.data
                setattr(module, name, linear)
    return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def variants(lm, tc, ids, n_new, args):
    """name -> a zero-argument call returning (ttft s, total s, tokens)."""
    eos, length = lm.tokenizer.eos_token_id, ids.shape[1] + n_new
    v = {
        "generate() [baseline]": lambda: run_generate(lm, ids, n_new),
        "generate(), static cache": lambda: run_generate(lm, ids, n_new, cache_implementation="static"),
        "ours: HF forward + DynamicCache": lambda: run_loop(lambda: HfSession(lm.model, 1), ids, n_new, eos),
    }
    if lm.fast is not None:
        v["ours: lean GPT-2 + prealloc. cache"] = lambda: run_loop(lambda: Gpt2Session(lm.fast, 1, length),
                                                                  ids, n_new, eos)
        if args.compile:
            compiled = copy.copy(lm.fast)
            compiled._block = torch.compile(lm.fast._block, dynamic=True)
            v["ours: lean GPT-2 + torch.compile"] = lambda: run_loop(lambda: Gpt2Session(compiled, 1, length),
                                                                    ids, n_new, eos)
    if lm.device.type == "cpu":
        q = int8_copy(lm.model)
        v["ours: HF forward, int8 dynamic"] = lambda: run_loop(lambda: HfSession(q, 1), ids, n_new, eos)
    v["ours: adapter stream (what the app runs)"] = lambda: run_adapter(tc, n_new)
    return v


def bench_model(label: str, path: str, device: torch.device, args) -> None:
    os.environ["PLAYGROUND_TEXT_MODEL"] = path
    tc = text.TextContinuation(device)
    lm = tc.load()
    n_new = min(args.new_tokens, lm.context - 8)
    ids = torch.tensor([lm.tokenizer(PROMPT).input_ids], device=device)
    params = sum(p.numel() for p in lm.model.parameters()) / 1e6
    print(f"\n{label}: {params:.1f}M params on {device.type}, prompt {ids.shape[1]} tokens, {n_new} new, "
          f"median of {args.repeats}, torch threads {torch.get_num_threads()}")
    print(f"{'variant':44s} {'TTFT ms':>9s} {'tok/s':>8s} {'x base':>7s}  same tokens")
    base_tokens, base_rate = None, None
    for name, fn in variants(lm, tc, ids, n_new, args).items():
        try:
            fn()  # warm-up (and compilation)
            runs = [fn() for _ in range(args.repeats)]
        except Exception as e:  # an optimisation that does not run here is reported, not fatal
            print(f"{name:44s} failed: {type(e).__name__}: {str(e)[:80]}")
            continue
        ttft = statistics.median(r[0] for r in runs) * 1000
        total = statistics.median(r[1] for r in runs)
        tokens = runs[-1][2]
        rate = len(tokens) / total
        base_tokens, base_rate = base_tokens or tokens, base_rate or rate
        same = "yes" if tokens == base_tokens else f"NO (first diff at {_first_diff(tokens, base_tokens)})"
        print(f"{name:44s} {ttft:9.1f} {rate:8.1f} {rate / base_rate:7.2f}  {same}")


def _first_diff(a, b) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def main(argv=None):
    args = parse_args(argv)
    if not (Path(args.model) / "config.json").exists():
        raise SystemExit(f"no model in {args.model}: train it (python -m training.train_text) or pass --model PATH")
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    with tempfile.TemporaryDirectory() as tmp:
        models = [("bundled model" if args.model == str(text.bundled_path()) else args.model, args.model)]
        if not args.no_124m:  # GPT2Config() is GPT-2 small: 12 layers, 768 wide, 1024 context, random weights
            torch.manual_seed(0)
            GPT2LMHeadModel(GPT2Config()).save_pretrained(tmp)
            AutoTokenizer.from_pretrained(args.model).save_pretrained(tmp)  # ids past its vocab decode to ""
            models.append(("GPT-2-124M-sized, random weights", tmp))
        for label, path in models:
            for device in devices:
                bench_model(label, path, device, args)


if __name__ == "__main__":
    main()
