"""JSON shapes of usage reports (/v1/usage, /v1/admin/usage): the query in, the report out."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from . import reports

GROUP_BY = ("model", "day", "key")
FORMATS = ("json", "csv")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@extend_schema_field(OpenApiTypes.DATE)
class IsoDateField(serializers.Field):
    """A UTC calendar day written exactly YYYY-MM-DD."""

    def to_internal_value(self, data) -> date:
        try:
            if not isinstance(data, str) or not _ISO_DATE.fullmatch(data):
                raise ValueError(data)
            return date.fromisoformat(data)
        except ValueError:
            raise serializers.ValidationError(f"'{self.field_name}' must be a date as YYYY-MM-DD (UTC).") from None

    def to_representation(self, value: date) -> str:
        return value.isoformat()


def _choice(name: str, choices: tuple[str, ...]) -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=choices, default=choices[0],
                                   error_messages={"invalid_choice": f"'{name}' must be one of: {', '.join(choices)}."})


class UsageQuerySerializer(serializers.Serializer):
    """The query string; `start` and `end` default to the month so far (UTC)."""

    start = IsoDateField(required=False, help_text="First day, UTC, inclusive (default: the 1st of this month).")
    end = IsoDateField(required=False, help_text="Last day, UTC, inclusive (default: today).")
    group_by = _choice("group_by", GROUP_BY)
    format = _choice("format", FORMATS)

    def validate(self, attrs: dict) -> dict:
        default = reports.Period.month_to_date()
        start, end = attrs.get("start", default.start), attrs.get("end", default.end)
        if start > end:
            raise serializers.ValidationError({"start": "'start' must not be after 'end'."})
        return {**attrs, "period": reports.Period(start, end)}


class AdminUsageQuerySerializer(UsageQuerySerializer):
    tenant = serializers.CharField(required=False, max_length=64, help_text="A tenant's slug (default: every tenant).")
    group_by = _choice("group_by", (*GROUP_BY, "tenant"))


class UsageTotalsSerializer(serializers.Serializer):
    """reports.Totals; the fields name the schema, Totals.as_json() writes them (one place for the report's columns)."""

    requests = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cached_tokens = serializers.IntegerField(help_text="Of prompt_tokens: read from the provider's cache.")
    cache_write_tokens = serializers.IntegerField(help_text="Of prompt_tokens: written to the provider's cache.")
    reasoning_tokens = serializers.IntegerField(help_text="Of completion_tokens: reasoning.")
    cost_usd = serializers.CharField(help_text="Exact decimal string: the ledger's sum, never rounded, never a float.")
    cached_requests = serializers.IntegerField()
    errors = serializers.IntegerField()

    def to_representation(self, totals: reports.Totals) -> dict:
        return totals.as_json()


class UsageRowSerializer(UsageTotalsSerializer):
    """One group: its value under the group's name (model, day, key or tenant), then its totals."""

    model = serializers.CharField(required=False, allow_null=True)
    day = serializers.DateField(required=False)
    key = serializers.CharField(required=False, allow_null=True, help_text="The key's prefix.")
    tenant = serializers.CharField(required=False, allow_null=True, help_text="/v1/admin/usage only.")

    def to_representation(self, row: tuple[str, reports.Group]) -> dict:
        group_by, group = row
        return {group_by: group.label if isinstance(group.value, date) else group.value, **group.totals.as_json()}


@dataclass(frozen=True)
class UsageReport:
    tenant: str | None
    period: reports.Period
    group_by: str
    groups: list[reports.Group]
    total: reports.Totals


class UsageReportSerializer(serializers.Serializer):
    object = serializers.ChoiceField(choices=["usage"])
    tenant = serializers.CharField(allow_null=True, help_text="null on /v1/admin/usage without `tenant=`: every tenant.")
    start = serializers.DateField()
    end = serializers.DateField()
    group_by = serializers.ChoiceField(choices=[*GROUP_BY, "tenant"])
    data = UsageRowSerializer(many=True)
    total = UsageTotalsSerializer()

    def to_representation(self, report: UsageReport) -> dict:
        return {
            "object": "usage",
            "tenant": report.tenant,
            "start": report.period.start.isoformat(),
            "end": report.period.end.isoformat(),
            "group_by": report.group_by,
            "data": [UsageRowSerializer((report.group_by, group)).data for group in report.groups],
            "total": UsageTotalsSerializer(report.total).data,
        }
