"""Trains the bundled text model: a small GPT-2 and its own byte-level BPE tokenizer, from scratch.

    python -m training.train_text --minutes 7 --batch-size 64  # -> assets/text-model/ (the shipped run, on a GPU)
    python -m training.train_text --dry-run      # tiny data and model, for CI

Data: Project Gutenberg novels (training/novels.py), whole books held out for validation.
Recipe: nanoGPT-style: AdamW (0.9, 0.95), weight decay 0.1, warm-up then cosine decay to 10%,
gradient clipping at 1.0. Training is budgeted in wall-clock minutes (the cosine follows the
elapsed fraction), since on a 2-core CPU time, not data, is what runs out.
"""

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from tokenizers import ByteLevelBPETokenizer
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from training import data
from training.novels import DEFAULT_DATA, load_books

EOS = "<|endoftext|>"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DEFAULT_DATA), help="folder of Gutenberg .txt books")
    p.add_argument("--out", default="assets/text-model")
    p.add_argument("--run-dir", default="runs/text", help="tokenised data and checkpoints for --resume")
    p.add_argument("--vocab-size", type=int, default=8192)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=192)
    p.add_argument("--n-head", type=int, default=6)
    p.add_argument("--block-size", type=int, default=256, help="context length in tokens")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup-steps", type=int, default=100)
    p.add_argument("--minutes", type=float, default=60, help="wall-clock training budget")
    p.add_argument("--eval-every", type=float, default=10, help="minutes between validation passes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="2 books, tiny model, a few steps")
    args = p.parse_args()
    if args.dry_run:
        args.vocab_size, args.n_layer, args.n_embd, args.n_head, args.block_size = 512, 1, 32, 2, 64
        args.minutes, args.warmup_steps, args.batch_size = 0.1, 2, 4
        args.run_dir = args.run_dir + "-dry"
    return args


def build_tokenizer(texts: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=2, special_tokens=[EOS])
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token=EOS, eos_token=EOS)


def encode(tokenizer, texts: list[str]) -> np.ndarray:
    """All texts as one uint16 token stream, books separated by EOS."""
    ids = []
    for t in texts:
        ids.extend(tokenizer(t).input_ids + [tokenizer.eos_token_id])
    return np.array(ids, dtype=np.uint16)


def get_batch(data: np.ndarray, block: int, batch: int, g: torch.Generator) -> torch.Tensor:
    ix = torch.randint(len(data) - block, (batch,), generator=g).tolist()
    return torch.stack([torch.from_numpy(data[i:i + block].astype(np.int64)) for i in ix])  # (B, T)


@torch.no_grad()
def val_loss(model, data: np.ndarray, block: int, device, max_windows: int = 10_000) -> float:
    """Mean next-token loss over consecutive non-overlapping windows of the held-out books."""
    model.eval()
    n = min((len(data) - 1) // block, max_windows)
    x = torch.from_numpy(data[: n * block + 1].astype(np.int64))
    total = 0.0
    for i in range(0, n, 32):
        idx = torch.arange(i, min(i + 32, n))
        ids = torch.stack([x[j * block:(j + 1) * block] for j in idx.tolist()]).to(device)
        total += model(input_ids=ids, labels=ids).loss.item() * len(idx)
    model.train()
    return total / n


def lr_at(args, step: int, frac: float) -> float:
    if step < args.warmup_steps:
        return args.lr * (step + 1) / args.warmup_steps
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))


def prepare(args):
    """Tokenizer and token streams, cached in the run dir so --resume starts at once."""
    run = Path(args.run_dir)
    if (run / "tokenizer" / "tokenizer.json").exists():
        tok = PreTrainedTokenizerFast.from_pretrained(run / "tokenizer")
        return tok, np.load(run / "train.npy"), np.load(run / "valid.npy")
    train_texts, valid_texts = load_books(args.data, limit=2 if args.dry_run else None,
                                          max_chars=100_000 if args.dry_run else None)
    tok = build_tokenizer(train_texts, args.vocab_size)
    train, valid = encode(tok, train_texts), encode(tok, valid_texts)
    run.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(run / "tokenizer")
    np.save(run / "train.npy", train)
    np.save(run / "valid.npy", valid)
    print(f"{len(train_texts)} train books: {len(train):,} tokens; {len(valid_texts)} valid books: "
          f"{len(valid):,} tokens; chars/token {sum(map(len, train_texts)) / len(train):.2f}")
    return tok, train, valid


