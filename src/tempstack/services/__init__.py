"""Built-in service kinds, one module each; the registry is ``tempstack.services.kinds``.

Kept free of imports so that light processes (the reaper) can use ``services.base``
without loading every kind's client library.
"""
