"""Readiness probes: tcp, http, command, log line and client pings, one polling loop."""

from tempstack.readiness.base import Probe, ProbeFailed, ProbeHistory, wait_until

__all__ = ["Probe", "ProbeFailed", "ProbeHistory", "wait_until"]
