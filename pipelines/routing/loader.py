"""Read `configs/routing.yaml` and fail with the file, the line and the problem when it is wrong.

PyYAML's composed nodes keep their line numbers (`start_mark.line`); pydantic error locations are
walked back through that node tree so each problem points at the line that holds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml
from pydantic import ValidationError

from pipelines.routing.models import RoutingRules


class RoutingRulesError(ValueError):
    """The routing rules file is wrong; the message names the file, the line and the problem."""


class LoadedRules:
    """Validated rules plus where each rule was written (for error messages raised later, at compile)."""

    def __init__(self, rules: RoutingRules, source: str, rule_lines: dict[str, int]) -> None:
        self.rules = rules
        self.source = source
        self.rule_lines = rule_lines

    def where(self, rule_id: str) -> str:
        line = self.rule_lines.get(rule_id)
        return (
            f"{self.source} line {line} (rule '{rule_id}')" if line else f"{self.source} (rule '{rule_id}')"
        )


def load_rules(path: str | Path) -> LoadedRules:
    """Read and validate a rules file; raise RoutingRulesError naming the file, line and problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RoutingRulesError(f"cannot read routing rules file {path}: {exc.strerror or exc}") from None
    return parse_rules(text, source=str(path))


def parse_rules(text: str, source: str = "<routing rules>") -> LoadedRules:
    """Validate rules given as YAML text; `source` names it in error messages."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise RoutingRulesError(
                f"{source}: the file is empty; it needs `version`, `precedence` and `rules`"
            )
        _reject_duplicate_keys(root, source)
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f" line {mark.line + 1}" if mark else ""
        raise RoutingRulesError(f"{source}{line}: not valid YAML: {exc.problem or exc.context}") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise RoutingRulesError(
            f"{source} line {root.start_mark.line + 1}: expected a mapping with `version`, `precedence` "
            f"and `rules`, got {type(data).__name__}"
        )
    try:
        rules = RoutingRules.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(error, root, data, source) for error in exc.errors()]
        raise RoutingRulesError(
            f"invalid routing rules in {source} ({len(problems)} problem(s)):\n  " + "\n  ".join(problems)
        ) from None
    id_lines = _rule_id_lines(root)
    _reject_duplicate_ids(id_lines, source)
    return LoadedRules(rules, source, dict(id_lines))


def _describe(error: dict, root: yaml.Node, data: dict, source: str) -> str:
    loc: Sequence[str | int] = error["loc"]
    if error["type"] == "union_tag_invalid":
        loc = (*loc, "kind")  # point at the `kind:` line itself
    node, path = _node_at(root, loc)
    line = node.start_mark.line + 1
    where = _loc_text(path) or "top level"
    rule_id = _rule_id(data, path)
    rule = f" (rule '{rule_id}')" if rule_id else ""
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown key (not allowed here; check the spelling)"
    elif error["type"] == "union_tag_invalid":
        context = error.get("ctx", {})
        message = f"unknown rule kind {context.get('tag')!r}; use one of {context.get('expected_tags')}"
    elif error["type"] == "union_tag_not_found":
        message = "required key 'kind' is missing (threshold, wording, out_of_scope, compliance, ...)"
    elif error["type"] == "missing":
        message = f"required key '{loc[-1]}' is missing"
        where = _loc_text(path) or "top level"
    return f"{source} line {line}{rule}: {where}: {message}"


def _node_at(root: yaml.Node, loc: Sequence[str | int]) -> tuple[yaml.Node, list[str | int]]:
    """The deepest node along `loc`, and the part of `loc` that was found in the file.

    Parts that are not in the file (the discriminator tag pydantic inserts for a union, a missing key)
    are skipped, so the line is that of the nearest enclosing node that exists.
    """
    node, found = root, []
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            child = next((value for key, value in node.value if key.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            child = node.value[part]
        if child is not None:
            node = child
            found.append(part)
    return node, found


def _loc_text(path: Sequence[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _rule_id(data: dict, path: Sequence[str | int]) -> str | None:
    if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
        rules = data.get("rules")
        if isinstance(rules, list) and path[1] < len(rules) and isinstance(rules[path[1]], dict):
            rule_id = rules[path[1]].get("id")
            return str(rule_id) if rule_id is not None else None
    return None


def _reject_duplicate_keys(node: yaml.Node, source: str) -> None:
    # PyYAML keeps the last of two equal keys without a word; in a rules file that hides a rule change.
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise RoutingRulesError(
                        f"{source} line {key.start_mark.line + 1}: key '{key.value}' appears twice in the "
                        f"same mapping (first at line {seen[key.value]}); remove one"
                    )
                seen[key.value] = key.start_mark.line + 1
            _reject_duplicate_keys(value, source)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _reject_duplicate_keys(item, source)


def _rule_id_lines(root: yaml.Node) -> list[tuple[str, int]]:
    """(rule id, line where the rule starts) in file order."""
    rules_node, _ = _node_at(root, ["rules"])
    lines: list[tuple[str, int]] = []
    for item in rules_node.value:
        id_node, found = _node_at(item, ["id"])
        if found:
            lines.append((str(id_node.value), item.start_mark.line + 1))
    return lines


def _reject_duplicate_ids(id_lines: list[tuple[str, int]], source: str) -> None:
    first_line: dict[str, int] = {}
    for rule_id, line in id_lines:
        if rule_id in first_line:
            raise RoutingRulesError(
                f"{source} line {line}: rule id '{rule_id}' is already used at line {first_line[rule_id]}; "
                "ids name rules in the audit trail, so each must be unique"
            )
        first_line[rule_id] = line
