"""The ``http-mock`` server: routes, templated responses, faults, a journal and an admin API.

Run as ``python -m tempstack.servers.mock CONFIG.json`` by the ``http-mock`` kind.
"""
