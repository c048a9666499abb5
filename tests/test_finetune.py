"""Fine-tuning: the LoRA adapter on a tiny seeded GPT-2 (and a tiny Llama), its adapter file, its input checks, the
command line's --dry-run, and the GGUF load path on a tiny GGUF written here."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from generators.lm import corpus, lora, smollm
from generators.core.errors import InputError, ModelUnavailable
from generators.finetune import FineTuner
from generators.text import LoadedModel, TextContinuation
from generators.lm.text_decoding import Sampling
from training import tiny
from training.train_text import build_tokenizer

REPO = Path(__file__).resolve().parents[1]
TOY = "The cat sat on the mat. The dog sat on the log. " * 40  # repeated: a model can learn it in a few steps
OTHER = "Rain fell on the harbour and the boats rocked slowly. " * 40
RECIPE = dict(batch_size=4, block_size=16, eval_every=5, seconds=0)  # no time budget: exactly reproducible


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny models, one thread


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer([TOY, OTHER, "Café, naïve — “quoted” words."], vocab_size=300)


def gpt2(tokenizer, n_embd=32, seed=0) -> LoadedModel:
    """A tiny random GPT-2 (seeded) as the LoadedModel generators.text would give."""
    return tiny.loaded(tiny.tiny_gpt2(tokenizer, n_embd=n_embd, seed=seed), tokenizer)


def llama(tokenizer) -> LoadedModel:
    """A tiny Llama (SmolLM2's architecture): LoRA on q/k/v/o and the MLP, the generic decoding path."""
    return tiny.loaded(tiny.tiny_llama(tokenizer), tokenizer)


@pytest.fixture(scope="module")
def base(tokenizer):
    return gpt2(tokenizer)


def train(base, text=TOY, steps=20, **kw):
    kw = {"lr": 1e-2, "rank": 4, "seed": 0, **RECIPE, **kw}
    return FineTuner(base=base).finetune(text=text, steps=steps, **kw)


def continuation(lm, prompt="The cat", seed=3, n=24) -> str:
    """What the text adapter streams for this LoadedModel (the path /continue_text takes with an adapter)."""
    *_, last = TextContinuation(lm.device)._generate(lm, prompt, n, Sampling(temperature=1.0), seed, 1)
    return last[0].text


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_the_loss_falls_on_a_repeated_text(base):
    items = list(FineTuner(base=base).stream(text=TOY, steps=30, lr=1e-2, rank=4, seed=0, **RECIPE))
    assert [p.step for p in items] == list(range(31))  # one update before training, then one per step
    assert items[0].eval_loss is not None and items[0].train_loss is None
    assert [p.step for p in items if p.eval_loss is not None] == [0, 5, 10, 15, 20, 25, 30]
    r = items[-1].result
    assert r is not None and all(p.result is None for p in items[:-1])
    assert r.steps_done == 30 and r.perplexity_after < 0.75 * r.perplexity_before  # 297 -> 193 (0.02-init logits)
    assert sum(p.train_loss for p in items[-5:]) < sum(p.train_loss for p in items[1:6])
    assert r.summary().keys() >= {"perplexity_before", "perplexity_after", "steps_done", "seconds"}


def test_the_same_seed_trains_the_same_adapter(base):
    a, b, c = train(base).adapter, train(base).adapter, train(base, seed=1).adapter
    assert all(torch.equal(a.weights[k], b.weights[k]) for k in a.weights)
    assert not all(torch.equal(a.weights[k], c.weights[k]) for k in a.weights)


def test_closing_the_stream_stops_training_and_keeps_what_was_learnt(base):
    stream = FineTuner(base=base).stream(text=TOY, steps=50, lr=1e-2, rank=4, seed=0, **RECIPE)
    first = next(stream)
    optimizer_steps = []
    first.run.opt.register_step_post_hook(lambda *_: optimizer_steps.append(1))
    for p in stream:
        if p.step == 6:
            break
    stream.close()
    assert len(optimizer_steps) == 6 and next(stream, None) is None and len(optimizer_steps) == 6
    r = p.run.result()  # a Stop keeps the run: perplexities, steps and the adapter so far
    assert r.steps_done == 6 and r.perplexity_after < r.perplexity_before
    assert any(k.endswith("lora_B.weight") and v.abs().sum() > 0 for k, v in r.adapter.weights.items())
    assert continuation(lora.load_adapter(lora.save_adapter(r.adapter), base))


def test_two_sessions_do_not_mix_and_the_base_stays_untouched(base):
    before, flags, text_before = weights(base.model), [p.requires_grad for p in base.model.parameters()], \
        continuation(base)
    one = FineTuner(base=base).stream(text=TOY, steps=8, lr=1e-2, rank=4, seed=0, **RECIPE)
    two = FineTuner(base=base).stream(text=OTHER, steps=8, lr=1e-2, rank=4, seed=0, **RECIPE)
    for p, q in zip(one, two):  # interleaved, as two users' requests would be
        pass
    alone = train(base, steps=8)
    assert all(torch.equal(p.result.adapter.weights[k], alone.adapter.weights[k]) for k in alone.adapter.weights)
    assert not all(torch.equal(p.result.adapter.weights[k], q.result.adapter.weights[k]) for k in alone.adapter.weights)
    after = weights(base.model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert [p.requires_grad for p in base.model.parameters()] == flags
    assert continuation(base) == text_before
    tuned = lora.apply_adapter(base, alone.adapter)
    after = weights(base.model)  # applying an adapter copies nothing into the base either
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert tuned.model.transformer.wte.weight.data_ptr() == base.model.transformer.wte.weight.data_ptr()  # shared


def test_the_merged_model_computes_what_the_lora_model_computes(base):
    r = train(base)
    run = FineTuner(base=base).stream(text=TOY, steps=20, lr=1e-2, rank=4, seed=0, **RECIPE)
    *_, last = run
    ids = torch.tensor([base.tokenizer("The cat sat on").input_ids])
    with torch.no_grad():
        peft_lora = last.run.model(input_ids=ids).logits
        merged = lora.apply_adapter(base, r.adapter).model(input_ids=ids).logits
        plain = base.model(input_ids=ids).logits
    assert torch.allclose(peft_lora, merged, atol=1e-5) and not torch.allclose(plain, merged, atol=1e-3)


def test_the_adapter_round_trip_gives_the_same_continuation(base, tmp_path):
    adapter = train(base).adapter
    tuned = lora.apply_adapter(base, adapter)
    blob = lora.save_adapter(adapter)
    assert isinstance(blob, bytes) and len(blob) < 200_000
    path = lora.save_adapter(adapter, tmp_path / "adapter.safetensors")
    for uploaded in (lora.load_adapter(blob, base), lora.load_adapter(path, base),
                     lora.load_adapter(str(path), base)):
        assert uploaded.fast is not None  # merged: the lean GPT-2 path decodes it
        assert continuation(uploaded) == continuation(tuned)
    assert continuation(tuned) != continuation(base)
    config = lora.read_adapter(blob, base).config
    assert config["rank"] == 4 and config["fan_in_fan_out"] is True and config["base_sha256"] == \
        lora.fingerprint(base.model)
    assert set(config["target_modules"]) == {"c_attn", "c_proj", "c_fc"}


def test_applied_adapters_are_kept_by_their_bytes_and_the_least_recent_goes(base, tmp_path, monkeypatch):
    loads, load = [], lora.load_adapter
    monkeypatch.setattr(lora, "load_adapter", lambda source, lm: loads.append(1) or load(source, lm))
    monkeypatch.setattr(lora, "_CACHE", type(lora._CACHE)())
    path = lora.save_adapter(train(base, steps=2).adapter, tmp_path / "a.safetensors")
    (tmp_path / "b.safetensors").write_bytes(path.read_bytes())  # the same file uploaded again, another path
    first = lora.cached_adapter(str(path), base)
    assert lora.cached_adapter(str(tmp_path / "b.safetensors"), base) is first and len(loads) == 1
    for seed in range(1, lora.CACHED + 1):  # CACHED other adapters push it out
        lora.cached_adapter(lora.save_adapter(train(base, steps=1, seed=seed).adapter), base)
    again = lora.cached_adapter(str(path), base)
    assert again is not first and len(loads) == lora.CACHED + 2 and continuation(again) == continuation(first)


def test_lora_on_a_llama_round_trips_on_the_generic_path(tokenizer):
    lm = llama(tokenizer)
    r = train(lm, steps=10)
    assert any(".self_attn.q_proj.lora_A" in k for k in r.adapter.weights)
    assert any(".mlp.down_proj.lora_B" in k for k in r.adapter.weights)
    tuned = lora.load_adapter(lora.save_adapter(r.adapter), lm)
    assert tuned.fast is None and continuation(tuned) == continuation(lora.apply_adapter(lm, r.adapter))
    assert r.perplexity_after < r.perplexity_before


def test_an_adapter_for_another_model_is_refused(base, tokenizer):
    wider = train(gpt2(tokenizer, n_embd=48), steps=2).adapter  # other shapes
    with pytest.raises(InputError) as e:
        lora.load_adapter(lora.save_adapter(wider), base)
    assert e.value.key == "finetune_adapter_mismatch" and e.value.fields["file"] == (4, 48)
    reseeded = train(gpt2(tokenizer, seed=1), steps=2).adapter  # the same shapes, other weights
    with pytest.raises(InputError) as e:
        lora.load_adapter(lora.save_adapter(reseeded), base)
    assert e.value.key == "finetune_adapter_mismatch" and e.value.fields["what"] == "base_sha256"
    with pytest.raises(InputError) as e:
        lora.load_adapter(lora.save_adapter(train(llama(tokenizer), steps=2).adapter), base)
    assert e.value.key == "finetune_adapter_mismatch" and e.value.fields["what"] == "model_type"


def test_files_that_are_not_adapters_are_refused(base, tmp_path):
    from safetensors.torch import save

    torch.save({"x": torch.zeros(2)}, tmp_path / "pickle.bin")
    adapter = train(base, steps=2).adapter
    nan = lora.LoraAdapter({k: v * float("nan") for k, v in adapter.weights.items()}, adapter.config)
    for bad in (b"", b"not a file at all", save({"x": torch.zeros(2)}), (tmp_path / "pickle.bin").read_bytes(),
                lora.save_adapter(nan), str(tmp_path / "missing.safetensors")):
        with pytest.raises(InputError) as e:
            lora.read_adapter(bad, base)
        assert e.value.key == "finetune_adapter_invalid"
    with pytest.raises(InputError) as e:
        lora.read_adapter(b"\0" * (lora.MAX_ADAPTER_BYTES + 1), base)
    assert e.value.key == "finetune_adapter_too_large"


def bad_inputs(tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * (corpus.MAX_TEXT_BYTES + 1))
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Café au lait, s'il vous plaît. ".encode("latin-1") * 40)
    return [
        ({"text": ""}, "finetune_empty"), ({"text": " \n\t "}, "finetune_empty"), ({"text": None}, "finetune_empty"),
        ({"text": "Too short."}, "finetune_too_short"),
        ({"text": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 100}, "finetune_binary"),
        ({"text": "".join(chr(i % 32) for i in range(1, 3000))}, "finetune_binary"),
        ({"text": latin1.read_bytes()}, "finetune_not_utf8"), ({"text": latin1}, "finetune_not_utf8"),
        ({"text": "bad \ud800 surrogate " * 100}, "finetune_not_utf8"),
        ({"text": "a" * (corpus.MAX_TEXT_BYTES + 1)}, "finetune_too_large"), ({"text": big}, "finetune_too_large"),
        ({"steps": 0}, "int_range"), ({"steps": 2001}, "int_range"), ({"steps": 2.5}, "int_range"),
        ({"lr": 0.0}, "float_range"), ({"lr": 1.0}, "float_range"), ({"lr": float("nan")}, "float_range"),
        ({"rank": 0}, "int_range"), ({"rank": 65}, "int_range"), ({"seed": -1}, "int_range"),
        ({"seconds": -1.0}, "float_range"), ({"seconds": 601}, "float_range"), ({"method": "qlora"}, "choice"),
    ]


def test_bad_inputs_raise_before_training(base, tmp_path):
    for kwargs, key in bad_inputs(tmp_path):
        args = {"text": TOY, "steps": 5, "lr": 1e-3, "rank": 4, "seed": 0, **RECIPE, **kwargs}
        with pytest.raises(InputError) as e:
            FineTuner(base=base).stream(**args)  # raised at the call, before any item
        assert e.value.key == key, kwargs


def test_the_shortest_text_is_one_batch_plus_the_held_out_tenth(base):
    need = corpus.min_tokens(RECIPE["batch_size"], RECIPE["block_size"])
    ids = base.tokenizer(TOY).input_ids
    split = corpus.split_tokens(ids[:need], RECIPE["batch_size"], RECIPE["block_size"])
    assert len(split.train) >= RECIPE["batch_size"] * RECIPE["block_size"] + 1 and len(split.held) >= 16
    assert torch.equal(torch.cat([split.train, split.held]), torch.tensor(ids[:need]))
    with pytest.raises(InputError) as e:
        corpus.split_tokens(ids[:need - 1], RECIPE["batch_size"], RECIPE["block_size"])
    assert e.value.key == "finetune_too_short" and e.value.fields == {"tokens": need - 1, "need": need}
    assert corpus.read_text(("\ufeff" + TOY.replace(". ", ".\r\n")).encode()) == TOY.replace(". ", ".\n")


@pytest.mark.slow  # the command line's dry run, in a process of its own
def test_the_command_line_dry_run(tmp_path):
    out = tmp_path / "adapter.safetensors"
    done = subprocess.run([sys.executable, "-m", "training.finetune_text", "--dry-run", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"steps_done": 4' in done.stdout and out.stat().st_size > 0
    from safetensors import safe_open

    with safe_open(out, "pt") as f:
        assert f.metadata()["format"] == lora.FORMAT and any("lora_A" in k for k in f.keys())


# The GGUF load path (SmolLM2 ships as a GGUF file), on a tiny Llama GGUF written here ------------------------------

def permute(w: torch.Tensor, n_head: int) -> torch.Tensor:
    """llama.cpp's convert_hf_to_gguf.py `permute` of q/k rows (rotary halves interleaved); the loader undoes it."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_gguf(path: Path, lm: LoadedModel) -> None:
    import gguf

    c, sd, tok = lm.model.config, lm.model.state_dict(), lm.tokenizer
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_context_length(c.max_position_embeddings), w.add_embedding_length(c.hidden_size)
    w.add_block_count(c.num_hidden_layers), w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads), w.add_head_count_kv(c.num_key_value_heads)
    w.add_layer_norm_rms_eps(c.rms_norm_eps), w.add_rope_freq_base(c.rope_parameters["rope_theta"])
    w.add_vocab_size(c.vocab_size)
    vocab = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    w.add_tokenizer_model("gpt2"), w.add_tokenizer_pre("gpt2")
    w.add_token_list([t for t, _ in vocab])
    w.add_token_types([3 if t == tok.eos_token else 1 for t, _ in vocab])  # 3: control
    w.add_token_merges(_merges(tok))
    w.add_bos_token_id(tok.eos_token_id), w.add_eos_token_id(tok.eos_token_id)
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight"}
    parts = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}
    for i in range(c.num_hidden_layers):
        names.update({f"model.layers.{i}.{hf}.weight": f"blk.{i}.{g}.weight" for hf, g in parts.items()})
    for hf, name in names.items():
        t = sd[hf]
        if name.endswith("attn_q.weight"):
            t = permute(t, c.num_attention_heads)
        elif name.endswith("attn_k.weight"):
            t = permute(t, c.num_key_value_heads)
        w.add_tensor(name, t.float().numpy())
    w.write_header_to_file(), w.write_kv_data_to_file(), w.write_tensors_to_file()
    w.close()


def _merges(tok) -> list[str]:
    import json

    merges = json.loads(tok.backend_tokenizer.to_str())["model"]["merges"]
    return [" ".join(m) if isinstance(m, list) else m for m in merges]


def test_a_gguf_file_loads_as_the_model_it_was_written_from(tokenizer, tmp_path):
    lm = llama(tokenizer)
    write_gguf(tmp_path / "tiny.gguf", lm)
    loaded = smollm.load_gguf(tmp_path, "tiny.gguf", torch.device("cpu"))
    assert loaded.fast is None and loaded.context == 64
    assert loaded.tokenizer(TOY[:60]).input_ids == tokenizer(TOY[:60]).input_ids
    ids = torch.tensor([tokenizer(TOY[:60]).input_ids])
    with torch.no_grad():
        assert torch.allclose(loaded.model(ids).logits, lm.model(ids).logits, atol=1e-5)
    assert continuation(loaded, seed=5) == continuation(lm, seed=5)


def test_smollm2_without_its_package_is_a_plain_error(monkeypatch):
    monkeypatch.setattr(smollm, "gguf_path", lambda: None)
    assert not smollm.available() and smollm.offered() == ()  # the model dropdowns do not list it
    with pytest.raises(ModelUnavailable) as e:
        smollm.load(torch.device("cpu"))
    assert e.value.key == "smollm_not_installed"


def test_a_gguf_load_writes_a_safetensors_copy_that_later_loads_read(tokenizer, tmp_path):
    lm = llama(tokenizer)
    write_gguf(tmp_path / "tiny.gguf", lm)
    cache = tmp_path / "cache" / "tiny-copy"
    first = smollm.load_gguf(tmp_path, "tiny.gguf", torch.device("cpu"), cache)
    assert (cache / "config.json").is_file() and (cache / "model.safetensors").is_file()
    (tmp_path / "tiny.gguf").unlink()  # the second load can only read the copy
    second = smollm.load_gguf(tmp_path, "tiny.gguf", torch.device("cpu"), cache)
    ids = torch.tensor([tokenizer(TOY[:60]).input_ids])
    with torch.no_grad():
        assert torch.equal(first.model(ids).logits, second.model(ids).logits)
    assert second.tokenizer(TOY[:60]).input_ids == ids[0].tolist()
    assert continuation(second, seed=2) == continuation(lm, seed=2)
