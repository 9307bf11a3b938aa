"""Preprocessing steps that run before scoring: heuristic filters, dedup, decontamination."""
