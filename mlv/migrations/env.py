"""Alembic environment: runs on the connection handed over by mlv.db.migrate()."""

from alembic import context
from sqlmodel import SQLModel

import mlv.models  # noqa: F401  (registers the tables)
from mlv.db import include_object

target_metadata = SQLModel.metadata
connection = context.config.attributes.get("connection")
options = {"target_metadata": target_metadata, "render_as_batch": True, "include_object": include_object}

if connection is None:  # `alembic` command line: use the configured URL
    from mlv.config import get_settings
    from mlv.db import make_engine

    engine = make_engine(get_settings().db_url)
    with engine.begin() as connection:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, **options)
    with context.begin_transaction():
        context.run_migrations()
