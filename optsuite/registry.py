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

from .errors import UserError, did_you_mean


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

    def unregister(self, name: str) -> None:
        """Forget ``name`` (a plug-in's test cleaning up after itself); an unknown name is a UserError."""
        self._load()
        if name not in self._items:
            raise UserError(f"unknown {self.kind} {name!r}; nothing to unregister")
        del self._items[name]

    def register_prefix(self, prefix: str, factory: Callable[[str], Any], description: str, example: str) -> None:
        """``factory(rest)`` makes the class for ``prefix:rest``; ``example`` is one valid ``rest``, a
        representative of the family for checks such as :func:`optsuite.testing.check_optimizer`."""
        self._prefixes[prefix] = (factory, description, example)

    def register_wrapper(self, key: str, accepts: Callable[[type], bool],
                         wrap: Callable[[Callable[..., Any], Any], Callable[..., Any]]) -> None:
        """A setting ``key`` that every class ``accepts`` takes besides its own: ``create(name, key=value, ...)``
        builds ``wrap(factory, value)(...)`` instead of ``cls(...)`` (e.g. ``restarts="bipop"`` around an ES),
        where ``factory`` makes the inner optimizer from the same settings: ``cls`` itself, or ``cls`` already
        wrapped by the wrapper settings registered before this one, so that wrappers compose."""
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
        rows = [(n, first_line(c)) for n, c in sorted(self._items.items())]
        rows += [(f"{p}:<name>", d) for p, (_, d, _) in sorted(self._prefixes.items())]
        return rows

    def knows(self, name: str) -> bool:
        """Whether ``name`` is registered here, or belongs to a prefix family (``nevergrad:...``)."""
        self._load()
        prefix, sep, _ = name.partition(":")
        return name in self._items or bool(sep and prefix in self._prefixes)

    def settings(self, name: str) -> list[tuple[str, Any, str]]:
        """(name, default, meaning) of every setting ``name`` accepts: an optimizer's ``defaults`` with its
        ``hyper_help``, a problem's constructor settings (:func:`accepted_settings`) with its ``settings_help``
        ("" where a class gives no meaning)."""
        cls = self.get(name)
        if self.kind == "optimizer":
            defaults, help_table = dict(cls.defaults), "hyper_help"
        else:
            defaults, help_table = accepted_settings(cls) or {}, "settings_help"
        help_ = meanings(cls, help_table)
        return [(key, default, help_.get(key, "")) for key, default in defaults.items()]

    def get(self, name: str) -> Any:
        self._load()
        if name in self._items:
            return self._items[name]
        prefix, sep, rest = name.partition(":")
        if sep and prefix in self._prefixes:
            cls = self._prefixes[prefix][0](rest)
            cls.name = name
            return cls
        raise UserError(f"unknown {self.kind} {name!r}{did_you_mean(name, self.names())}; known: {', '.join(self.names())}")

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
            factory = self._wrappers[key][1](factory, value)
        return factory(**kwargs)


def accepted_settings(cls: type) -> dict[str, Any] | None:
    """Keyword -> default of everything ``cls(...)`` accepts, following ``**settings`` up the class chain
    (a constructor with ``**settings`` passes them on to the next ``__init__`` of its MRO); None where they
    go no further than ``object`` (any name goes)."""
    out: dict[str, Any] = {}
    following = False
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        if klass is object:
            return None if following else out
        params = list(inspect.signature(klass.__init__).parameters.values())[1:]  # without self
        for p in params:
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                out.setdefault(p.name, p.default)
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return out
        following = True
    return None


def check_kwargs(what: str, cls: type, kwargs: dict[str, Any]) -> None:
    """Refuse a keyword ``cls`` does not accept (:func:`accepted_settings`), on one line with the close match."""
    known = accepted_settings(cls)
    if known is None:
        return
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        raise UserError(f"{what} has no setting {unknown[0]!r}{did_you_mean(unknown[0], known)}; "
                        f"settings: {', '.join(known) or 'none'}")


def meanings(cls: type, table: str) -> dict[str, str]:
    """Name -> one line of meaning, from the ``table`` attribute (``hyper_help``, ``settings_help``) of ``cls``
    and of its bases (a subclass's entries win)."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        out.update(vars(klass).get(table, {}))
    return out


def first_line(obj: Any) -> str:
    text = getattr(obj, "description", "") or inspect.getdoc(obj) or ""
    return text.strip().splitlines()[0] if text.strip() else ""


OPTIMIZERS = Registry("optimizer", "optsuite.optimizers")
PROBLEMS = Registry("problem", "optsuite.problems")
register_optimizer = OPTIMIZERS.register
register_problem = PROBLEMS.register
