"""The cross-encoder training loop: a plain torch loop (AdamW, BCE on one logit) over
(query, passage, label) pairs, starting from the packaged all-MiniLM-L6-v2 weights with a
new classification head. Lower layers can be frozen: on 2 CPU cores the backward pass
through them costs more than it buys on a few thousand pairs."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


def base_model_path() -> str:
    from retrieval.embedders.minilm import minilm_path

    return minilm_path()


@dataclass(frozen=True)
class TrainConfig:
    max_length: int = 128
    batch_size: int = 16
    epochs: int = 3  # one epoch left the held-out cross-encoder MRR at 0.12 (it learned nothing)
    lr: float = 1e-4
    head_lr: float = 1e-3
    keep_layers: int = 4  # of MiniLM's 6: 1.5x faster to train and serve (eval/bench_rerank.py)
    freeze_layers: int = 1  # embeddings + this many lower transformer layers stay fixed
    max_seconds: float = 15 * 60  # stop early (between batches) past this budget
    # One thread: with two on 2 shared cores a step took 20x longer (threads wait on each other).
    threads: int = 1
    seed: int = 0


@dataclass
class TrainResult:
    pairs_seen: int
    seconds: float
    steps: int
    stopped_early: bool
    losses: list[float]

    @property
    def pairs_per_s(self) -> float:
        return self.pairs_seen / self.seconds if self.seconds > 0 else 0.0


def load_model(path: str, *, keep_layers: int | None = None) -> tuple[torch.nn.Module, object]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the "newly initialised head" report is expected here
    tok = AutoTokenizer.from_pretrained(path)
    extra = {"num_hidden_layers": keep_layers} if keep_layers else {}
    # Keeping the first N layers loads their pretrained weights and drops the rest.
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, **extra)
    return model, tok


def encode(tok: object, queries: Sequence[str], passages: Sequence[str], max_length: int) -> dict:
    return tok(  # type: ignore[operator, no-any-return]
        list(queries),
        list(passages),
        truncation="longest_first",
        max_length=max_length,
        padding=True,
        return_tensors="pt",
    )


def train_cross_encoder(
    pairs: Sequence[tuple[str, str, float]],
    out_dir: Path,
    *,
    config: TrainConfig = TrainConfig(),
    base_path: str | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Fine-tune and save (model + tokenizer) to out_dir. Pairs are (query, passage, label)."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    model, tok = load_model(base_path or base_model_path(), keep_layers=config.keep_layers)
    bert = model.bert  # type: ignore[attr-defined]
    for p in bert.embeddings.parameters():
        p.requires_grad = False
    for layer in bert.encoder.layer[: config.freeze_layers]:
        for p in layer.parameters():
            p.requires_grad = False
    head = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("classifier")]
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("classifier")]
    opt = torch.optim.AdamW(
        [{"params": body, "lr": config.lr}, {"params": head, "lr": config.head_lr}], weight_decay=0.01
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    order = list(pairs)
    rng = random.Random(config.seed)
    model.train()
    t0 = time.perf_counter()
    steps = seen = 0
    losses: list[float] = []
    stopped = False
    for _ in range(config.epochs):
        rng.shuffle(order)
        for start in range(0, len(order), config.batch_size):
            if time.perf_counter() - t0 > config.max_seconds:
                stopped = True
                break
            batch = order[start : start + config.batch_size]
            enc = encode(tok, [b[0] for b in batch], [b[1] for b in batch], config.max_length)
            labels = torch.tensor([b[2] for b in batch], dtype=torch.float32)
            logits = model(**enc).logits.squeeze(-1)
            loss = loss_fn(logits, labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
            seen += len(batch)
            losses.append(float(loss.detach()))
            if on_step:
                on_step(steps, float(np.mean(losses[-20:])))
        if stopped:
            break
    seconds = time.perf_counter() - t0
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    tok.save_pretrained(str(out_dir))  # type: ignore[attr-defined]
    return TrainResult(seen, seconds, steps, stopped, losses)
