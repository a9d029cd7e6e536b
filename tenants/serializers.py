"""JSON shapes of tenants and keys in the management API; a key's digest is never a field."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from infra import api

from . import services
from .models import ApiKey, Tenant


class ModelNameField(api.CharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=200, **kwargs)

    def to_internal_value(self, data):
        name = super().to_internal_value(data)
        if any(c.isspace() for c in name):
            raise serializers.ValidationError("Model names cannot contain spaces.")
        return name


class TenantSerializer(serializers.ModelSerializer):
    slug = api.SlugField(max_length=64, help_text="Unique short name; the tenant's address. Cannot change.")
    name = api.CharField(max_length=200, required=False, allow_blank=True)
    active = api.BooleanField(required=False)
    rpm_limit = api.IntegerField(min_value=1, max_value=api.MAX_INT, allow_null=True, required=False)
    tpm_limit = api.IntegerField(min_value=1, max_value=api.MAX_INT, allow_null=True, required=False)
    monthly_budget_usd = api.MoneyField(allow_null=True, required=False)
    budget_is_hard = api.BooleanField(required=False)
    allowed_models = serializers.ListField(child=ModelNameField(), required=False, help_text="Empty: every model.")

    class Meta:
        model = Tenant
        fields = ["slug", "name", "active", "rpm_limit", "tpm_limit", "monthly_budget_usd", "budget_is_hard",
                  "allowed_models", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]
        validators = []  # validate_slug says which slug is taken, naming the field

    def validate_slug(self, slug: str) -> str:
        if self.instance is not None:
            if slug != self.instance.slug:
                raise serializers.ValidationError("A tenant's slug cannot change.")
        elif Tenant.objects.filter(slug=slug).exists():
            raise serializers.ValidationError(f"A tenant with slug {slug!r} already exists.")
        return slug

    def create(self, validated):
        active = validated.pop("active", True)
        spec = services.TenantSpec(**{**validated, "allowed_models": tuple(validated.get("allowed_models", ()))})
        tenant = services.create_tenant(spec)
        return tenant if active else services.update_tenant(tenant, {"active": False})

    def update(self, tenant, validated):
        validated.pop("slug", None)
        return services.update_tenant(tenant, validated)


class KeySerializer(serializers.ModelSerializer):
    replaced_by = serializers.SlugRelatedField(slug_field="prefix", read_only=True, allow_null=True,
                                               help_text="The successor's prefix, once rotated.")
    last_used_at = serializers.SerializerMethodField()
    tenant = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = ApiKey
        fields = ["prefix", "tenant", "name", "created_at", "expires_at", "revoked_at", "replaced_by", "grace_until",
                  "last_used_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_last_used_at(self, key: ApiKey) -> str | None:
        try:
            used = key.last_used.last_used_at
        except ApiKey.last_used.RelatedObjectDoesNotExist:
            return None
        return serializers.DateTimeField().to_representation(used)


class NewKeySerializer(serializers.Serializer):
    """POST body for a tenant's new key; the answer is the key with its raw secret, once."""

    name = api.CharField(max_length=200, required=False, allow_blank=True, default="")
    expires_days = api.IntegerField(min_value=1, max_value=36_500, required=False, allow_null=True, default=None)


class IssuedKeySerializer(KeySerializer):
    key = serializers.CharField(read_only=True, help_text="The raw key: shown only in this answer, never stored.")

    class Meta(KeySerializer.Meta):
        fields = [*KeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class RotateSerializer(serializers.Serializer):
    grace_minutes = api.IntegerField(min_value=0, max_value=525_600, required=False, default=services.DEFAULT_GRACE_MINUTES,
                                     help_text="Minutes the old key keeps working.")


class RotatedSerializer(serializers.Serializer):
    old = KeySerializer(read_only=True)
    new = IssuedKeySerializer(read_only=True)
