"""The pipelines, each callable from Python (the CLI commands are thin wrappers over them):

- `in_memory.run`: load → preprocess → score → combine → select → write (and the streaming engine,
  `streaming/`, for a pool larger than memory: same steps, same outputs, a chunk at a time);
- `reselect.reselect`: combine and select again from a run's saved scores;
- `tune.tune_run`: search weights, τ and strategy settings on a validation file for a finished run;
- `dedup.run_dedup`: the preprocessing steps alone, the first member of each duplicate cluster kept;
- `augment`: augmented copies of a run's selection.
"""
