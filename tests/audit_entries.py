"""Reading the audit trail in tests."""
import json

from auditlog.models import LogEntry


def entries_for(obj) -> list[LogEntry]:
    return list(LogEntry.objects.get_for_object(obj).select_related("actor").order_by("pk"))


def whole_trail() -> str:
    """Every stored column of every entry, as one text to search for what must never be there."""
    return json.dumps(list(LogEntry.objects.values()), default=str)
