"""API key creation, rotation and revocation; only a key's SHA-256 digest is stored."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import ApiKey, Tenant

KEY_PREFIX = "gw-"
PREFIX_LENGTH = 12


def digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode("utf-8")).hexdigest()


def generate() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    raw: str  # shown once, never stored


def issue(tenant: Tenant, name: str = "", expires_at: datetime | None = None) -> IssuedKey:
    """Create a key for the tenant and return it with its raw secret."""
    for _ in range(5):
        raw = generate()
        try:
            with transaction.atomic():
                key = ApiKey.objects.create(
                    tenant=tenant, name=name, prefix=raw[:PREFIX_LENGTH], digest=digest(raw), expires_at=expires_at
                )
            return IssuedKey(key, raw)
        except IntegrityError:  # prefix collision: draw again
            continue
    raise RuntimeError("could not draw a unique key prefix")


def rotate(old: ApiKey, grace: timedelta) -> IssuedKey:
    """Issue a successor of `old`; the old key keeps working for `grace`, then stops."""
    with transaction.atomic():
        new = issue(old.tenant, name=old.name, expires_at=old.expires_at)
        new.key.rpm_limit, new.key.tpm_limit = old.rpm_limit, old.tpm_limit
        new.key.save(update_fields=["rpm_limit", "tpm_limit"])
        old.replaced_by = new.key
        old.grace_until = timezone.now() + grace
        old.save(update_fields=["replaced_by", "grace_until"])
    return new


def revoke(key: ApiKey) -> None:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])


def find_by_prefix(prefix: str) -> ApiKey | None:
    return ApiKey.objects.select_related("tenant").filter(prefix=prefix[:PREFIX_LENGTH]).first()
