"""models.embed."""
