"""``zoo train NAME --data DIR --recipe fast``: fine-tuning a small image folder on a CPU in minutes.

    run, config = fast_recipe(VisionRun(), image_config())      # the recipe's settings over the defaults
    r = train_image_classifier("efficientnet_lite0", "data/cifar10/train", config, run)

The recipe, in order of how much time it saves:

1. **The frozen stem runs once.** With ``--freeze last:N`` the first blocks of the network never change, and
   in EfficientNet-Lite0 they are the costly ones (they run at 1/2 to 1/8 of the input resolution: at 160 px
   they are most of a forward pass). Their output is computed once per image and view, before training, and
   kept in memory in bfloat16 (at 160 px: 40 x 20 x 20 values per view); each epoch runs only the trainable
   blocks, forward and backward, on those cached activations. Exact for the frozen part: its BatchNorm layers
   are frozen too (running statistics), so the cached activations are what the network would compute.
2. **Augmentation on the cache.** Two views per image (whole, mirrored), one drawn per image and step, then a
   random translation of each image's cached activations by up to SHIFT_FRACTION of its side in x and y (the
   edge cells repeated into the gap, as an edge-padded crop): flip and translation, the augmentations that
   matter for CIFAR-sized images (CIFAR's own recipe shifts by up to 4 of 32 px, 1/8). Draws use torch's
   generator, so ``--resume`` replays them.
3. **More epochs at a moderate size**, cosine decay after a 10 % linear warm-up (a one-cycle shape), AdamW,
   label smoothing 0.1, 64 images per step, channels_last memory layout for the convolutions.

What counts as training time: the caching plus the loop (both in the row's ``train_time_s``). The network that
is saved is the whole network (frozen prefix + trained blocks), so ``zoo eval --checkpoint`` scores it on images
the usual way, at ``image_size``.
"""

from __future__ import annotations

import time
from dataclasses import replace

import torch
from torch import nn
from torch.nn import functional as F

from ...errors import UserError
from .config import TrainConfig

# The settings --recipe fast puts in place of the defaults (flags given on the command line win).
RUN = {"image_size": 160, "freeze": "last:13", "label_smoothing": 0.1}
CONFIG = {"epochs": 12, "lr": 1e-3, "batch_size": 64, "schedule": "cosine", "warmup": 0.1, "weight_decay": 0.05}
SHIFT_FRACTION = 0.1  # of the cached grid's side (at 160 px: 2 of 20 cells, 16 input pixels)
CACHE_BATCH = 128


def fast_recipe(run, config: TrainConfig, given_run: set[str] = frozenset(), given_config: set[str] = frozenset()):
    """(run, config) with the recipe's settings, except those the user gave."""
    run = replace(run, recipe="fast", **{k: v for k, v in RUN.items() if k not in given_run})
    return run, config.replace(**{k: v for k, v in CONFIG.items() if k not in given_config})


def split_frozen_prefix(net: nn.Module, dropout: float = 0.0,
                        block_lr: float = 1.0) -> tuple[nn.Sequential, CachedSuffix]:
    """(the leading modules without trainable weights, the rest as one module): for timm's EfficientNet /
    MobileNet layout (conv_stem, bn1, blocks, conv_head, bn2, global_pool, classifier)."""
    if not all(hasattr(net, a) for a in ("conv_stem", "bn1", "blocks", "conv_head", "bn2", "global_pool")):
        raise UserError(f"--recipe fast needs a timm EfficientNet/MobileNet-style network; {type(net).__name__} is not")
    stages = [net.conv_stem, net.bn1] + [b for stage in net.blocks for b in stage]
    k = next((i for i, m in enumerate(stages) if any(p.requires_grad for p in m.parameters())), len(stages))
    if k == 0:
        raise UserError("--recipe fast caches the frozen stem: give --freeze last:N (e.g. last:13), not none")
    return nn.Sequential(*stages[:k]).eval(), CachedSuffix(net, stages[k:], dropout, block_lr)


