"""The dependency graph: cycle detection, start order and teardown waves."""

from __future__ import annotations

from collections.abc import Mapping


def find_cycle(deps: Mapping[str, Mapping[str, object]]) -> list[str] | None:
    """A cycle as ``[a, b, ..., a]`` if there is one, else None."""
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in deps.get(node, {}):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in deps:
        if node not in state and (found := visit(node)):
            return found
    return None


def topo_order(deps: Mapping[str, Mapping[str, object]]) -> list[str]:
    """Services in an order where each comes after everything it depends on."""
    levels = depth(deps)
    return sorted(deps, key=lambda n: (levels[n], list(deps).index(n)))


def depth(deps: Mapping[str, Mapping[str, object]]) -> dict[str, int]:
    """Longest dependency chain below each service (0 for a service with no dependencies)."""
    memo: dict[str, int] = {}

    def d(node: str) -> int:
        if node not in memo:
            memo[node] = 1 + max((d(x) for x in deps.get(node, {})), default=-1)
        return memo[node]

    for node in deps:
        d(node)
    return memo


def teardown_waves(deps: Mapping[str, Mapping[str, object]], names: list[str]) -> list[list[str]]:
    """Groups to stop one after another: a service stops only after all its dependents."""
    dependents: dict[str, set[str]] = {n: set() for n in deps}
    for node, targets in deps.items():
        for t in targets:
            dependents.setdefault(t, set()).add(node)
    height: dict[str, int] = {}

    def h(node: str) -> int:
        if node not in height:
            height[node] = 1 + max((h(x) for x in dependents.get(node, ())), default=-1)
        return height[node]

    waves: dict[int, list[str]] = {}
    for name in names:
        waves.setdefault(h(name), []).append(name)
    return [waves[k] for k in sorted(waves)]
