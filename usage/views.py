"""GET /v1/usage: the calling key's tenant's totals over a period, as JSON or CSV."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import orjson
from asgiref.sync import sync_to_async
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from infra.errors import GatewayError, bad_request, error_response, method_not_allowed
from tenants.auth import authenticate
from infra.clients import client_address
from tenants.principal import Principal

from . import exports, reports

GROUP_BY = ("model", "day", "key")
FORMATS = ("json", "csv")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class UsageQuery:
    period: reports.Period
    group_by: str
    format: str


def _date(params, name: str, default: date) -> date:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        if not _ISO_DATE.fullmatch(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise bad_request(f"'{name}' must be a date as YYYY-MM-DD (UTC).", param=name) from None


def _choice(params, name: str, choices: tuple[str, ...]) -> str:
    value = params.get(name, choices[0])
    if value not in choices:
        raise bad_request(f"'{name}' must be one of: {', '.join(choices)}.", param=name)
    return value


def parse_query(params) -> UsageQuery:
    """The query string as a UsageQuery, or a 400 naming the bad parameter."""
    default = reports.Period.month_to_date()
    start = _date(params, "start", default.start)
    end = _date(params, "end", default.end)
    if start > end:
        raise bad_request("'start' must not be after 'end'.", param="start")
    return UsageQuery(reports.Period(start, end), _choice(params, "group_by", GROUP_BY), _choice(params, "format", FORMATS))


def _report(tenant_id: int, query: UsageQuery) -> tuple[list[reports.Group], reports.Totals]:
    rows = reports.ledger(query.period.start, query.period.end, tenant_id)
    return reports.grouped(rows, query.group_by), reports.totals(rows)


def _json(principal: Principal, query: UsageQuery, groups: list[reports.Group], total: reports.Totals) -> HttpResponse:
    body = {
        "object": "usage",
        "tenant": principal.tenant_slug,
        "start": query.period.start.isoformat(),
        "end": query.period.end.isoformat(),
        "group_by": query.group_by,
        "data": [{query.group_by: group.value, **group.totals.as_json()} for group in groups],
        "total": total.as_json(),
    }
    return HttpResponse(orjson.dumps(body), content_type="application/json")


def _csv(request, principal: Principal, query: UsageQuery, groups: list[reports.Group]) -> HttpResponse:
    name = f"usage-{principal.tenant_slug}-{query.period.start}-{query.period.end}-{query.group_by}.csv"
    return exports.csv_response(request, exports.report_csv(query.group_by, groups), name)


@csrf_exempt  # key-authenticated API: no cookies, so no CSRF; a POST gets our JSON 405
async def usage(request):
    if request.method != "GET":
        return error_response(method_not_allowed(request.method))
    try:
        principal = await authenticate(request.headers, client_address(request))
        query = parse_query(request.GET)
    except GatewayError as err:
        return error_response(err)
    groups, total = await sync_to_async(_report, thread_sensitive=False)(principal.tenant_id, query)
    if query.format == "csv":
        return _csv(request, principal, query, groups)
    return _json(principal, query, groups, total)
