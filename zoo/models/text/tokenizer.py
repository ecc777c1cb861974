"""Tokenizers trained on a training split with HF ``tokenizers``, wrapped as ``PreTrainedTokenizerFast``.

Two kinds:
  "wordpiece": BERT-style (lowercase normalizer, BertPreTokenizer, ``[CLS] A [SEP] B [SEP]`` template) for
               classification and extractive QA; character offsets map back into the raw text.
  "bpe":       Metaspace + punctuation pre-tokenizer, byte-free BPE, lossless decoding (spaces come back from
               the ``▁`` marks): for translation, where BLEU is computed on detokenized text.

Special tokens and their ids are the same in both: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4 [BOS]=5 [EOS]=6.
A model with no checkpoint uses ``default_tokenizer(task)``: trained once on the bundled train split and
cached under ``$ZOO_CACHE/tokenizers/`` (a few seconds), so a random-init model runs without any download.
A trained checkpoint carries its own ``tokenizer.json``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterable

from ...datasets.text import check_task, dataset_sha256, read_split
from ...io import atomic_write_text
from ...offline import zoo_cache_dir

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[BOS]", "[EOS]"]
PAD, UNK, CLS, SEP, MASK, BOS, EOS = range(len(SPECIALS))

# (kind, vocab size, lowercase) per task for the default tokenizer.
DEFAULTS = {"sst2": ("wordpiece", 8000, True), "squad": ("wordpiece", 16000, True), "multi30k": ("bpe", 8000, False)}


def train_tokenizer(texts: Iterable[str], kind: str = "wordpiece", vocab_size: int = 8000, lowercase: bool = True):
    """Train a tokenizer on ``texts``; returns a ``tokenizers.Tokenizer``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    norm = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
    if kind == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, min_frequency=2)
    elif kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token="[UNK]"))
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation()])
        tok.decoder = decoders.Metaspace()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, min_frequency=2)
    else:
        raise ValueError(f"unknown tokenizer kind {kind!r}; expected 'wordpiece' or 'bpe'")
    tok.normalizer = normalizers.Sequence(norm)
    tok.train_from_iterator(list(texts), trainer=trainer)
    if kind == "wordpiece":
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", CLS), ("[SEP]", SEP)]
        )
    return tok


def wrap(tok):
    """A ``tokenizers.Tokenizer`` as a ``transformers.PreTrainedTokenizerFast`` with zoo's special tokens."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", bos_token="[BOS]", eos_token="[EOS]",
    )


def load_tokenizer(path: str | os.PathLike):
    """A tokenizer saved by ``save_tokenizer`` (a ``tokenizer.json`` file or the folder holding one)."""
    from tokenizers import Tokenizer

    path = Path(path)
    if path.is_dir():
        path = path / "tokenizer.json"
    return wrap(Tokenizer.from_file(str(path)))


def save_tokenizer(tokenizer, path: str | os.PathLike) -> Path:
    """Write ``tokenizer.json`` atomically (zoo.io)."""
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    return atomic_write_text(path, backend.to_str(pretty=True))


def training_texts(task: str) -> list[str]:
    cols = read_split(task, "train")
    if task == "sst2":
        return cols["sentence"]
    if task == "multi30k":
        return cols["en"] + cols["de"]
    # SQuAD: each context once, and the questions
    return list(dict.fromkeys(cols["context"])) + cols["question"]


def default_tokenizer(task: str):
    """The task's tokenizer trained on its bundled train split; cached under $ZOO_CACHE/tokenizers/."""
    check_task(task)
    kind, vocab, lower = DEFAULTS[task]
    tag = dataset_sha256(task, "train")[:12]
    path = zoo_cache_dir() / "tokenizers" / f"{task}-{kind}-{vocab}-{tag}.json"
    if path.is_file():
        return load_tokenizer(path)
    tok = train_tokenizer(training_texts(task), kind, vocab, lower)
    try:
        save_tokenizer(tok, path)
    except OSError as e:  # a cache: a full disk or read-only folder costs the next run a retrain, nothing else
        print(f"zoo: warning: tokenizer not cached ({e.strerror or e}: {e.filename or path}); it is rebuilt "
              "next time", file=sys.stderr)
    return wrap(tok)
