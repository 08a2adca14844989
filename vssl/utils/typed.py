"""Dataclasses from plain dicts (YAML, ``--set``), typed by their annotations.

One reader for every config dataclass (:mod:`vssl.train.config`'s sections, each method's
``Config``): :func:`from_dict` checks the keys and coerces each value to its field's annotation,

* ``int`` (a whole float such as ``4.0`` or a string ``"4"`` too), ``float`` (an int or a
  numeric string: PyYAML reads ``1e-4`` as a string), ``bool`` (or the strings ``true`` /
  ``false``), ``str`` (a number becomes its text: ``split: 1`` is ``"1"``);
* ``tuple[int, int]`` (a list of exactly that many), ``tuple[float, ...]`` (a list of any length);
* ``X | None`` (``null`` or an ``X``); ``Literal["a", "b"]`` (one of the listed values);

and raises a one-line :class:`~vssl.errors.InputError` naming the key, the bad value, what is
allowed and where it came from. :func:`choices` lists a ``Literal`` field's values (so no
separate tuple repeats them) and :func:`check_choices` is the ``__post_init__`` check of them for
dataclasses built in code.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

from vssl.errors import InputError

_HINTS: dict[type, dict[str, Any]] = {}


def field_types(cls: type) -> dict[str, Any]:
    """``{field name: resolved annotation}`` of dataclass ``cls`` (cached; the string annotations
    of ``from __future__ import annotations`` are evaluated in the class's module)."""
    hints = _HINTS.get(cls)
    if hints is None:
        module = sys.modules.get(cls.__module__)
        every = typing.get_type_hints(cls, vars(module) if module else None)
        hints = _HINTS[cls] = {f.name: every[f.name] for f in dataclasses.fields(cls)}
    return hints


def choices(cls: type, name: str) -> tuple:
    """The values a ``Literal`` field ``name`` of ``cls`` allows (``()`` for any other field)."""
    tp = field_types(cls)[name]
    return get_args(tp) if get_origin(tp) is Literal else ()


def check_choices(obj: Any, label: str) -> None:
    """One-line ValueError for the first ``Literal`` field of dataclass ``obj`` holding a value it
    does not list: ``{label} {field} must be one of a, b, got 'x'``."""
    for name, tp in field_types(type(obj)).items():
        if get_origin(tp) is Literal and getattr(obj, name) not in get_args(tp):
            raise ValueError(f"{label + ' ' if label else ''}{name} must be {describe(tp)}, got {getattr(obj, name)!r}")


def describe(tp: Any) -> str:
    """What a value of annotation ``tp`` must be, for an error message ("an integer", "one of a, b")."""
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        text = " or ".join(describe(a) for a in rest)
        return f"{text} or null" if len(rest) < len(args) else text
    if origin is Literal:
        return "one of " + ", ".join(map(str, args))
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_plural(args[0])}"
        if len(set(args)) == 1:
            return f"a list of {len(args)} {_plural(args[0])}"
        return f"a list of {len(args)} values"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))


def _plural(tp: Any) -> str:
    return {int: "integers", float: "numbers", str: "strings", bool: "booleans"}.get(tp, "values")


class _Bad(Exception):
    """A value that does not fit its annotation (turned into one InputError by :func:`coerce`)."""


def _to(tp: Any, value: Any) -> Any:
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in (a for a in args if a is not type(None)):
            try:
                return _to(a, value)
            except _Bad:
                pass
        raise _Bad
    if value is None:
        raise _Bad
    if origin is Literal:
        v = _to(type(args[0]), value)
        if v not in args:
            raise _Bad
        return v
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise _Bad
    if tp in (int, float):  # an int field takes a whole float (YAML's 1.0); a float field any number
        if isinstance(value, bool):
            raise _Bad
        if isinstance(value, str):
            try:
                return tp(value.strip())
            except ValueError:
                raise _Bad from None
        if isinstance(value, int) or (isinstance(value, float) and (tp is float or value.is_integer())):
            return tp(value)
        raise _Bad
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # split: 1 -> "1"
        raise _Bad
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _Bad
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_to(args[0], v) for v in value)
        if len(value) != len(args):
            raise _Bad
        return tuple(_to(a, v) for a, v in zip(args, value))
    return value  # an annotation this reader does not know: taken as it is


def coerce(tp: Any, value: Any, name: str, where: str = "") -> Any:
    """``value`` as annotation ``tp``; one-line InputError ``{name} must be ..., got ... (in {where})``."""
    try:
        return _to(tp, value)
    except _Bad:
        at = f" (in {where})" if where else ""
        if value is None and not (get_origin(tp) in (Union, types.UnionType) and type(None) in get_args(tp)):
            raise InputError(f"{name} must not be empty: it must be {describe(tp)}{at}") from None
        raise InputError(f"{name} must be {describe(tp)}, got {value!r}{at}") from None


def _key(section: str, key: str) -> str:
    return f"'{section}.{key}'" if section else f"'{key}'"


def check_keys(cls: type, mapping: dict, *, section: str = "", where: str = "") -> None:
    """One-line InputError for the first key of ``mapping`` that is not a field of ``cls``."""
    names = field_types(cls)
    for k in mapping:
        if k not in names:
            at = f" in {where}" if where else ""
            raise InputError(f"unknown key {_key(section, str(k))}{at} (valid: {', '.join(names)})")


def coerce_dict(cls: type, mapping: dict, *, section: str = "", where: str = "") -> dict[str, Any]:
    """``mapping`` with its keys checked against ``cls``'s fields and its values coerced to their
    annotations (InputError naming ``section.key`` and ``where`` otherwise)."""
    check_keys(cls, mapping, section=section, where=where)
    hints = field_types(cls)
    return {k: coerce(hints[k], v, _key(section, k), where) for k, v in mapping.items()}


def from_dict(cls: type, mapping: dict | None, where: str = "", *, section: str = "", base: Any = None) -> Any:
    """The dataclass ``cls`` (or ``base`` with these changes) from ``mapping``: keys checked,
    values coerced (:func:`coerce_dict`); the ValueError / TypeError of the class's own checks
    (``__post_init__``) becomes a one-line InputError too.

    Args:
        cls: a dataclass whose annotations say the types.
        mapping: field name -> value (YAML / ``--set`` values); missing fields keep their defaults.
        where: where the values came from, for the messages (a file, "the command-line options").
        section: the prefix of the keys in the messages (``optim`` -> ``'optim.lr'``).
        base: an instance of ``cls`` to change instead of the defaults.
    """
    if mapping is not None and not isinstance(mapping, dict):
        at = f" in {where}" if where else ""
        raise InputError(f"'{section or cls.__name__}'{at} must be a mapping of settings, got {mapping!r}")
    changes = coerce_dict(cls, mapping or {}, section=section, where=where)
    try:
        return dataclasses.replace(base, **changes) if base is not None else cls(**changes)
    except (TypeError, ValueError) as e:
        at = f" (in {where})" if where else ""
        raise InputError(f"bad value in '{section or cls.__name__}'{at}: {e}") from None
