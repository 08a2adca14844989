"""Pure batched operations of the methods (FAME masks, ...), shared by methods, precompute, eval and the CLI."""
