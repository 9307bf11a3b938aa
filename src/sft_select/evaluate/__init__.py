"""Evaluate: f(S), a proxy model's score on a validation file after training on S (higher is better).

The fourth plug point, beside score, combine and select. A proxy has one method,
`evaluate(train, validation, seed) -> ProxyScore`; which proxy runs is `evaluate.proxy` in the config
(`auto`: a classifier for labelled data, a LoRA fine-tune for instruction data). See `proxy.py`.
"""
