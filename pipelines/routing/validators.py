"""Pluggable validators for `validator` rules: a registry of named checks plus `module:function` paths.

A check is called as `check(interaction, **args)` and says whether it agrees with the model's output:
`True` or `None` = agrees; `False` = disagrees; a non-empty string = disagrees, and the string says why.

A `module:function` path imports that module, which runs its code: only modules the operator trusts in
the main config (`routing.trusted_validator_modules` in configs/tacit.yaml, a package trusting its
submodules) may be named, so a rules file cannot load `os:system` or any other importable function.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable
from typing import Any

from pipelines.routing.interaction import Interaction

ValidatorCheck = Callable[..., bool | str | None]

_REGISTRY: dict[str, ValidatorCheck] = {}


def register_validator(name: str) -> Callable[[ValidatorCheck], ValidatorCheck]:
    """Decorator: make a check available to rules as `check: <name>`."""

    def add(check: ValidatorCheck) -> ValidatorCheck:
        _REGISTRY[name] = check
        return check

    return add


def registered_validators() -> list[str]:
    return sorted(_REGISTRY)


def is_trusted(module_name: str, trusted_modules: Iterable[str]) -> bool:
    """Whether `module_name` is a trusted module or inside a trusted package."""
    return any(module_name == trusted or module_name.startswith(trusted + ".") for trusted in trusted_modules)


def resolve_validator(
    reference: str,
    extra: dict[str, ValidatorCheck] | None = None,
    trusted_modules: Iterable[str] = (),
) -> ValidatorCheck:
    """A check by registered name (`extra` first, then the registry) or by `package.module:function`
    from a trusted module; LookupError saying the fix otherwise."""
    if extra and reference in extra:
        return extra[reference]
    if reference in _REGISTRY:
        return _REGISTRY[reference]
    if ":" not in reference:
        known = ", ".join(sorted({*_REGISTRY, *(extra or {})})) or "none"
        raise LookupError(
            f"no validator registered as '{reference}' (registered: {known}); "
            "use a registered name or a dotted path 'package.module:function' from a trusted module"
        )
    module_name, _, attribute = reference.partition(":")
    trusted_modules = list(trusted_modules)
    if not is_trusted(module_name, trusted_modules):
        listed = ", ".join(trusted_modules) or "none"
        raise LookupError(
            f"validator '{reference}': module '{module_name}' is not trusted (trusted: {listed}), so it is "
            f"not imported; list it in routing.trusted_validator_modules in configs/tacit.yaml, or register "
            "the check with @register_validator in a trusted module and name it"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise LookupError(f"validator '{reference}': cannot import module '{module_name}': {exc}") from None
    check = getattr(module, attribute, None)
    if not callable(check):
        raise LookupError(f"validator '{reference}': module '{module_name}' has no function '{attribute}'")
    return check


def disagreement(check: ValidatorCheck, interaction: Interaction, args: dict[str, Any]) -> str | None:
    """None when the check agrees with the output, else the reason it disagrees.

    A check that raises counts as disagreement: when in doubt, a human looks.
    """
    try:
        verdict = check(interaction, **args)
    except Exception as exc:  # noqa: BLE001 - any failure of a plug-in check routes to a human
        return f"validator raised {type(exc).__name__}: {exc}"
    if verdict is True or verdict is None:
        return None
    if verdict is False:
        return "validator disagrees with the output"
    if isinstance(verdict, str) and verdict:
        return verdict
    return f"validator returned {verdict!r}; expected True/None (agrees), False or a reason string"


# --- built-in checks ---

# No lookbehind: a pattern that starts with a character class lets the regex engine skip ahead fast.
_NUMBER = re.compile(r"[0-9][0-9,]*(?:\.[0-9]+)?")


def _numbers(text: str) -> set[str]:
    found = set()
    for match in _NUMBER.findall(text):
        number = match.replace(",", "")
        if "." in number:
            number = number.rstrip("0").rstrip(".")
        found.add(number)
    return found


@register_validator("numbers_match_input")
def numbers_match_input(interaction: Interaction, ignore: list[str] | None = None) -> bool | str:
    """Every number the output states must appear in the input: catches a draft that changes a dose,
    an amount or a date the human gave (a contradiction a validation layer should flag)."""
    invented = _numbers(interaction.output) - _numbers(interaction.input) - set(ignore or [])
    if invented:
        return f"output states numbers not in the input: {', '.join(sorted(invented))}"
    return True
