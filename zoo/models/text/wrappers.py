"""The text models' wrappers (imports torch): a network plus its tokenizer, with the task's pre- and
postprocessing, ``training_batch(rows)`` and ``loss(inputs)``."""

from __future__ import annotations

import inspect
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from ...datasets.text import example_texts
from ...errors import UserError
from ..base import RANDOM_INIT, Batch, ZooModel
from . import TASK_OF
from .decode import beam_decode
from .tokenizer import BOS, EOS, PAD


class TextModel(ZooModel):
    """A network plus its tokenizer. ``hf``: the net is a transformers model (keyword inputs, .logits)."""

    def __init__(self, spec, net, tokenizer, weights_id=RANDOM_INIT, overrides=None, hf=False):
        super().__init__(spec, net, weights_id)
        self.tokenizer = tokenizer
        self.overrides = dict(overrides or {})
        self.hf = hf
        self.max_length = int(self.overrides.get("max_length", spec.preprocess.max_length))

    def example_items(self, n: int = 1) -> list:
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
        if self.hf:
            return self.net.generate(
                input_ids=inputs["src_ids"], attention_mask=inputs["src_mask"], num_beams=self.num_beams,
                max_new_tokens=self.max_new_tokens, decoder_start_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD,
                bos_token_id=BOS, do_sample=False,
            )
        return beam_decode(self.net, inputs["src_ids"], inputs["src_mask"], bos_id=BOS, eos_id=EOS, pad_id=PAD,
                           max_len=self.max_new_tokens, num_beams=self.num_beams)

    def postprocess(self, outputs, batch: Batch) -> list[dict]:
        texts = self.tokenizer.batch_decode(outputs.tolist(), skip_special_tokens=True)
        return [{"text": t.strip()} for t in texts]

    def training_batch(self, rows: dict) -> dict:
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
