"""The stack file: load, validate (pydantic), interpolate, build the dependency graph. Pure.

Nothing is imported here: the servers of the outside-world kinds import
``tempstack.spec.routes`` alone and should not pay for the loader.
"""
