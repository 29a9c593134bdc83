"""Stands in for torch's FSDP2 `fully_shard`, which swaps a module's class for a subclass defined in its own module."""

from tests import tiny_backbones  # noqa: F401  (a relative-style import that must not be copied as remote code)


class ShardedModule:
    pass


def fully_shard_like(module):
    cls = type(module)
    module.__class__ = type(f"FSDP{cls.__name__}", (ShardedModule, cls), {})
    return module
