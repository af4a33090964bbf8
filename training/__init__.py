"""Preference snapshots, DPO (TRL + PEFT), evaluation gate, MLflow registry, champion loading."""