def new_model(args, tok) -> GPT2LMHeadModel:
    config = GPT2Config(vocab_size=len(tok), n_positions=args.block_size, n_embd=args.n_embd,
                        n_layer=args.n_layer, n_head=args.n_head, bos_token_id=tok.eos_token_id,
                        eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id)
    return GPT2LMHeadModel(config).to(args.device)


def train(model, train_ids: np.ndarray, valid_ids: np.ndarray, args):
    """Trains `model` in place for args.minutes of wall clock (resuming from args.run_dir with args.resume);
    yields {"step", "loss", "lr", "minutes", "tokens_per_s"} every 20 steps and {"step", "minutes", "val_loss"} at
    each evaluation. `args` holds the CLI's fields."""
    g = torch.Generator().manual_seed(args.seed)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95))
    run, step, elapsed, history = Path(args.run_dir), 0, 0.0, []
    if args.resume and (run / "state.pt").exists():
        state = torch.load(run / "state.pt", map_location=args.device, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, elapsed, history = state["step"], state["elapsed"], json.loads(state["history"])
    budget, last_eval, t0 = args.minutes * 60, elapsed, time.time() - elapsed
    while (elapsed := time.time() - t0) < budget:
        for group in opt.param_groups:
            group["lr"] = lr_at(args, step, elapsed / budget)
        x = get_batch(train_ids, args.block_size, args.batch_size, g).to(args.device)
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 20 == 0:
            yield {"step": step, "loss": loss.item(), "lr": opt.param_groups[0]["lr"],
                   "minutes": elapsed / 60, "tokens_per_s": step * args.batch_size * args.block_size / elapsed}
        if elapsed - last_eval > args.eval_every * 60:
            last_eval = elapsed
            history.append({"step": step, "minutes": round(elapsed / 60, 1),
                            "val_loss": val_loss(model, valid_ids, args.block_size, args.device, 200)})
            yield history[-1]
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                        "elapsed": time.time() - t0, "history": json.dumps(history)}, run / "state.pt")
    yield {"step": step, "minutes": elapsed / 60, "done": True}


def main():
    args = parse_args()
    torch.manual_seed(args.seed)
    tok, train_ids, valid_ids = prepare(args)
    model = new_model(args, tok)
    print(f"params {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M, budget {args.minutes} min")
    step, minutes, history = 0, 0.0, []
    for m in train(model, train_ids, valid_ids, args):
        print(m, flush=True)
        step, minutes = m["step"], m["minutes"]
        if "val_loss" in m:
            history.append(m)
    finish(args, model, tok, valid_ids, step, minutes * 60, history)


def finish(args, model, tok, valid, step, elapsed, history):
    out = Path(args.out)
    model.cpu().save_pretrained(out, max_shard_size="9MB")
    tok.model_max_length = args.block_size
    tok.save_pretrained(out)
    loss = val_loss(model, valid, args.block_size, "cpu")
    metrics = {"val_loss": round(loss, 4), "val_perplexity": round(math.exp(loss), 2),
               "val_tokens": int(len(valid)), "train_tokens": int(len(np.load(Path(args.run_dir) / "train.npy"))),
               "steps": step, "tokens_seen": step * args.batch_size * args.block_size,
               "train_minutes": round(elapsed / 60, 1), "device": args.device, "history": history,
               "params": sum(p.numel() for p in model.parameters()), "dry_run": args.dry_run}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    data.exit_plainly(main)  # absent data: what is missing, not a traceback
