"""Runs the graph: concurrent start, per-service dependency waits, ordered teardown."""

from tempstack.engine.runner import Engine, EngineOptions, ServiceStatus, State, env_name

__all__ = ["Engine", "EngineOptions", "ServiceStatus", "State", "env_name"]
