"""Fine-tunes a text model on a text file with LoRA and writes the adapter: the loop of the fine-tuning tab.

    python -m training.finetune_text --text play.txt --steps 300            # -> runs/finetune/adapter.safetensors
    python -m training.finetune_text --text play.txt --model "SmolLM2-135M-Instruct (GGUF)" --steps 40
    python -m training.finetune_text --dry-run                              # a tiny model on a few lines, for CI

The last tenth of the text's tokens is held out; its perplexity is printed before and after. The adapter file
(LoRA weights in safetensors, the config in its metadata) continues text with `generators.lm.lora.load_adapter`.
"""

import argparse
import json
from pathlib import Path

import torch
from tqdm import tqdm

from generators import finetune
from generators.lm import lora

DRY_TEXT = """First Citizen: Before we proceed any further, hear me speak.
All: Speak, speak.
First Citizen: You are all resolved rather to die than to famish?
All: Resolved. resolved.
First Citizen: First, you know Caius Marcius is chief enemy to the people.
"""


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--text", type=Path, help="UTF-8 text file to learn (up to 1 MB)")
    p.add_argument("--model", default="bundled", help=f"bundled, a Hub model, or {finetune.SMOLLM2!r}")
    p.add_argument("--out", type=Path, default=Path("runs/finetune/adapter.safetensors"))
    p.add_argument("--steps", type=int, default=None, help="optimizer steps, at most (default: the model's)")
    p.add_argument("--seconds", type=float, default=None,
                   help="time budget for the steps (0: none; default: the model's)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the model's)")
    p.add_argument("--rank", type=int, default=None, help="LoRA rank r (default: the model's)")
    p.add_argument("--batch-size", type=int, default=None, help="windows per step (default: the model's)")
    p.add_argument("--block-size", type=int, default=None, help="tokens per training window (default: the model's)")
    p.add_argument("--eval-every", type=int, default=None, help="steps between held-out evaluations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dry-run", action="store_true", help="a tiny random GPT-2 on a few lines, a few steps")
    args = p.parse_args()
    if args.text is None and not args.dry_run:
        p.error("--text is required (or --dry-run)")
    if args.text is not None and not args.text.is_file():
        p.error(f"--text {args.text}: no such file")
    if args.dry_run:
        args.steps, args.batch_size, args.block_size, args.eval_every, args.seconds = 4, 2, 16, 2, 0
        torch.set_num_threads(1)  # a tiny model gains nothing from more, and on a busy machine they only wait
    return args


def tiny_model(text: str, device: torch.device):
    """A random 2-layer GPT-2 with a tokenizer trained on `text`, as a LoadedModel (the dry run's base)."""
    from training import tiny
    from training.train_text import build_tokenizer

    tok = build_tokenizer([text], vocab_size=300)
    return tiny.loaded(tiny.tiny_gpt2(tok), tok, device)


def train(tuner: finetune.FineTuner, args, text) -> finetune.FinetuneResult:
    """Runs the stream with a progress bar; returns the last item's result."""
    recipe = {k: getattr(args, k) for k in ("batch_size", "block_size", "eval_every") if getattr(args, k) is not None}
    stream = tuner.stream(text=text, steps=args.steps, lr=args.lr, rank=args.rank, seed=args.seed, model=args.model,
                          seconds=args.seconds, **recipe)
    bar = None
    for p in stream:
        bar = bar or tqdm(total=p.steps, unit="step")
        bar.update(p.step - bar.n)
        shown = {k: f"{v:.3f}" for k, v in (("loss", p.train_loss), ("held-out", p.eval_loss)) if v is not None}
        bar.set_postfix({**shown, "tok/s": f"{p.tokens_per_s:.0f}"})
        if p.eval_loss is not None:
            bar.write(f"step {p.step}: held-out loss {p.eval_loss:.4f}")
    bar.close()
    return p.result


def main():
    args = parse_args()
    device = torch.device(args.device)
    if args.dry_run:
        text = args.text or (DRY_TEXT * 8).encode()
        tuner = finetune.FineTuner(device, base=tiny_model(DRY_TEXT, device))
    else:
        text, tuner = args.text, finetune.FineTuner(device)
    result = train(tuner, args, text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    lora.save_adapter(result.adapter, args.out)
    print(json.dumps({**result.summary(), "adapter": str(args.out), "bytes": args.out.stat().st_size}, indent=2))


if __name__ == "__main__":
    main()
