"""`sft-select init`: a commented example config (a test checks it parses into `Config`)."""
from __future__ import annotations

from pathlib import Path

from sft_select.core.errors import RunDirError
from sft_select.io.atomic import atomic_open

EXAMPLE = """\
# sft-select config. Every key is optional; unknown keys are errors. CLI flags override these values.
seed: 0                       # all randomness (k-means, tie-breaks, proxy training) derives from it

input:
  format: null                # alpaca | sharegpt | openai | prompt_completion | text_label; null = detect
  fields: {}                  # rename fields, e.g. {instruction: question, output: answer}
  on_error: fail              # fail: stop at the first bad row (exit 2); skip: send it to rejected.jsonl

preprocess:
  exact_dedup: true           # drop repeats of the same normalized example
  keep: best                  # which duplicate stays: best (combined score) or first (input order)

embedding:
  model: static-minilm        # static-minilm (fast, offline) | hashing (no model) | a sentence-transformers path

views:
  use: null                   # view names or groups (relevance, diversity, difficulty, quality); null = defaults
  # LM views (SmolLM2-135M, one shared pass; opt-in on CPU, default on a GPU): difficulty_ifd and difficulty_loss
  # rank how hard an example is and quality_fluency flags garbled text; none predicts judged answer quality
  # (docs/selection.md "What the LM views predict"), so use them for difficulty or a floor, not as a quality score.
  settings:                   # per view: weight, normalize (rank|minmax|zscore), floor (veto), params
    quality_heuristic:
      weight: 0.5
    relevance_embedding:
      weight: 0.5
      params: {k: 5}

combine:
  normalize: rank             # default normalization of raw values to [0, 1]
  weights: normalize          # normalize: rescale weights to sum to 1; strict: reject if they do not

select:
  strategy: auto              # auto: top (with a target), stratified (labelled), coverage by cluster (else) | top | random | stratified (random within class x cluster, flagged rows out) | quota (per label/cluster) | greedy (skip near-duplicates) | facility | coverage (drop flagged rows, trim, facility location per group) | active
  n: 1000                     # keep at most N; or fraction: 0.2; threshold: 0.6 (combined score >= τ)
  budget_tokens: null         # cap the tokens of prompt+response (tokenizer: smollm2 | regex | a path)
  quota_by: label             # quota: label or cluster (the diversity view's clusters)
  quota: proportional         # quota: proportional (keep the pool's mix) or equal (balanced)
  min_per_group: 0            # quota: at least this many per group
  tau_div: 0.9                # greedy: skip an example with cosine > tau_div to one already taken
  greedy_scope: global        # greedy: global, or cluster (within diversity clusters; parallel on --engine ray)
  fl_mix: 0.5                 # facility: 0 = pure coverage, 1 = pure combined score

evaluate:                     # the proxy that measures f(S) when tuning (run --validation, sft-select tune)
  proxy: auto                 # auto: classifier for text/label data; for instructions lm (LoRA on SmolLM2-135M) on a GPU, coverage (of the validation set by S in embedding space) on CPU
  classifier: {model: logreg, metric: accuracy, class_weight: null}  # model: like your final model (docs/selection.md): logreg | mlp (fits S, flips included, as a fine-tune does) | encoder
  lm: {token_budget: 16384, max_length: 256, lr: 0.001, lora_r: 8}

tune:
  rounds: 2                   # weight search then τ sweep, this many times
  trials: 12                  # weight candidates per round (dirichlet | optuna search)
  sweep: [0.25, 0.5, 0.75, 1.0]   # τ placed where S holds these shares of N
  holdout: 0.3                # share of the validation file never used for tuning: the guard compares S with random on it
  choose: one_se              # one_se: the simplest point within one standard error of the best; best: the highest f
  min_rows_weights: 500       # a smaller tune part keeps the configured weights (only τ is chosen)
  guard: true                 # write S only if it beats random subsets of its size on the holdout, else a stratified sample
  strategies: []              # e.g. [coverage, active] (labelled data): also tried; the best on validation is kept

engine:
  name: local

report:
  enabled: true               # write report.html and summary.json at the end of every run
  max_points: 5000            # points on the embedding map (a stratified sample of the pool)
"""


def write_example_config(path: Path, *, force: bool = False) -> None:
    if path.exists() and not force:
        raise RunDirError(f"{path}: exists; pass --force to overwrite")
    with atomic_open(path) as fh:
        fh.write(EXAMPLE)
