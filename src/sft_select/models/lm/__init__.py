"""models.lm."""
