"""The two models of the demo: a Post-LN Transformer language model and a small 1-D ResNet."""

from __future__ import annotations

import torch
from torch import nn


class PostLNLanguageModel(nn.Module):
    """A byte-level causal Transformer in the original Post-LayerNorm arrangement.

    Post-LN (LayerNorm after each residual sum, as in the original Transformer and BERT) has large
    gradients near the output at initialisation, which is why it needs warmup (Xiong et al. 2020).
    """

    def __init__(self, *, vocab: int = 256, width: int = 128, heads: int = 4, layers: int = 6,
                 context: int = 64) -> None:
        super().__init__()
        self.context = context
        self.embed = nn.Embedding(vocab, width)
        self.position = nn.Parameter(torch.zeros(context, width))
        nn.init.normal_(self.position, std=0.02)
        block = nn.TransformerEncoderLayer(
            width, heads, dim_feedforward=4 * width, dropout=0.0, batch_first=True, norm_first=False
        )
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.head = nn.Linear(width, vocab)
        self.mask: torch.Tensor
        self.register_buffer(
            "mask", torch.triu(torch.full((context, context), float("-inf")), diagonal=1), persistent=False
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        length = tokens.shape[1]
        hidden = self.embed(tokens) + self.position[:length]
        hidden = self.blocks(hidden, mask=self.mask[:length, :length], is_causal=True)
        logits: torch.Tensor = self.head(hidden)
        return logits


class _Block(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm1d(channels), nn.ReLU(),
            nn.Conv1d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm1d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class ResNet1D(nn.Module):
    """A small residual convolutional network with BatchNorm, for 1-D signals (MNIST-1D)."""

    def __init__(self, *, width: int = 16, classes: int = 10, blocks_per_stage: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv1d(1, width, 5, padding=2, bias=False), nn.BatchNorm1d(width), nn.ReLU()
        ]
        channels = width
        for stage in range(3):
            if stage:
                layers += [nn.Conv1d(channels, channels * 2, 3, stride=2, padding=1, bias=False),
                           nn.BatchNorm1d(channels * 2), nn.ReLU()]
                channels *= 2
            layers += [_Block(channels) for _ in range(blocks_per_stage)]
        self.features = nn.Sequential(*layers)
        self.classify = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.classify(self.features(x).mean(dim=2))
        return logits
