"""Reports rendered from the journal; for now the console view (more in later issues)."""
