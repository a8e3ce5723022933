"""Name -> class registries for optimizers and problems, with plugin entry points.

Built-ins register themselves with ``@register_optimizer("name")`` /
``@register_problem("name")`` in any module of ``optsuite.optimizers`` /
``optsuite.problems``. Another package adds its own through the entry point groups
``optsuite.optimizers`` and ``optsuite.problems`` (the entry point's object is the
class; the entry point's name is the registered name). A prefix factory serves a
family of names such as ``nevergrad:NGOpt``.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import warnings
from importlib.metadata import entry_points
from typing import Any, Callable

from .errors import UserError


class Registry:
    def __init__(self, kind: str, package: str) -> None:
        self.kind = kind
        self.package = package  # also the entry point group
        self._items: dict[str, Any] = {}
        self._prefixes: dict[str, tuple[Callable[[str], Any], str, str]] = {}
        self._wrappers: dict[str, tuple[Callable[[type], bool], Callable[[type, Any], Callable[..., Any]]]] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[type], type]:
        def decorate(cls: type) -> type:
            if name in self._items and self._items[name] is not cls:
                raise UserError(f"{self.kind} {name!r} is registered twice (by {self._items[name].__module__} and {cls.__module__})")
            cls.name = name
            self._items[name] = cls
            return cls

        return decorate

    def register_prefix(self, prefix: str, factory: Callable[[str], Any], description: str, example: str) -> None:
        """``factory(rest)`` makes the class for ``prefix:rest``; ``example`` is one valid ``rest``, a
        representative of the family for checks such as :func:`optsuite.testing.check_optimizer`."""
        self._prefixes[prefix] = (factory, description, example)

    def register_wrapper(self, key: str, accepts: Callable[[type], bool],
                         wrap: Callable[[type, Any], Callable[..., Any]]) -> None:
        """A setting ``key`` that every class ``accepts`` takes besides its own: ``create(name, key=value, ...)``
        builds ``wrap(cls, value)(...)`` instead of ``cls(...)`` (e.g. ``restarts="bipop"`` around an ES)."""
        self._wrappers[key] = (accepts, wrap)

    def wrapper_keys(self, cls: type) -> list[str]:
        """The wrapper settings ``cls`` takes (:meth:`register_wrapper`)."""
        self._load()
        return [key for key, (accepts, _) in self._wrappers.items() if accepts(cls)]

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        package = importlib.import_module(self.package)
        for module in pkgutil.iter_modules(package.__path__):
            if not module.name.startswith("_"):
                try:
                    importlib.import_module(f"{self.package}.{module.name}")
                except ImportError as exc:  # e.g. an optional backend missing on this machine
                    warnings.warn(f"{self.kind} module {module.name!r} skipped: {exc}", stacklevel=2)
        for ep in entry_points(group=self.package):
            try:
                self.register(ep.name)(ep.load())
            except Exception as exc:  # a broken plugin must not break the suite
                warnings.warn(f"{self.kind} plugin {ep.name!r} failed to load: {exc}", stacklevel=2)

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items) + [f"{p}:<name>" for p in sorted(self._prefixes)]

    def describe(self) -> list[tuple[str, str]]:
        """(name, one-line description) for every entry."""
        self._load()
        rows = [(n, _first_line(c)) for n, c in sorted(self._items.items())]
        rows += [(f"{p}:<name>", d) for p, (_, d, _) in sorted(self._prefixes.items())]
        return rows

    def get(self, name: str) -> Any:
        self._load()
        if name in self._items:
            return self._items[name]
        prefix, sep, rest = name.partition(":")
        if sep and prefix in self._prefixes:
            cls = self._prefixes[prefix][0](rest)
            cls.name = name
            return cls
        raise UserError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")

    def examples(self) -> list[str]:
        """Every registered name, each prefix family by its example (``nevergrad:OnePlusOne``)."""
        self._load()
        return sorted(self._items) + [f"{p}:{example}" for p, (_, _, example) in sorted(self._prefixes.items())]

    def create(self, name: str, **kwargs: Any) -> Any:
        """Instantiate ``name`` with ``kwargs``, refusing unknown keyword arguments on one line.

        A wrapper setting (:meth:`register_wrapper`) wraps the class. Constructors raise :class:`UserError`
        for bad values; any other exception is a bug and propagates.
        """
        cls = self.get(name)
        wrapped = {key: kwargs.pop(key) for key in self.wrapper_keys(cls) if key in kwargs}
        check_kwargs(f"{self.kind} {name!r}", cls, kwargs)
        factory = cls
        for key, value in wrapped.items():
            factory = self._wrappers[key][1](cls, value)
        return factory(**kwargs)


def check_kwargs(what: str, cls: type, kwargs: dict[str, Any]) -> None:
    params = inspect.signature(cls).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        known = ", ".join(params) or "none"
        raise UserError(f"{what} has no setting {unknown[0]!r}; settings: {known}")


def _first_line(obj: Any) -> str:
    text = getattr(obj, "description", "") or inspect.getdoc(obj) or ""
    return text.strip().splitlines()[0] if text.strip() else ""


OPTIMIZERS = Registry("optimizer", "optsuite.optimizers")
PROBLEMS = Registry("problem", "optsuite.problems")
register_optimizer = OPTIMIZERS.register
register_problem = PROBLEMS.register
