"""Qwen2.5-0.5B-Instruct on the Hub allow-list (issue 27): its weights cannot be fetched here, so its path is taken
with a tiny random model of the same architecture (Qwen2), built from a config and served as that Hub name."""

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from generators import text
from generators.core.errors import ModelUnavailable
from training.train_text import build_tokenizer

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"
CORPUS = ["人工智能的未来 is the future of artificial intelligence, 它会怎样？", "The harbour."] * 20
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny_qwen(tmp_path_factory):
    """A Qwen2 of 2 layers with grouped-query attention and tied embeddings, as the real one has."""
    tok = build_tokenizer(CORPUS, vocab_size=400)
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         tie_word_embeddings=True, bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id)
    folder = tmp_path_factory.mktemp("qwen2")
    Qwen2ForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_qwen_is_allow_listed():
    assert QWEN in text.HUB_MODELS and QWEN in text.MODELS
    text.check_args("人工智能的未来", QWEN, 8, 0.8, 40, 0.95, 1.1, 0, 1)  # no InputError


def test_its_path_runs_a_model_of_its_architecture(tiny_qwen, monkeypatch):
    """The Hub branch of text.load (a cached copy, local files only) with the tiny model standing in for the Hub's
    files: the generic decoding path streams, reproduces a seed and writes Chinese text back whole."""
    real = text._from_pretrained
    monkeypatch.setattr(text, "_from_pretrained", lambda source, device, **kw: real(
        tiny_qwen if source == QWEN else source, device, **kw))
    tc = text.TextContinuation(torch.device("cpu"))
    lm = tc.load(QWEN)
    assert type(lm.model).__name__ == "Qwen2ForCausalLM" and lm.fast is None  # not the GPT-2 lean path
    assert lm.context == 128  # from max_position_embeddings
    items = list(tc.stream("人工智能的未来", model=QWEN, max_new_tokens=6, seed=4))
    last = items[-1][0]
    assert last.finished and last.text.startswith("人工智能的未来") and len(last.tokens) >= 1
    assert last == tc.continue_text("人工智能的未来", model=QWEN, max_new_tokens=6, seed=4)[0]
    text._MODELS.pop((QWEN, "cpu"), None)  # the stand-in leaves the process's model cache


def test_offline_it_says_the_hub_cannot_be_reached():
    with pytest.raises(ModelUnavailable, match=r"text_hub_offline\(model=Qwen2.5-0.5B-Instruct\)"):
        text.TextContinuation(torch.device("cpu")).stream("人工智能", model=QWEN)
