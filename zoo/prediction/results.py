"""What ``predict`` returns: one small object per item, with named fields, a readable ``str`` and ``to_dict``.

    r = model.predict("bus.jpg")          # Classification(name='minibus', score=0.87, ...)
    r.name, r.score, r.topk[1].name       # named fields
    r.to_dict()                           # plain JSON-ready dict (what `zoo predict --json` writes)
    r["label"], r["topk"]                 # a result is also the model's prediction dict (``zoo.models.base``)

Torch-free: the export runtime (``zoo.prediction.runtime``) builds the same objects from NumPy outputs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Scored:
    """One class with its score: a top-k entry."""

    label: int
    name: str | None
    score: float

    def __str__(self) -> str:
        return f"{self.name if self.name is not None else self.label} {self.score:.3f}"


@dataclass(frozen=True)
class Box:
    """One detection: corners in original-image pixels (x1, y1, x2, y2), its class and score."""

    xyxy: tuple[float, float, float, float]
    label: int
    name: str | None
    score: float

    def __str__(self) -> str:
        x1, y1, x2, y2 = (round(v) for v in self.xyxy)
        return f"{self.name if self.name is not None else self.label} {self.score:.2f} [{x1}, {y1}, {x2}, {y2}]"


@dataclass(frozen=True, eq=True)
class Result(dict):
    """Base of every result: ``source`` (the file or text it came from, when known) and, as a dict, the raw
    prediction the model's postprocess gave (``result["label"]``, ``json.dumps(result)``), so code written
    against the prediction dicts keeps working."""

    source: str | None = field(default=None, kw_only=True)
    raw: dict = field(default_factory=dict, kw_only=True, repr=False, compare=False)

    def __post_init__(self):
        dict.update(self, self.raw)

    __hash__ = None  # a dict: mutable, unhashable

    def to_dict(self) -> dict:
        raise NotImplementedError

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def _where(self) -> str:
        return f"{self.source}: " if self.source else ""


@dataclass(frozen=True)
class Classification(Result):
    """Image, text or tabular classification: the top class (``label``, ``name``, ``score``) and the top-k."""

    label: int
    name: str | None
    score: float
    topk: tuple[Scored, ...] = ()

    def to_dict(self) -> dict:
        return {"source": self.source, "label": self.label, "name": self.name, "score": self.score,
                "topk": [{"label": t.label, "name": t.name, "score": t.score} for t in self.topk]}

    def __str__(self) -> str:
        rest = ", ".join(str(t) for t in self.topk[1:])
        return f"{self._where()}{Scored(self.label, self.name, self.score)}" + (f"  (then {rest})" if rest else "")


@dataclass(frozen=True)
class Detection(Result):
    """Object detection: the boxes, highest score first; ``xyxy`` / ``names`` / ``scores`` / ``labels`` are
    the same boxes as parallel lists. As a dict it stays the prediction (``set(det)`` is its keys), so
    iterate ``det.boxes`` for the boxes."""

    boxes: tuple[Box, ...] = ()

    @property
    def xyxy(self) -> list[list[float]]:
        return [list(b.xyxy) for b in self.boxes]

    @property
    def names(self) -> list[str | None]:
        return [b.name for b in self.boxes]

    @property
    def scores(self) -> list[float]:
        return [b.score for b in self.boxes]

    @property
    def labels(self) -> list[int]:
        return [b.label for b in self.boxes]

    def to_dict(self) -> dict:
        return {"source": self.source, "boxes": [{"xyxy": [round(v, 2) for v in b.xyxy], "label": b.label,
                                                   "name": b.name, "score": b.score} for b in self.boxes]}

    def __str__(self) -> str:
        counts: dict[str, int] = {}
        for b in self.boxes:
            key = str(b.name if b.name is not None else b.label)
            counts[key] = counts.get(key, 0) + 1
        summary = ", ".join(f"{n} {k}" for k, n in counts.items()) or "nothing"
        return f"{self._where()}{len(self.boxes)} boxes ({summary})"


@dataclass(frozen=True)
class Text(Result):
    """Translation: the generated text."""

    text: str

    def to_dict(self) -> dict:
        return {"source": self.source, "text": self.text}

    def __str__(self) -> str:
        return f"{self._where()}{self.text}"


@dataclass(frozen=True)
class Answer(Result):
    """Extractive question answering: the answer span's text and its character offsets into the context."""

    text: str
    start: int
    end: int

    def to_dict(self) -> dict:
        return {"source": self.source, "text": self.text, "start": self.start, "end": self.end}

    def __str__(self) -> str:
        return f"{self._where()}{self.text!r} (context chars {self.start}-{self.end})"


def _topk_from_probs(probs: list[float], names, k: int) -> tuple[Scored, ...]:
    order = sorted(range(len(probs)), key=lambda i: -probs[i])[:k]
    return tuple(Scored(i, _name(names, i), float(probs[i])) for i in order)


def _name(names, c: int) -> str | None:
    if names is None:
        return None
    try:
        return names[int(c)]
    except (IndexError, KeyError):
        return None


def to_result(task: str, pred: dict, names=None, source: str | None = None, top_k: int | None = None,
              conf: float | None = None) -> Result:
    """A model's prediction dict (``zoo.models.base`` lists the shapes per task) -> its result object.
    ``names``: index -> class name (a list, or a dict for COCO ids), or None where the label set is unknown;
    ``top_k``: classes kept; ``conf``: detection boxes scoring below it are left out."""
    if task == "object-detection":
        boxes = tuple(Box(tuple(float(v) for v in xyxy), int(c), _name(names, c), float(s))
                      for xyxy, s, c in zip(pred["boxes"], pred["scores"], pred["labels"])
                      if conf is None or s >= conf)
        return Detection(boxes=tuple(sorted(boxes, key=lambda b: -b.score)), source=source, raw=pred)
    if task == "translation":
        return Text(text=pred["text"], source=source, raw=pred)
    if task == "question-answering":
        return Answer(text=pred["text"], start=int(pred["start"]), end=int(pred["end"]), source=source, raw=pred)
    if "topk" in pred:
        topk = tuple(Scored(int(c), _name(names, c), float(p)) for c, p in pred["topk"])
    else:  # text / tabular classifiers give every class's probability
        topk = _topk_from_probs(pred["probs"], names, len(pred["probs"]))
    topk = topk[:top_k] if top_k else topk
    label = int(pred["label"])
    score = next((t.score for t in topk if t.label == label), topk[0].score if topk else float("nan"))
    return Classification(label=label, name=_name(names, label), score=score, topk=topk, source=source, raw=pred)
