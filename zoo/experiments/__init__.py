"""One-off measured experiments beside the studies: ``frameworks`` (the same weights in several libraries)."""
