"""Built-in task types: one module per type; ``load_registry`` imports every module here."""
