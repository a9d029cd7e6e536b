"""Settings read on the hot path are copied once, and a changed setting is seen at once."""
from django.conf import settings as django_settings

from infra.hotsettings import hot


def test_a_read_is_kept_as_a_plain_attribute():
    assert hot.DATA_UPLOAD_MAX_MEMORY_SIZE == django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in vars(hot)


def test_a_changed_setting_is_seen(settings):
    before = hot.SECURE_SSL_REDIRECT
    settings.SECURE_SSL_REDIRECT = not before
    assert hot.SECURE_SSL_REDIRECT is (not before)


def test_a_replaced_or_edited_gateway_dict_is_seen(settings):
    settings.GATEWAY = {**settings.GATEWAY, "CACHE_TTL": 123}
    assert hot.GATEWAY["CACHE_TTL"] == 123
    settings.GATEWAY["CACHE_TTL"] = 7
    assert hot.GATEWAY["CACHE_TTL"] == 7
