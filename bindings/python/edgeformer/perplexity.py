"""Perplexity of a text under a model, computed as `edgeformer perplexity`
does (and llama.cpp's tool), so the numbers agree:

  - the text is tokenized once (BOS added when the model asks for it);
  - it is cut into n_chunk = min(chunks, n_tokens // n_ctx) chunks of n_ctx
    tokens, each evaluated from an empty context with its first token
    replaced by BOS when the model adds one;
  - only the second half of each chunk is scored: logits row j, for
    n_ctx // 2 <= j < n_ctx - 1, predicts token j + 1;
  - PPL = exp(mean NLL), its error exp(mean) * sqrt(var(NLL) / (N - 1)).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Optional, Union

from .model import Model


@dataclass
class PerplexityResult:
    ppl: float
    ppl_error: float
    nll_mean: float
    n_scored: int
    n_chunks: int
    chunk_ppl: List[float] = field(default_factory=list)  # running PPL after each chunk


def _nll(logits: List[float], target: int) -> float:
    top = max(logits)
    log_z = top + math.log(sum(math.exp(x - top) for x in logits))
    return log_z - logits[target]


def perplexity(model: Model, text: Union[str, bytes], *, n_ctx: int = 512, chunks: Optional[int] = None,
               **session_options) -> PerplexityResult:
    """Scores text with a fresh session of n_ctx tokens (keyword arguments go
    to Session: threads, kv_type, sparsity, backend, ...)."""
    if n_ctx < 4:
        raise ValueError("n_ctx must be at least 4")
    tokens = model.tokenize(text, add_special=True)
    adds_bos = model.tokenize("", add_special=True) == [model.bos] and model.bos >= 0
    n_chunk = len(tokens) // n_ctx
    if chunks is not None:
        n_chunk = min(n_chunk, int(chunks))
    if n_chunk < 1:
        raise ValueError(f"the text has {len(tokens)} tokens: fewer than one chunk of n_ctx = {n_ctx}")
    first = n_ctx // 2
    total = total2 = 0.0
    count = 0
    running: List[float] = []
    with model.session(n_ctx=n_ctx, **session_options) as s:
        for c in range(n_chunk):
            src = tokens[c * n_ctx:(c + 1) * n_ctx]
            chunk = list(src)
            if adds_bos:
                chunk[0] = model.bos
            s.reset()
            s.eval(chunk, all_logits=True)
            for row in range(first, n_ctx - 1):
                nll = _nll(s.logits(row), src[row + 1])
                total += nll
                total2 += nll * nll
                count += 1
            running.append(math.exp(total / count))
    mean = total / count
    var = total2 / count - mean * mean  # the CLI's normalisation, so both report the same error
    err = math.sqrt(var / (count - 1)) if var > 0 and count > 1 else 0.0
    ppl = math.exp(mean)
    return PerplexityResult(ppl, ppl * err, mean, count, n_chunk, running)


__all__ = ["PerplexityResult", "perplexity"]
