"""Drop cached principals when a key or tenant changes, so edits apply within seconds."""
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from . import auth
from .models import ApiKey, Tenant


@receiver([post_save, post_delete], sender=ApiKey)
def key_changed(sender, instance: ApiKey, **kwargs):
    auth.forget(instance.digest)


@receiver([post_save, post_delete], sender=Tenant)
def tenant_changed(sender, instance: Tenant, **kwargs):
    for digest in ApiKey.objects.filter(tenant_id=instance.pk).values_list("digest", flat=True):
        auth.forget(digest)
