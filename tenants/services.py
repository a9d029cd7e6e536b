"""Tenant and key operations for management commands and the admin; bad input raises ValidationError."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from infra.errors import error_text  # noqa: F401  (the commands and the admin name it here)

from . import keys
from .models import ApiKey, Tenant

DEFAULT_GRACE_MINUTES = 60
DEMO_TENANT = "demo"
DEMO_KEY_NAME = "demo"
ADMIN_USERNAME = "admin"


def parse_models(text: str | None) -> list[str]:
    """`a,b` → ["a", "b"]; None → [] (all models)."""
    if text is None:
        return []
    names = [name.strip() for name in text.split(",")]
    if not any(names):
        raise ValidationError("--models needs at least one model name, e.g. --models gpt-4o-mini,mock-small.")
    if not all(names):
        raise ValidationError(f"--models has an empty name in {text!r}; separate names with single commas.")
    if any(" " in name for name in names):
        raise ValidationError(f"--models names cannot contain spaces: {text!r}.")
    return list(dict.fromkeys(names))


def parse_usd(text: str | None, what: str) -> Decimal | None:
    """A non-negative, finite decimal amount of dollars; None stays None."""
    if text is None:
        return None
    try:
        value = Decimal(text.strip().lstrip("$"))
    except InvalidOperation:
        raise ValidationError(f"{what} must be a decimal number of US dollars, got {text!r}.") from None
    if not value.is_finite() or value < 0:
        raise ValidationError(f"{what} must be a finite amount of at least 0, got {text!r}.")
    return value


def check_positive(value: int | None, what: str) -> None:
    if value is not None and value < 1:
        raise ValidationError(f"{what} must be at least 1 (leave it out for no limit), got {value}.")


def get_tenant(slug: str) -> Tenant:
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise ValidationError(f"No tenant with slug {slug!r}. Create it with: python manage.py create_tenant {slug}")
    return tenant


@dataclass(frozen=True)
class TenantSpec:
    slug: str
    name: str = ""
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    monthly_budget_usd: Decimal | None = None
    budget_is_hard: bool = True
    allowed_models: tuple[str, ...] = ()


def create_tenant(spec: TenantSpec) -> Tenant:
    """Create a tenant (no key: see issue_key)."""
    check_positive(spec.rpm_limit, "rpm")
    check_positive(spec.tpm_limit, "tpm")
    if Tenant.objects.filter(slug=spec.slug).exists():
        raise ValidationError(f"A tenant with slug {spec.slug!r} already exists.")
    tenant = Tenant(
        slug=spec.slug,
        name=spec.name or spec.slug,
        rpm_limit=spec.rpm_limit,
        tpm_limit=spec.tpm_limit,
        monthly_budget_usd=spec.monthly_budget_usd,
        budget_is_hard=spec.budget_is_hard,
        allowed_models=list(spec.allowed_models),
    )
    tenant.full_clean()
    tenant.save()
    return tenant


TENANT_FIELDS = ("name", "active", "rpm_limit", "tpm_limit", "monthly_budget_usd", "budget_is_hard", "allowed_models")


def update_tenant(tenant: Tenant, changes: dict) -> Tenant:
    """Change the named fields of a tenant (any of TENANT_FIELDS); cached keys see it within seconds (signals)."""
    unknown = set(changes) - set(TENANT_FIELDS)
    if unknown:
        raise ValidationError(f"Cannot change {', '.join(sorted(unknown))} of a tenant.")
    check_positive(changes.get("rpm_limit"), "rpm")
    check_positive(changes.get("tpm_limit"), "tpm")
    for field, value in changes.items():
        setattr(tenant, field, list(value) if field == "allowed_models" else value)
    tenant.full_clean()
    tenant.save()
    return tenant


def issue_key(slug: str, name: str = "", expires_days: int | None = None) -> keys.IssuedKey:
    tenant = get_tenant(slug)
    if expires_days is not None and expires_days < 1:
        raise ValidationError(f"--expires-days must be at least 1, got {expires_days}.")
    expires_at = timezone.now() + timedelta(days=expires_days) if expires_days else None
    return keys.issue(tenant, name=name, expires_at=expires_at)


def get_key(prefix: str) -> ApiKey:
    key = keys.find_by_prefix(prefix.strip())
    if key is None:
        raise ValidationError(f"No API key with prefix {prefix!r} (the key's first {keys.PREFIX_LENGTH} characters).")
    return key


def rotation_refusal(key: ApiKey) -> str | None:
    """Why `key` cannot be rotated, or None if it can."""
    if key.revoked_at is not None:
        return f"Key {key.prefix} is revoked; revoked keys cannot be rotated. Create a new one with create_api_key."
    if key.replaced_by_id is not None:
        return f"Key {key.prefix} was already rotated; rotate its successor {key.replaced_by.prefix} instead."
    if key.expires_at is not None and key.expires_at <= timezone.now():
        return f"Key {key.prefix} has expired; create a new one with create_api_key."
    return None


def rotate_key(key: ApiKey, grace_minutes: int = DEFAULT_GRACE_MINUTES) -> keys.IssuedKey:
    """Issue a successor; the old key keeps working for grace_minutes."""
    if grace_minutes < 0:
        raise ValidationError(f"--grace-minutes must be 0 or more, got {grace_minutes}.")
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().select_related("tenant").get(pk=key.pk)
        refusal = rotation_refusal(key)
        if refusal:
            raise ValidationError(refusal)
        return keys.rotate(key, timedelta(minutes=grace_minutes))


def revoke_key(key: ApiKey) -> bool:
    """Revoke at once; False if the key was already revoked."""
    if key.revoked_at is not None:
        return False
    keys.revoke(key)
    return True


@dataclass(frozen=True)
class DemoCredentials:
    admin_password: str | None  # set only when the admin user was created by this run
    demo_key: str | None  # set only when the demo key was issued by this run


def usable_keys(tenant: Tenant):
    now = timezone.now()
    return tenant.keys.filter(revoked_at__isnull=True, replaced_by__isnull=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )


@transaction.atomic
def ensure_demo_tenant(admin_password: str | None) -> DemoCredentials:
    """Create what is missing of the admin user, the demo tenant and its key; touch nothing that exists."""
    user_model = get_user_model()
    password = None
    if not user_model.objects.filter(username=ADMIN_USERNAME).exists():
        password = admin_password or secrets.token_urlsafe(12)
        user_model.objects.create_superuser(ADMIN_USERNAME, email="", password=password)
    tenant, _ = Tenant.objects.get_or_create(slug=DEMO_TENANT, defaults={"name": "Demo tenant"})
    raw = None
    if not usable_keys(tenant).filter(name=DEMO_KEY_NAME).exists():
        raw = keys.issue(tenant, name=DEMO_KEY_NAME).raw
    return DemoCredentials(password, raw)


def read_credentials(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    lines = path.read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    return {name.strip(): value.strip() for name, value in pairs}


def save_credentials(path: Path, created: DemoCredentials) -> dict[str, str]:
    """Merge newly created credentials into the demo-only file (mode 0600); return its values."""
    values = read_credentials(path)
    if created.admin_password:
        values.update(ADMIN_USER=ADMIN_USERNAME, ADMIN_PASSWORD=created.admin_password)
    if created.demo_key:
        values["DEMO_API_KEY"] = created.demo_key
    return _write_credentials(path, values)


def ensure_demo_secret(path: Path) -> None:
    """A DJANGO_SECRET_KEY of the demo's own in the demo-only file, made once; `make serve` reads it from there."""
    values = read_credentials(path)
    if not values.get("DJANGO_SECRET_KEY"):
        _write_credentials(path, {**values, "DJANGO_SECRET_KEY": secrets.token_urlsafe(50)})


def _write_credentials(path: Path, values: dict[str, str]) -> dict[str, str]:
    header = "# Demo-only credentials written by `manage.py bootstrap`; never use this file in production.\n"
    body = "".join(f"{name}={value}\n" for name, value in values.items())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(header + body)
    os.chmod(path, 0o600)  # an existing file keeps its old mode through os.open
    return values
