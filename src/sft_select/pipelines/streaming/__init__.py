"""pipelines.streaming."""
