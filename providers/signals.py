"""Reload the route table after a provider or route changes."""
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from . import routes
from .models import ModelRoute, Provider


@receiver([post_save, post_delete], sender=Provider)
@receiver([post_save, post_delete], sender=ModelRoute)
def routes_changed(sender, **kwargs):
    routes.invalidate()
