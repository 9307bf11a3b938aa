"""Tune: the closed loop that searches view weights and τ for the best f(S) on a validation file."""
