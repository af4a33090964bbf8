"""Argilla side: dataset specs, record building, responses -> feedback, webhook verification."""
