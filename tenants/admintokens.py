"""Admin tokens for the management API: made by `create_admin_token`, only their SHA-256 digest is stored."""
from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from .keys import PREFIX_LENGTH, digest
from .models import AdminToken

TOKEN_PREFIX = "gwa-"


@dataclass(frozen=True)
class IssuedToken:
    token: AdminToken
    raw: str  # shown once, never stored


def issue(username: str, expires_days: int | None = None) -> IssuedToken:
    """A new token acting as `username`; bad input raises ValidationError."""
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ValidationError(f"No user named {username!r}. Create one with: python manage.py createsuperuser (or in the admin).")
    if not user.is_active:
        raise ValidationError(f"User {username!r} is not active.")
    if expires_days is not None and expires_days < 1:
        raise ValidationError(f"--expires-days must be at least 1, got {expires_days}.")
    expires_at = timezone.now() + timedelta(days=expires_days) if expires_days else None
    for _ in range(5):
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        try:
            with transaction.atomic():
                token = AdminToken.objects.create(user=user, prefix=raw[:PREFIX_LENGTH], digest=digest(raw), expires_at=expires_at)
            return IssuedToken(token, raw)
        except IntegrityError:  # prefix collision: draw again
            continue
    raise RuntimeError("could not draw a unique token prefix")


def user_for(raw: str):
    """The active user a live token acts as, or None."""
    wanted = digest(raw)
    now = timezone.now()
    token = (
        AdminToken.objects.select_related("user")
        .filter(digest=wanted, revoked_at__isnull=True, user__is_active=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .first()
    )
    if token is None or not hmac.compare_digest(token.digest, wanted):
        return None
    return token.user
