"""The admin usage report: staff with view permission only, totals per tenant/model/day, SVG chart, CSV of the selection."""
import csv
import io
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from .conftest import make_tenant
from .ledger_rows import row, save

pytestmark = pytest.mark.django_db

NOVEMBER = {"start": "2026-11-01", "end": "2026-11-30"}


@pytest.fixture
def ledger():
    acme, globex = make_tenant("acme"), make_tenant("globex")
    save(
        row(acme, "2026-11-02 10:00", model="gpt-4o-mini", cost_usd=Decimal("0.1"), request_id="acme-1"),
        row(acme, "2026-11-03 10:00", model="gpt-4o-mini", cost_usd=Decimal("0.2"), request_id="acme-2"),
        row(globex, "2026-11-03 11:00", model="claude-haiku", cost_usd=Decimal("1.5"), request_id="globex-1"),
        row(globex, "2026-12-01 00:00", model="claude-haiku", cost_usd=Decimal("7"), request_id="globex-dec"),
    )
    return acme, globex


def csv_rows(response) -> list[dict[str, str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_it_shows_spend_and_tokens_per_tenant_model_and_day(admin_client, ledger):
    response = admin_client.get(reverse("usage_report"), NOVEMBER)
    assert response.status_code == 200
    page = response.content.decode()
    for text in ("acme", "globex", "gpt-4o-mini", "claude-haiku", "2026-11-02", "2026-11-03"):
        assert text in page
    assert ">0.3<" in page  # acme's spend: 0.1 + 0.2, exact
    assert ">1.8<" in page  # the period's total; December's 7 is outside it
    assert ">7<" not in page
    groups = response.context["tenants"]
    assert [(g.label, g.totals.requests, g.totals.total_tokens) for g in groups] == [("acme", 2, 60), ("globex", 1, 30)]


def test_it_draws_the_spend_per_day_as_inline_svg(admin_client, ledger):
    page = admin_client.get(reverse("usage_report"), NOVEMBER).content.decode()
    start = page.index('<svg class="usage-chart"')
    svg = page[start:page.index("</svg>", start)]
    assert svg.count("<rect") == 2  # two days with spend
    assert "2026-11-03: $1.7," in svg
    assert "<script" not in page[page.index('id="content-main"'):]  # plain SVG: no chart library


def test_the_tallest_bar_is_the_day_with_the_most_spend(admin_client, ledger):
    bars = [bar for bar in admin_client.get(reverse("usage_report"), NOVEMBER).context["chart"].bars if bar.totals]
    heights = {bar.day.isoformat(): bar.height for bar in bars}
    assert heights["2026-11-03"] == 200.0
    assert heights["2026-11-02"] == pytest.approx(200 * 0.1 / 1.7)


def test_it_narrows_to_one_tenant(admin_client, ledger):
    response = admin_client.get(reverse("usage_report"), {**NOVEMBER, "tenant": "acme"})
    assert [g.label for g in response.context["models"]] == ["gpt-4o-mini"]
    assert "tenant=acme" in response.context["csv_query"]


def test_it_defaults_to_this_month(admin_client, ledger):
    response = admin_client.get(reverse("usage_report"))
    assert response.status_code == 200
    assert response.context["period"].start.day == 1


def test_it_explains_a_bad_period(admin_client, ledger):
    response = admin_client.get(reverse("usage_report"), {"start": "2026-11-30", "end": "2026-11-01"})
    assert response.status_code == 200
    assert "must not be after" in response.content.decode()
    assert "total" not in response.context


def test_the_csv_link_downloads_exactly_the_selection(admin_client, ledger):
    page = admin_client.get(reverse("usage_report"), {**NOVEMBER, "tenant": "globex"})
    link = f'{reverse("usage_report_csv")}?{page.context["csv_query"]}'
    assert link.replace("&", "&amp;") in page.content.decode()
    response = admin_client.get(link)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert [r["request_id"] for r in csv_rows(response)] == ["globex-1"]


def test_the_csv_download_refuses_a_bad_selection(admin_client, ledger):
    assert admin_client.get(reverse("usage_report_csv"), {"start": "nope", "end": "2026-11-30"}).status_code == 400


def test_the_admin_index_links_to_the_report(admin_client):
    assert reverse("usage_report") in admin_client.get(reverse("admin:index")).content.decode()


@pytest.mark.parametrize("name", ["usage_report", "usage_report_csv"])
def test_anonymous_users_are_sent_to_the_login_page(client, name):
    response = client.get(reverse(name), NOVEMBER)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("name", ["usage_report", "usage_report_csv"])
def test_staff_without_the_ledger_view_permission_are_refused(client, name):
    client.force_login(User.objects.create_user("clerk", password="x", is_staff=True))
    assert client.get(reverse(name), NOVEMBER).status_code == 403


def test_staff_with_the_ledger_view_permission_see_the_report(client, ledger):
    clerk = User.objects.create_user("finance", password="x", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_usagerecord"))
    client.force_login(clerk)
    assert client.get(reverse("usage_report"), NOVEMBER).status_code == 200
    assert reverse("usage_report") in client.get(reverse("admin:index")).content.decode()


@pytest.mark.django_db(transaction=True)
async def test_the_csv_download_streams_asynchronously_under_asgi(async_client, ledger):
    admin = await sync_to_async(User.objects.create_superuser)("root", "root@example.com", "x")
    await async_client.aforce_login(admin)
    response = await async_client.get(reverse("usage_report_csv"), NOVEMBER)
    assert response.status_code == 200
    assert response.is_async  # a sync iterator would be buffered whole by Django's ASGI handler
    text = b"".join([part async for part in response.streaming_content]).decode()
    assert sorted(r["request_id"] for r in csv.DictReader(io.StringIO(text, newline=""))) == ["acme-1", "acme-2", "globex-1"]


def test_a_period_of_centuries_reports_without_drawing_a_bar_per_day(admin_client, ledger):
    response = admin_client.get(reverse("usage_report"), {"start": "0001-01-01", "end": "9999-12-31"})
    assert response.status_code == 200
    assert response.context["chart"] is None
    assert response.context["total"].requests == 4  # every row, December's included
