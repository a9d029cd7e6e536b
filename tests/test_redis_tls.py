"""rediss://: limits, budgets, the response cache, the key cache and the live feed over a local TLS redis-server."""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import shutil
import subprocess
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import pytest
import redis
from asgiref.sync import sync_to_async
from channels_redis.core import RedisChannelLayer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from infra import redispipe
from infra.sharedredis import shared_redis
from tenants import ratelimit
from tests.live import free_port

from .conftest import chat_body, make_tenant, post_chat

pytestmark = pytest.mark.django_db(transaction=True)


def _needed(program: str) -> None:
    """Skip without `program`; under CI=true its absence is a failure."""
    if shutil.which(program):
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{program} is not installed (CI=true: the TLS tests must run)")
    pytest.skip(f"needs {program} installed")


def _write_certificates(directory: Path) -> dict[str, Path]:
    """A CA of our own, and a server certificate it signs for 127.0.0.1 and localhost."""
    now = datetime.now(timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gateway test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = {"ca": directory / "ca.pem", "cert": directory / "redis.pem", "key": directory / "redis.key"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files["cert"].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    files["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return files


class TlsRedisServer:
    """A throwaway redis-server that speaks only TLS, on a free port."""

    def __init__(self, directory: Path):
        self.files = _write_certificates(directory)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def url(self, **options: str) -> str:
        """The server's rediss:// URL, trusting our CA unless told otherwise."""
        query = {"ssl_cert_reqs": "required", "ssl_ca_certs": str(self.files["ca"])} | options
        return f"rediss://127.0.0.1:{self.port}/0?" + urlencode({k: v for k, v in query.items() if v is not None})

    def start(self) -> None:
        cmd = ["redis-server", "--port", "0", "--tls-port", str(self.port), "--bind", "127.0.0.1",
               "--tls-cert-file", str(self.files["cert"]), "--tls-key-file", str(self.files["key"]),
               "--tls-ca-cert-file", str(self.files["ca"]), "--tls-auth-clients", "no",
               "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        client = self.client()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:  # e.g. a redis-server built without TLS
                pytest.fail(f"redis-server with TLS did not start: {self.proc.stdout.read().decode()[-500:]}")
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.1)
        pytest.fail("redis-server with TLS did not answer within 10 s")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc.stdout.close()
            self.proc = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url(), socket_timeout=1)


@pytest.fixture
def tls_redis(tmp_path, settings):
    _needed("redis-server")
    server = TlsRedisServer(tmp_path)
    server.start()
    settings.GATEWAY = {**settings.GATEWAY, "CACHE_TTL": 300, "REDIS_RETRY_SECONDS": 60}
    yield server
    shared_redis.forget()  # closes the connection to it while its server still runs
    server.stop()


@pytest.mark.parametrize("extra", [{}, {"socket_keepalive": "true"}], ids=["our pipe", "redis-py behind it"])
async def test_limits_budgets_and_the_response_cache_work_over_tls(async_client, mock_provider, tls_redis, settings, extra):
    tenant = await sync_to_async(make_tenant)("acme", rpm_limit=100, monthly_budget_usd=Decimal("5"))
    settings.REDIS_URL = tls_redis.url(**extra)
    body = chat_body(temperature=0)
    first, second = [await post_chat(async_client, tenant, body) for _ in range(2)]
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first["x-cache"], second["x-cache"]) == ("MISS", "HIT")
    assert not shared_redis.down
    assert isinstance(shared_redis._pipe, redispipe.RedisPyPipe if extra else redispipe.RedisPipe)
    await shared_redis.posted()
    stored = tls_redis.client()
    assert stored.zcard(f"{ratelimit.PREFIX}{{t:{tenant.tenant.pk}}}:rpm") == 2
    assert stored.keys("gw:budget:*") and stored.keys("gw:cache:*")


async def test_a_certificate_no_trusted_ca_signed_is_refused_and_requests_are_served_without_redis(
    async_client, mock_provider, tls_redis, settings, caplog
):
    tenant = await sync_to_async(make_tenant)("acme", rpm_limit=100)
    settings.REDIS_URL = tls_redis.url(ssl_ca_certs=None)  # the system's CAs: they never signed ours
    caplog.set_level(logging.WARNING, logger="gateway.redis")
    response = await post_chat(async_client, tenant, chat_body())
    assert response.status_code == 200
    assert shared_redis.down
    assert any("certificate verify failed" in r.getMessage().lower() for r in caplog.records)
    assert tls_redis.client().zcard(f"{ratelimit.PREFIX}{{t:{tenant.tenant.pk}}}:rpm") == 0


def test_the_key_cache_works_over_tls(tls_redis, settings):
    from django.core.cache import caches

    settings.CACHES = {**settings.CACHES, "default": {**settings.CACHES["default"], "LOCATION": tls_redis.url()}}
    if "django_redis" not in settings.CACHES["default"].get("OPTIONS", {}).get("CLIENT_CLASS", ""):
        pytest.skip("the Django cache is Redis only with REDIS_URL set")
    cache = caches["default"]
    cache.set("tls-probe", {"tenant": 1}, 30)
    assert cache.get("tls-probe") == {"tenant": 1}
    assert tls_redis.client().keys("*tls-probe")


async def test_the_live_feed_layer_works_over_tls(tls_redis):
    layer = RedisChannelLayer(hosts=[tls_redis.url()])
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "usage.record", "cost": "0.01"})
    async with asyncio.timeout(10):  # a failure, not a hang
        assert await layer.receive(channel) == {"type": "usage.record", "cost": "0.01"}
    await layer.flush()
    await layer.close_pools()
