"""The stack file: load, validate (pydantic), interpolate, build the dependency graph. Pure."""

from tempstack.spec.load import DEFAULT_FILE, LoadedStack, find_stack_file, load
from tempstack.spec.model import StackSpec

__all__ = ["DEFAULT_FILE", "LoadedStack", "StackSpec", "find_stack_file", "load"]
