"""Alembic's entry for the ledger. Run by `pipelines.ledger.migrations.upgrade` on a connection it holds
(config.attributes["connection"]), or from the alembic CLI for writing revisions:

    .venv/bin/alembic -c pipelines/ledger/migrations/alembic.ini -x url=sqlite:////tmp/dev.db upgrade head
    .venv/bin/alembic -c pipelines/ledger/migrations/alembic.ini -x url=sqlite:////tmp/dev.db \\
        revision --autogenerate -m "what changed"

without `-x url=`, the CLI uses the ledger of the tacit configuration (TACIT_HOME, configs/tacit.yaml).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from pipelines.ledger.migrations import configure_context

config = context.config
connection = config.attributes.get("connection")

if connection is not None:
    configure_context(context, connection)
    with context.begin_transaction():
        context.run_migrations()
else:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if url is None:
        from pipelines.config import get_settings

        url = get_settings().ledger_url
    engine = create_engine(url)
    with engine.connect() as cli_connection:
        configure_context(context, cli_connection)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
