"""Alembic environment: runs migrations on the engine newsline itself uses."""

from alembic import context

from newsline.db.engine import engine_for
from newsline.db.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "sqlalchemy.url must be set (newsline.db.migrate.alembic_config does it)"

with engine_for(url).connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
