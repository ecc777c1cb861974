"""The one builder of every text model (imports torch and transformers): network, tokenizer, weights."""

from __future__ import annotations

import os
from pathlib import Path

import transformers as tf
from transformers import AutoTokenizer

from ...errors import UserError
from ...spec import ModelSpec
from ...weights import ensure_files, ensure_weights, load_state_dict, weights_id as weights_id_of
from ...weights.sources import companion
from ..base import RANDOM_INIT
from . import HF_DROPOUT_OPTIONS, MINILM_TOKENIZER_FILES, RNN_OPTIONS, SEQ2SEQ_OPTIONS, TASK_OF, minilm_weights
from .wrappers import QuestionAnswerer, TextClassifier, Translator
from .checkpoint import CONFIG, check_architecture, load_tokenizer_dir, load_weights
from .rnn import RNNClassifier, Seq2SeqAttention
from .tokenizer import BOS, EOS, PAD, default_tokenizer


def _minilm_tokenizer_folder() -> Path:
    """The verified MiniLM tokenizer files' folder (site-packages, else zoo's cache), for random-init models that
    use the MiniLM vocabulary; UserError when they are not there (offline, package not installed, not fetched)."""
    paths = [ensure_weights(companion(minilm_weights(), f, h)) for f, h in MINILM_TOKENIZER_FILES.items()]
    if len({p.parent for p in paths}) != 1:
        raise UserError(f"the MiniLM tokenizer files are split between {sorted({str(p.parent) for p in paths})}")
    return paths[0].parent


def _tokenizer(spec: ModelSpec, checkpoint: Path | None, pretrained_folder: Path | None):
    if checkpoint is not None:
        return load_tokenizer_dir(checkpoint)
    if pretrained_folder is not None:
        if spec.extra.get("hub"):
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


def memory_bytes() -> int | None:
    """This machine's physical memory, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_buildable(make, where) -> None:
    """Build the network on the meta device (shapes, no memory) and refuse it when its parameters and
    buffers would not fit in this machine's memory: a config asking for a 2.5 TB tensor is one line, not an
    allocation that the kernel kills or a MemoryError."""
    import torch

    try:
        with torch.device("meta"):
            net = make()
    except (ValueError, TypeError, RuntimeError, OverflowError) as e:
        raise UserError(f"{where}: the network it describes cannot be built ({' '.join(str(e).split())[:120]})") from None
    need = sum(t.numel() * t.element_size() for t in (*net.parameters(), *net.buffers()))
    have = memory_bytes()
    if have is not None and need > have:
        raise UserError(f"{where}: the network it describes needs {need / 2**30:.1f} GiB for its weights, more than "
                        f"this machine's {have / 2**30:.1f} GiB; not built")


def _build_net(spec: ModelSpec, vocab_size: int, ov: dict, hf_config: dict | None, pretrained_folder: Path | None):
    arch = spec.extra["arch"]
    if arch in ("lstm", "gru", "bilstm"):
        kw = {k: ov[k] for k in RNN_OPTIONS if k in ov}
        return RNNClassifier(vocab_size, spec.num_classes, cell="gru" if arch == "gru" else "lstm",
                             bidirectional=arch == "bilstm", **kw)
    if arch == "rnn_attention":
        kw = {k: ov[k] for k in SEQ2SEQ_OPTIONS if k in ov}
        return Seq2SeqAttention(vocab_size, **kw)
    cls_name, cfg_name = _HF_CLASSES[spec.extra["hf_class"]]
    cls, cfg_cls = getattr(tf, cls_name), getattr(tf, cfg_name)
    if pretrained_folder is not None and spec.extra.get("hub"):  # a whole fine-tuned checkpoint: config + weights
        return cls.from_pretrained(str(pretrained_folder), local_files_only=True)
    if hf_config is not None:
        return cls(cfg_cls.from_dict(hf_config))
    cfg = dict(spec.extra["hf_config"])
    cfg.update({k: v for k, v in ov.items() if k in cfg or k in HF_DROPOUT_OPTIONS})
    if spec.extra["hf_class"] == "bart_mt":
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
    hf_config = None
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        cfg = check_architecture(checkpoint, spec)
        overrides = {**cfg.get("overrides", {}), **overrides}
        hf_config = cfg.get("hf_config")
    folder = None
    weights_id = RANDOM_INIT
    if pretrained and checkpoint is None:
        if spec.weights is None:
            raise UserError(f"{spec.name} has no pretrained weights registered; train it with `zoo train {spec.name}`")
        folder = ensure_files(spec)  # weights + config/tokenizer files, each verified; offline + missing: `zoo fetch`
        weights_id = weights_id_of(folder / Path(spec.weights.file_name).name)  # "unpinned:<sha256>" if allowed so
    tokenizer = _tokenizer(spec, checkpoint, folder)
    if checkpoint is not None or overrides:  # sizes someone else wrote: weigh the network before allocating it
        check_buildable(lambda: _build_net(spec, len(tokenizer), overrides, hf_config, None),
                        checkpoint / CONFIG if checkpoint is not None else f"{spec.name} overrides")
    net = _build_net(spec, len(tokenizer), overrides, hf_config, folder)
    if checkpoint is not None:
        weights_id = load_weights(net, checkpoint)
    return _WRAPPERS[spec.task](spec, net, tokenizer, weights_id, overrides, hf=spec.source == "transformers")
