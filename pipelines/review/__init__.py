"""Human review as a domain: the quorum rules (`quorum.py`, pure: where a ticket's review stands and who
decides), the `review:` settings (`settings.py`), agreement statistics (`stats.py`: Krippendorff's alpha, each
annotator's agreement with the decision)."""
