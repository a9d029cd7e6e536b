"""Routes for the LLM-load bench: one provider and one model per fake upstream (bench/llmload.py).

Run once per bench in one process (after bench/provision.py made the tenant and key), with the management
commands an operator would use: `python -m bench.llmprovision paced=PORT slow=PORT big=PORT` makes the
providers llm-paced, llm-slow and llm-big and the models of the same names. A provider's timeout is above the
30 s streams' length: the timeout is between bytes, and the slow upstream sends one event a second.
"""
from __future__ import annotations

import io
import os
import sys

import django
from django.core.management import call_command


def _run(*args: str) -> None:
    call_command(*args, stdout=io.StringIO())


def main(pairs: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")
    django.setup()
    for pair in pairs:
        name, port = pair.split("=")
        _run("add_provider", f"llm-{name}", "--kind", "openai", "--base-url", f"http://127.0.0.1:{port}/v1",
             "--timeout", "120")
        _run("add_model", f"llm-{name}", "--provider", f"llm-{name}", "--upstream-model", "bench-upstream",
             "--input-price", "0.15", "--output-price", "0.60")


if __name__ == "__main__":
    main(sys.argv[1:])