class CachedSuffix(nn.Module):
    """The trainable rest of the network, fed the cached activations; it shares the network's modules, so
    training it trains the network. ``dropout``: before the classifier in training (as timm's ``drop_rate``;
    the saved network has none, like timm's in eval mode)."""

    def __init__(self, net: nn.Module, blocks: list[nn.Module], dropout: float = 0.0, block_lr: float = 1.0):
        super().__init__()
        self.block_lr = block_lr
        self.blocks = nn.Sequential(*blocks)
        self.conv_head, self.bn2, self.global_pool = net.conv_head, net.bn2, net.global_pool
        self.dropout = nn.Dropout(dropout)
        self.classifier = net.get_classifier()

    def lr_scales(self) -> list[tuple[list[nn.Parameter], float]]:
        """The pretrained blocks at ``block_lr`` x the learning rate, the head (conv_head, bn2, classifier) at 1x."""
        head = [*self.conv_head.parameters(), *self.bn2.parameters(), *self.classifier.parameters()]
        return [(list(self.blocks.parameters()), self.block_lr), (head, 1.0)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn2(self.conv_head(self.blocks(x.float().contiguous(memory_format=torch.channels_last))))
        return self.classifier(self.dropout(self.global_pool(x)))


@torch.inference_mode()
def cache_views(prefix: nn.Module, items) -> torch.Tensor:
    """(n, 2, C, H, W) bfloat16: the prefix's output for each image, whole and mirrored."""
    out = []
    for s in range(0, len(items), CACHE_BATCH):
        x = torch.stack([items[i][0] for i in range(s, min(s + CACHE_BATCH, len(items)))])
        views = [prefix(v.contiguous(memory_format=torch.channels_last)).to(torch.bfloat16)
                 for v in (x, x.flip(-1))]
        out.append(torch.stack(views, 1))
    return torch.cat(out)


def max_shift(side: int) -> int:
    """Cells an image's activations may move for a grid ``side`` cells wide (at least one)."""
    return max(1, round(SHIFT_FRACTION * side))


def translate(x: torch.Tensor, shift: int) -> torch.Tensor:
    """Each image of ``x`` (n, C, H, W) moved by its own random (dy, dx) in [-shift, shift], the edge cells
    repeated into the gap."""
    n, _, h, w = x.shape
    padded = F.pad(x, (shift,) * 4, mode="replicate")
    dy, dx = torch.randint(0, 2 * shift + 1, (2, n, 1))
    rows, cols = dy + torch.arange(h), dx + torch.arange(w)  # (n, h), (n, w): each image's window
    return padded[torch.arange(n)[:, None, None, None], torch.arange(x.shape[1])[None, :, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]]


def augmented_loss(label_smoothing: float, mixup: float = 0.0):
    """``step_fn(model, (views, labels))``: one view per image, a random translation per image (``translate``),
    CE loss; ``mixup`` > 0: each batch is blended with a shuffled copy of itself by lam ~ Beta(mixup, mixup), and
    so is the loss (mixup, Zhang et al. 2018, here on the frozen stem's activations as manifold mixup does)."""
    beta = torch.distributions.Beta(mixup, mixup) if mixup > 0 else None

    def step(model: nn.Module, batch) -> torch.Tensor:
        views, labels = batch
        pick = torch.randint(0, views.shape[1], (len(views),))
        x = translate(views[torch.arange(len(views)), pick].float(), max_shift(views.shape[-1]))
        if beta is None:
            return F.cross_entropy(model(x), labels, label_smoothing=label_smoothing)
        lam, perm = float(beta.sample()), torch.randperm(len(x))
        out = model(lam * x + (1 - lam) * x[perm])
        return (lam * F.cross_entropy(out, labels, label_smoothing=label_smoothing)
                + (1 - lam) * F.cross_entropy(out, labels[perm], label_smoothing=label_smoothing))
    return step


def prepare(net: nn.Module, items, labels: list[int], val_items=None, dropout: float = 0.0,
            block_lr: float = 1.0) -> tuple[CachedSuffix, tuple, float, tuple | None]:
    """(the module to train, its data (views, labels), seconds the caching took, the validation data as
    (whole-image activations, labels) or None; its caching is not counted)."""
    t0 = time.perf_counter()
    prefix, suffix = split_frozen_prefix(net, dropout, block_lr)
    net.to(memory_format=torch.channels_last)
    views = cache_views(prefix, items)
    cache_s = time.perf_counter() - t0
    val = None
    if val_items is not None:
        val = (cache_views(prefix, val_items)[:, 0], torch.tensor(val_items.labels))
    return suffix, (views, torch.tensor(labels)), cache_s, val
