"""CLI verbs, one module per family; `taperwise.cli` mounts them."""
