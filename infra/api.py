"""Django REST framework pieces every app's API shares: strict JSON fields, model permissions, no content negotiation.

The errors of these views go through infra.errors.drf_exception_handler (REST_FRAMEWORK in settings).
"""
from __future__ import annotations

from rest_framework import exceptions, serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import BasePermission


class FirstRenderer(DefaultContentNegotiation):
    """JSON whatever the Accept header says (CSV is chosen by `format=csv`, not by negotiation)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class _Strict:
    """A field that takes only the JSON types its schema names: DRF would turn 5 into "5" and "5" into 5."""

    json_types: tuple[type, ...] = (str,)

    def to_internal_value(self, data):
        is_bool_where_not_allowed = isinstance(data, bool) and bool not in self.json_types  # True is an int in Python
        if is_bool_where_not_allowed or not isinstance(data, self.json_types):
            raise serializers.ValidationError(f"Must be {self.json_name}, got {type(data).__name__ if data is not None else 'null'}.")
        return super().to_internal_value(data)

    @property
    def json_name(self) -> str:
        return {str: "a string", int: "an integer", bool: "true or false"}.get(self.json_types[0], "a number")


class CharField(_Strict, serializers.CharField):
    pass


class SlugField(_Strict, serializers.SlugField):
    pass


class IntegerField(_Strict, serializers.IntegerField):
    json_types = (int,)


class FloatField(_Strict, serializers.FloatField):
    json_types = (float, int)


class BooleanField(_Strict, serializers.BooleanField):
    json_types = (bool,)


class MoneyField(_Strict, serializers.DecimalField):
    """US dollars as a decimal string in and out, never a float."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", 18)
        kwargs.setdefault("decimal_places", 6)
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("error_messages", {"invalid": f"Must be {self.json_name}."})
        super().__init__(**kwargs)

    @property
    def json_name(self) -> str:
        return "a decimal string such as \"12.50\""


MAX_INT = 2_147_483_647  # PostgreSQL's integer


class ModelPermissions(BasePermission):
    """A signed-in user holding every Django permission the view names for its action (or method).

    Views say `required_permissions = {"list": ("tenants.change_tenant",), ...}`, keyed by viewset action,
    else by lower-case HTTP method; an action the map does not name is refused.
    """

    def has_permission(self, request, view) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            raise exceptions.NotAuthenticated("An admin token is required: Authorization: Bearer <token>.")
        method = request.method.lower()
        if not hasattr(view, method):
            return True  # the view answers 405 for a method it does not serve
        action = getattr(view, "action", None) or ("get" if method == "head" else method)
        needed = getattr(view, "required_permissions", {}).get(action)
        if needed is None or not user.has_perms(needed):
            raise exceptions.PermissionDenied(f"User {user.get_username()} may not do this: it needs {', '.join(needed or ('a permission',))}.")
        return True
