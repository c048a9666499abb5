"""Generator adapters: one module per model family, each loading its model once and streaming results."""
