"""Greedy and beam-search decoding for a model with the ``init_decoding / step / reorder`` interface
(``zoo.models.text.rnn.Seq2SeqAttention``). Batched; returns token ids (B, <= max_len) without BOS, padded with
``pad_id`` after EOS.

Beam search keeps ``num_beams`` hypotheses per sentence, scores finished ones by
log P / length**length_penalty (Wu et al. 2016 use a similar normalization), and stops a sentence when its
best finished score cannot be beaten by any open hypothesis that keeps the same length normalization
(approximated, as in most toolkits, by stopping when ``num_beams`` hypotheses are finished).
"""

from __future__ import annotations

import torch


@torch.no_grad()
def greedy_decode(model, src_ids, src_mask, *, bos_id: int, eos_id: int, pad_id: int = 0, max_len: int = 64):
    memory, state = model.init_decoding(src_ids, src_mask)
    b = src_ids.shape[0]
    tokens = torch.full((b,), bos_id, dtype=torch.long, device=src_ids.device)
    done = torch.zeros(b, dtype=torch.bool, device=src_ids.device)
    out = []
    for _ in range(max_len):
        logp, state = model.step(tokens, state, memory)
        tokens = logp.argmax(-1)
        tokens = tokens.masked_fill(done, pad_id)
        out.append(tokens)
        done |= tokens == eos_id
        if done.all():
            break
    return torch.stack(out, 1)


@torch.no_grad()
def beam_decode(model, src_ids, src_mask, *, bos_id: int, eos_id: int, pad_id: int = 0, max_len: int = 64,
                num_beams: int = 4, length_penalty: float = 1.0):
    if num_beams == 1:
        return greedy_decode(model, src_ids, src_mask, bos_id=bos_id, eos_id=eos_id, pad_id=pad_id, max_len=max_len)
    device = src_ids.device
    b, k = src_ids.shape[0], num_beams
    memory, state = model.init_decoding(src_ids, src_mask)
    rep = torch.arange(b, device=device).repeat_interleave(k)
    state, memory = model.reorder(state, memory, rep)
    scores = torch.full((b, k), float("-inf"), device=device)
    scores[:, 0] = 0.0  # all beams start identical: keep one alive
    tokens = torch.full((b * k,), bos_id, dtype=torch.long, device=device)
    history = torch.empty((b * k, 0), dtype=torch.long, device=device)
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(b)]
    for t in range(max_len):
        logp, state = model.step(tokens, state, memory)  # (b*k, V)
        v = logp.shape[-1]
        cand = (scores.view(b * k, 1) + logp).view(b, k * v)
        top, idx = cand.topk(2 * k, dim=1)  # room to replace hypotheses that end here
        beam_idx, tok_idx = idx // v, idx % v
        new_scores = torch.full((b, k), float("-inf"), device=device)
        new_src = torch.zeros((b, k), dtype=torch.long, device=device)
        new_tok = torch.full((b, k), pad_id, dtype=torch.long, device=device)
        top_l, beam_l, tok_l = top.tolist(), beam_idx.tolist(), tok_idx.tolist()
        for i in range(b):
            if len(finished[i]) >= k:
                continue
            j = 0
            for s, bi, ti in zip(top_l[i], beam_l[i], tok_l[i]):
                if s == float("-inf"):
                    break
                if ti == eos_id:
                    seq = history[i * k + bi].tolist()
                    finished[i].append((s / (len(seq) + 1) ** length_penalty, seq))
                    if len(finished[i]) >= k:
                        break
                    continue
                new_scores[i, j], new_src[i, j], new_tok[i, j] = s, bi, ti
                j += 1
                if j == k:
                    break
        if all(len(f) >= k for f in finished):
            break
        flat = (torch.arange(b, device=device)[:, None] * k + new_src).view(-1)
        history = torch.cat([history.index_select(0, flat), new_tok.view(-1, 1)], 1)
        state, memory = model.reorder(state, memory, flat)
        scores, tokens = new_scores, new_tok.view(-1)
    best = []
    for i in range(b):
        cands = finished[i] or [
            (scores[i, j].item() / max(history.shape[1], 1) ** length_penalty, history[i * k + j].tolist())
            for j in range(k) if scores[i, j] > float("-inf")
        ]
        best.append(max(cands, key=lambda c: c[0])[1] + [eos_id])
    width = max(len(s) for s in best)
    out = torch.full((b, width), pad_id, dtype=torch.long, device=device)
    for i, s in enumerate(best):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.long, device=device)
    return out
