"""Errors that `train_dpo` raises for bad input; each message says what is wrong and how to fix it."""


class TrainingError(RuntimeError):
    """Base class: the CLI prints the message and exits non-zero."""


class RecipeError(TrainingError, ValueError):
    """The recipe YAML has missing, unknown or invalid keys."""


class NotEnoughPairsError(TrainingError):
    """Too few preference pairs (after the recipe's filters) to train."""


class TrackingUnavailableError(TrainingError):
    """The MLflow tracking server cannot be reached; raised before any training starts."""


class BaseModelError(TrainingError):
    """The base model cannot be found or converted."""
