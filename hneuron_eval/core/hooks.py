"""Forward hooks registered for one block and always removed: the intervention, the detector and CETT extraction."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from torch import nn

#: (module, args, output) -> None or a replacement output
ForwardHook = Callable[[nn.Module, tuple, Any], Any]
#: (module, args) -> None or replacement args
PreHook = Callable[[nn.Module, tuple], Any]
#: (module, args, kwargs, output) -> None or a replacement output
KwargsHook = Callable[[nn.Module, tuple, dict, Any], Any]


@contextlib.contextmanager
def forward_hooks(post: Iterable[tuple[nn.Module, ForwardHook]] = (),
                  pre: Iterable[tuple[nn.Module, PreHook]] = (),
                  post_kwargs: Iterable[tuple[nn.Module, KwargsHook]] = ()) -> Iterator[None]:
    """Register ``post`` forward hooks, ``pre`` pre-hooks and ``post_kwargs`` hooks that also see keyword inputs.

    Every one is removed on exit, also on error.
    """
    handles = []
    try:
        for module, hook in pre:
            handles.append(module.register_forward_pre_hook(hook))
        for module, hook in post:
            handles.append(module.register_forward_hook(hook))
        for module, hook in post_kwargs:
            handles.append(module.register_forward_hook(hook, with_kwargs=True))
        yield
    finally:
        for handle in reversed(handles):
            handle.remove()
