"""Recurrent networks written in plain torch: a sentence classifier and an attention encoder-decoder.

RNNClassifier: embedding -> (Bi)LSTM/GRU over the packed sequence -> max-pool over time (padding masked)
    -> dropout -> linear. Inputs: {"input_ids": (B, T) long, "attention_mask": (B, T)}; output: (B, C) logits.

Seq2SeqAttention: bidirectional GRU/LSTM encoder; unidirectional decoder of the same cell with attention
    over the encoder states:
      "bahdanau" (Bahdanau et al. 2015): additive score v^T tanh(W s_{t-1} + U h_i); the context enters the
          decoder RNN's input, so decoding runs step by step.
      "luong" (Luong et al. 2015, "general" score s_t^T W h_i, no input feeding): the decoder RNN runs over
          the whole target at once under teacher forcing; attention and the output layer follow in batch.
    Source and target share one vocabulary and one embedding table (joint BPE), tied with the output layer.
    ``forward(inputs)`` with inputs {"src_ids", "src_mask", "tgt_in"} gives teacher-forced logits (B, T, V).
    ``encode`` / ``step`` are the decoding interface used by ``zoo.models.text.decode``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


def _cell(cell: str):
    try:
        return _CELLS[cell]
    except KeyError:
        raise ValueError(f"unknown RNN cell {cell!r}; expected 'lstm' or 'gru'") from None


def _run_packed(rnn: nn.Module, x: torch.Tensor, mask: torch.Tensor):
    lengths = mask.sum(1).clamp(min=1).cpu()
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, state = rnn(packed)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out, state


class RNNClassifier(nn.Module):
    def __init__(self, vocab_size: int, num_classes: int = 2, cell: str = "lstm", embed_dim: int = 128,
                 hidden_size: int = 128, num_layers: int = 1, bidirectional: bool = False, dropout: float = 0.5,
                 pad_id: int = 0):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.rnn = _cell(cell)(embed_dim, hidden_size, num_layers=num_layers, batch_first=True,
                               bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    def forward(self, inputs: dict) -> torch.Tensor:
        ids, mask = inputs["input_ids"], inputs["attention_mask"].bool()
        out, _ = _run_packed(self.rnn, self.drop(self.embed(ids)), mask)
        pooled = out.masked_fill(~mask[..., None], float("-inf")).max(1).values
        return self.fc(self.drop(pooled))


def _select_state(state, idx: torch.Tensor):
    """Reorder the batch dimension (dim 1) of a GRU state or an LSTM (h, c) pair."""
    if isinstance(state, tuple):
        return tuple(s.index_select(1, idx) for s in state)
    return state.index_select(1, idx)


class Seq2SeqAttention(nn.Module):
    def __init__(self, vocab_size: int, cell: str = "gru", attention: str = "luong", embed_dim: int = 256,
                 hidden_size: int = 512, num_layers: int = 1, dropout: float = 0.3, pad_id: int = 0):
        super().__init__()
        if attention not in ("bahdanau", "luong"):
            raise ValueError(f"unknown attention {attention!r}; expected 'bahdanau' or 'luong'")
        if hidden_size % 2:
            raise ValueError("hidden_size must be even (the bidirectional encoder has hidden_size/2 per direction)")
        rnn = _cell(cell)
        self.cell, self.attention, self.num_layers = cell, attention, num_layers
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.drop = nn.Dropout(dropout)
        self.encoder = rnn(embed_dim, hidden_size // 2, num_layers=num_layers, batch_first=True, bidirectional=True,
                           dropout=dropout if num_layers > 1 else 0.0)
        self.bridge = nn.Linear(hidden_size, hidden_size)
        dec_in = embed_dim + (hidden_size if attention == "bahdanau" else 0)
        self.decoder = rnn(dec_in, hidden_size, num_layers=num_layers, batch_first=True,
                           dropout=dropout if num_layers > 1 else 0.0)
        if attention == "bahdanau":
            self.att_query = nn.Linear(hidden_size, hidden_size, bias=False)
            self.att_key = nn.Linear(hidden_size, hidden_size)
            self.att_v = nn.Linear(hidden_size, 1, bias=False)
        else:
            self.att_w = nn.Linear(hidden_size, hidden_size, bias=False)
        self.combine = nn.Linear(2 * hidden_size, embed_dim)
        self.out = nn.Linear(embed_dim, vocab_size)
        self.out.weight = self.embed.weight  # tied input/output embeddings

    # -- encoder ---------------------------------------------------------------------------------------
    def encode(self, src_ids: torch.Tensor, src_mask: torch.Tensor):
        """-> (encoder states (B, S, H), mask (B, S) bool, initial decoder state)."""
        mask = src_mask.bool()
        enc, state = _run_packed(self.encoder, self.drop(self.embed(src_ids)), mask)
        h = state[0] if isinstance(state, tuple) else state  # (layers*2, B, H/2)
        h = h.view(self.num_layers, 2, h.shape[1], h.shape[2])
        h0 = torch.tanh(self.bridge(torch.cat([h[:, 0], h[:, 1]], dim=-1))).contiguous()
        init = (h0, torch.zeros_like(h0)) if self.cell == "lstm" else h0
        return enc, mask, init

    # -- attention -------------------------------------------------------------------------------------
    def _attend(self, query: torch.Tensor, enc: torch.Tensor, mask: torch.Tensor, keys: torch.Tensor | None = None):
        """query (B, T, H) -> context (B, T, H). ``keys`` caches the encoder projection."""
        if self.attention == "bahdanau":
            keys = self.att_key(enc) if keys is None else keys
            scores = self.att_v(torch.tanh(self.att_query(query)[:, :, None] + keys[:, None])).squeeze(-1)
        else:
            keys = self.att_w(enc) if keys is None else keys
            scores = query @ keys.transpose(1, 2)
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        return torch.softmax(scores, dim=-1) @ enc

    def _project_keys(self, enc):
        return self.att_key(enc) if self.attention == "bahdanau" else self.att_w(enc)

    def _logits(self, dec_out, ctx):
        return self.out(self.drop(torch.tanh(self.combine(torch.cat([dec_out, ctx], dim=-1)))))

    @staticmethod
    def _top(state):
        return (state[0] if isinstance(state, tuple) else state)[-1]

    # -- teacher forcing -------------------------------------------------------------------------------
    def forward(self, inputs: dict) -> torch.Tensor:
        enc, mask, state = self.encode(inputs["src_ids"], inputs["src_mask"])
        emb = self.drop(self.embed(inputs["tgt_in"]))
        keys = self._project_keys(enc)
        if self.attention == "luong":
            dec, _ = self.decoder(emb, state)
            return self._logits(dec, self._attend(dec, enc, mask, keys))
        outs, ctxs = [], []
        for t in range(emb.shape[1]):
            ctx = self._attend(self._top(state)[:, None], enc, mask, keys)
            dec, state = self.decoder(torch.cat([emb[:, t : t + 1], ctx], dim=-1), state)
            outs.append(dec)
            ctxs.append(ctx)
        return self._logits(torch.cat(outs, 1), torch.cat(ctxs, 1))

    # -- one decoding step -----------------------------------------------------------------------------
    def init_decoding(self, src_ids, src_mask):
        enc, mask, state = self.encode(src_ids, src_mask)
        return {"enc": enc, "mask": mask, "keys": self._project_keys(enc)}, state

    def step(self, tokens: torch.Tensor, state, memory: dict):
        """tokens (N,) -> log-probabilities (N, V), new state."""
        emb = self.embed(tokens)[:, None]
        if self.attention == "luong":
            dec, state = self.decoder(emb, state)
            ctx = self._attend(dec, memory["enc"], memory["mask"], memory["keys"])
        else:
            ctx = self._attend(self._top(state)[:, None], memory["enc"], memory["mask"], memory["keys"])
            dec, state = self.decoder(torch.cat([emb, ctx], dim=-1), state)
        return F.log_softmax(self._logits(dec, ctx)[:, 0], dim=-1), state

    @staticmethod
    def reorder(state, memory: dict, idx: torch.Tensor):
        return _select_state(state, idx), {k: v.index_select(0, idx) for k, v in memory.items()}
