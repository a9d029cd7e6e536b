"""No answer of the management API holds a key's or a token's hash, a raw key after its POST, or a provider's secret."""
import pytest

from tenants.models import AdminToken, ApiKey

from .conftest import admin_client, make_tenant
from .live import GatewayServer

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "sk-very-secret-upstream-value-0123456789"


def test_no_answer_holds_a_hash_or_a_secret(mock_provider):
    acme = make_tenant("acme")
    with GatewayServer(env={"ZZTEST_API_KEY": SECRET}) as server, admin_client(server) as admin:
        answers = [
            admin.post("/v1/admin/providers", json={"name": "up", "kind": "openai", "base_url": "http://127.0.0.1:9/v1",
                                                     "api_key_env": "ZZTEST_API_KEY"}),
            admin.post("/v1/admin/routes", json={"public_name": "up-model", "provider": "up"}),
            admin.post("/v1/admin/tenants", json={"slug": "globex"}),
            admin.post("/v1/admin/tenants/globex/keys", json={}),
        ]
        raw_new = answers[-1].json()["key"]
        answers.append(admin.post(f"/v1/admin/keys/{acme.key.prefix}/rotate", json={"grace_minutes": 5}))
        raw_rotated = answers[-1].json()["new"]["key"]
        answers += [admin.get(path) for path in (
            "/v1/admin/tenants", "/v1/admin/tenants/acme", "/v1/admin/tenants/acme/keys", "/v1/admin/tenants/globex/keys",
            "/v1/admin/providers", "/v1/admin/routes", "/v1/admin/usage",
        )]
        answers.append(admin.post(f"/v1/admin/keys/{acme.key.prefix}/revoke"))
        answers.append(admin.get("/v1/openapi.json"))
    assert all(a.status_code in (200, 201) for a in answers), [a.text for a in answers if a.status_code >= 300]
    assert answers[0].json()["api_key_env"] == "ZZTEST_API_KEY"
    hashes = [*ApiKey.objects.values_list("digest", flat=True), *AdminToken.objects.values_list("digest", flat=True)]
    assert len(hashes) == 4  # acme's key, its successor, globex's key, the admin token
    for answer in answers:
        text = answer.text
        assert SECRET not in text
        assert not any(digest in text for digest in hashes)
        assert "digest" not in text
    raws = [acme.raw, raw_new, raw_rotated]
    later = answers[6:]  # after the answers that made each key
    assert not any(raw in answer.text for raw in raws for answer in later)
