"""Routing: explicit, versioned rules (`configs/routing.yaml`) decide which interactions a human sees.

router = Router.from_file("configs/routing.yaml", embed=embedder, novelty=max_similarity)
router.route(Interaction(task="charge_dispute", input=..., output=..., signals={"amount": 2847.5}))
"""

from pipelines.routing.compiled import Embed, Novelty, RuleSkipped
from pipelines.routing.embedding import cached_embedder
from pipelines.routing.interaction import Interaction, RoutingDecision
from pipelines.routing.loader import LoadedRules, RoutingRulesError, load_rules, parse_rules
from pipelines.routing.models import DECISIONS, Decision, RoutingRules
from pipelines.routing.router import Router
from pipelines.routing.settings import RoutingSettings
from pipelines.routing.validators import register_validator, registered_validators, resolve_validator

__all__ = [
    "DECISIONS",
    "Decision",
    "Embed",
    "Interaction",
    "LoadedRules",
    "Novelty",
    "Router",
    "cached_embedder",
    "RoutingDecision",
    "RoutingRules",
    "RoutingRulesError",
    "RoutingSettings",
    "RuleSkipped",
    "load_rules",
    "parse_rules",
    "register_validator",
    "registered_validators",
    "resolve_validator",
]
