"""Reading and writing the user's files: formats, row offsets, atomic outputs."""
