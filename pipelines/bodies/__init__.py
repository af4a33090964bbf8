"""The HTTP API's request and response bodies (what applications send and get back), validated once at the
edge: tickets (`tickets.py`), `POST /v1/route` (`route.py`, with the text and number checks every body uses).
The use-cases take them as input, so they live below the API."""
