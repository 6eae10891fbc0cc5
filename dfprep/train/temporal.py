"""The temporal model for clip shards: per-frame CNN encoder, a GRU or LSTM over time, attention pooling, one logit.

Swaps and blending flicker from frame to frame in a way a single frame cannot show; the recurrent layer sees
the sequence and attention pooling lets the few telling frames of a clip decide. `last_attention` keeps the
weights of the latest forward pass ([B,T], summing to 1) for inspection (`dfprep explain`).
"""
from __future__ import annotations

import torch
from torch import nn


class AttentionPool(nn.Module):
    """Additive attention over time steps: weights = softmax_t(v . tanh(W h_t)); output = sum_t weights_t h_t."""

    def __init__(self, dim: int, hidden: int = 128):
        super().__init__()
        self.proj = nn.Linear(dim, hidden)
        self.score = nn.Linear(hidden, 1, bias=False)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        weights = torch.softmax(self.score(torch.tanh(self.proj(h))).squeeze(-1), dim=1)   # [B,T]
        return (weights.unsqueeze(-1) * h).sum(dim=1), weights


class TemporalClassifier(nn.Module):
    """[B,T,3,H,W] float -> one logit per clip, [B]."""

    def __init__(self, encoder: nn.Module, dim: int, rnn: str = "gru", hidden: int = 256, clip_len: int = 8,
                 dropout: float = 0.2):
        super().__init__()
        self.encoder = encoder
        self.clip_len = clip_len
        rnn_cls = {"gru": nn.GRU, "lstm": nn.LSTM}[rnn]
        self.rnn = rnn_cls(dim, hidden, batch_first=True, bidirectional=True)
        self.pool = AttentionPool(2 * hidden)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden, 1)
        self.last_attention: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5:
            raise ValueError(f"the temporal model takes [B,T,3,H,W], got {tuple(x.shape)}")
        b, t = x.shape[:2]
        feats = self.encoder(x.flatten(0, 1)).reshape(b, t, -1)
        h, _ = self.rnn(feats)
        pooled, weights = self.pool(h)
        self.last_attention = weights.detach()
        return self.head(self.dropout(pooled)).squeeze(-1)
