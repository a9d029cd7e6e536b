"""A PostgreSQL login role of the gateway's own, so a test can lock the gateway out of the database."""
import uuid
from contextlib import contextmanager

from django.db import connection


def sql(statement: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement)


def table_role(prefix: str, login: bool = False) -> str:
    """A new role with every right on the tables and sequences there are, and no other (no CREATE on the schema).

    Roles span the cluster: the random suffix keeps parallel runs apart."""
    role = f"{prefix}_{uuid.uuid4().hex[:8]}"
    sql(f"CREATE ROLE {role}{' LOGIN' if login else ''}")
    sql(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
    sql(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}")
    return role


@contextmanager
def gateway_role():
    """A login role for the gateway alone, so the test can lock it out without touching anyone else."""
    role = table_role("gw_outage", login=True)
    yield role
    sql(f"ALTER ROLE {role} NOLOGIN")
    sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")
    sql(f"DROP OWNED BY {role}")
    sql(f"DROP ROLE {role}")


def lock_out(role: str) -> None:
    sql(f"ALTER ROLE {role} NOLOGIN")
    sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")
