"""Reading a preset's rendered options: each key's JSON type checked, null read as not given (pure).

Options are templates, so a value is only known once rendered; a wrong type is a PresetError naming
the preset and the key, which fails the delivery as a render error does. A template that finds
nothing renders null, and a null option is left out of the body, as if it had not been written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from hookd import jsonvalue
from hookd.presets.base import OptionKind, PresetError
from hookd.suggest import did_you_mean


def check_known(preset: str, options: Mapping[str, object], known: Iterable[str]) -> None:
    """Refuse a key the preset does not take (validate refuses it first; this keeps the body honest
    for a config that was never validated)."""
    allowed = frozenset(known)
    for key in options:
        if key not in allowed:
            takes = ", ".join(sorted(allowed)) or "none"
            raise PresetError(
                f"the {preset} preset takes no option {key!r}{did_you_mean(key, allowed)} (it takes: {takes})",
                option=key,
            )


def text(preset: str, options: Mapping[str, object], key: str) -> str | None:
    value = options.get(key)
    if value is None or isinstance(value, str):
        return value
    raise PresetError(f"preset_options.{key} must be a string, not {jsonvalue.kind(value)}", option=key)


def flag(preset: str, options: Mapping[str, object], key: str) -> bool | None:
    value = options.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise PresetError(f"preset_options.{key} must be true or false, not {jsonvalue.kind(value)}", option=key)


def mapping(preset: str, options: Mapping[str, object], key: str) -> dict[str, object] | None:
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, dict):
        return value
    raise PresetError(f"preset_options.{key} must be an object, not {jsonvalue.kind(value)}", option=key)


def objects(preset: str, options: Mapping[str, object], key: str, *, most: int | None = None) -> list[object] | None:
    """A list of objects (Slack blocks, Discord embeds), at most `most` of them."""
    value = options.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise PresetError(f"preset_options.{key} must be a list of objects, not {jsonvalue.kind(value)}", option=key)
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise PresetError(f"preset_options.{key}[{i}] must be an object, not {jsonvalue.kind(item)}", option=key)
    if most is not None and len(value) > most:
        raise PresetError(
            f"preset_options.{key} has {len(value)} items; {preset.capitalize()} takes at most {most}", option=key
        )
    return value


def fits(preset: str, option_kind: OptionKind, key: str, value: object) -> bool:
    """Whether `value` is of the kind (read by the same function the preset's body reads it with)."""
    if option_kind == "any":
        return True
    try:
        _READERS[option_kind](preset, {key: value}, key)
    except PresetError:
        return False
    return True


_READERS: dict[str, Callable[[str, Mapping[str, object], str], object]] = {
    "text": text,
    "flag": flag,
    "object": mapping,
    "objects": objects,
}


def stand_in(option_kind: OptionKind) -> object:
    """A value of the kind, for an option whose value is only known once rendered: validate tries the
    preset's body with it, to find what is wrong in the options written out."""
    return {"text": "x", "flag": True, "object": {}, "objects": [{}], "any": "x"}[option_kind]


def put(body: dict[str, object], key: str, value: object) -> None:
    """Set `key` only when the option was given (a null option is left out)."""
    if value is not None:
        body[key] = value
