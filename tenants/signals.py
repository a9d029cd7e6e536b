"""Drop cached principals when a key or tenant changes, so edits apply within seconds.

The caches are cleared once the change is committed, not when it is saved: cleared inside the
transaction, another replica could read the old row before the commit and cache it again for
KEY_CACHE_SHARED_TTL, undoing a revocation. Outside a transaction on_commit runs at once.
"""
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from . import auth
from .models import ApiKey, Tenant


def _forget_on_commit(digests: list[str], using: str) -> None:
    transaction.on_commit(lambda: [auth.forget(digest) for digest in digests], using=using)


@receiver([post_save, post_delete], sender=ApiKey)
def key_changed(sender, instance: ApiKey, using: str, **kwargs):
    _forget_on_commit([instance.digest], using)


@receiver([post_save, post_delete], sender=Tenant)
def tenant_changed(sender, instance: Tenant, using: str, **kwargs):
    digests = list(ApiKey.objects.using(using).filter(tenant_id=instance.pk).values_list("digest", flat=True))
    _forget_on_commit(digests, using)
