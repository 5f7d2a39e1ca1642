"""Code that runs inside a stage's own interpreter, which may be the project's, not tempstack's.

These modules import only the standard library and the tool they plug into (pytest,
pytest-playwright), so they work in an environment that holds nothing of tempstack but its
small core (``pip install tempstack``, no ``[tool]``). The names below are the contract
between the tool, which sets them in a stage's environment, and the plugins, which read them.
"""

#: the Chromium a ``playwright`` stage drives (``executable``, or Debian's when present)
EXECUTABLE_VAR = "TEMPSTACK_BROWSER_EXECUTABLE"
#: on a cluster: the services' names there, comma-separated; each is forwarded to the same
#: port on 127.0.0.1 here, so a browser that maps them to 127.0.0.1 follows in-cluster links
CLUSTER_HOSTS_VAR = "TEMPSTACK_CLUSTER_HOSTS"
