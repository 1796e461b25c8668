"""A faster ``__init__`` for the frozen, slotted dataclasses of the state.

A frozen dataclass sets each field through ``object.__setattr__`` by name, which
makes building one of the bigger states (ten fields) cost more than the change it
records. States are rebuilt for nearly every event, so :func:`fast_init` gives such
a class an ``__init__`` that stores the fields through their slot descriptors
directly. Same signature, same defaults (a ``default_factory`` still runs for each
instance), the class stays frozen: assigning a field afterwards still raises.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

__all__ = ["fast_init"]

T = TypeVar("T")

_NO_VALUE = object()


def fast_init(cls: type[T]) -> type[T]:
    """Replace the ``__init__`` of a frozen slotted dataclass with a direct one."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not a frozen dataclass with slots")
    namespace: dict[str, Any] = {"_NO_VALUE": _NO_VALUE}
    args: list[str] = []
    body: list[str] = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        setter = f"_set_{f.name}"
        namespace[setter] = cls.__dict__[f.name].__set__
        if not f.init:
            if f.default is not dataclasses.MISSING:
                namespace[f"_default_{f.name}"] = f.default
                body.append(f"{setter}(self, _default_{f.name})")
            continue
        if f.default is not dataclasses.MISSING:
            namespace[f"_default_{f.name}"] = f.default
            args.append(f"{f.name}=_default_{f.name}")
            body.append(f"{setter}(self, {f.name})")
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{f.name}"] = f.default_factory
            args.append(f"{f.name}=_NO_VALUE")
            body.append(
                f"{setter}(self, _factory_{f.name}() if {f.name} is _NO_VALUE else {f.name})"
            )
        else:
            args.append(f.name)
            body.append(f"{setter}(self, {f.name})")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has a __post_init__: fast_init does not call it")
    source = f"def __init__(self, {', '.join(args)}):\n    " + "\n    ".join(body or ["pass"])
    exec(source, namespace)  # noqa: S102 - generated from the dataclass's own fields
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[method-assign]  # the point of fast_init
    return cls
