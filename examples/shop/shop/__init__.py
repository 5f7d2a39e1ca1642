"""The Tempstack Shop: a small FastAPI web shop used to demonstrate and test tempstack."""
