"""tempstack's own servers for the outside-world kinds, each run as ``python -m``.

Kept apart from ``services/`` (which only describes what to start) because these modules
run in their own processes and import their heavy libraries (moto, aiohttp, authlib) there,
never in the runner.
"""
