"""The bundled examples do what their comments and the README say: each is listed in the README's
Examples section with the command to try it, and the claims the dry-run cases cannot check (a
signature a merchant's library accepts, one OAuth token shared by two hooks) hold when `hookd test
--send` sends for real to a loopback receiver. That each example validates with an empty environment
is tests/test_config_load.py's; that its cases pass, tests/test_cli_test.py's."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from pathlib import Path

import pytest
import standardwebhooks
from typer.testing import CliRunner, Result

# The command registers itself when its module is imported.
import hookd.cli.test_cmd
from hookd.cli.app import app
from tests.conftest import Receiver, Reply

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(path.parent for path in REPO.glob("examples/*/hookd.yaml"))
SCHEMA_LINE = "# yaml-language-server: $schema=../../configs/hookd.schema.json\n"


def hookd(*args: str, env: dict[str, str]) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def readme_examples_section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Examples\n(.*?)^## ", text, re.DOTALL | re.MULTILINE)
    assert match, "README.md has no '## Examples' section"
    return match.group(1)


def test_the_seed_scenarios_are_bundled() -> None:
    names = {directory.name for directory in EXAMPLES}
    assert names >= {"quickstart", "shop", "ecommerce-orders", "crm-sync", "invoices-accounting", "payments-signed"}


@pytest.mark.parametrize("directory", EXAMPLES, ids=[directory.name for directory in EXAMPLES])
def test_each_example_has_cases_the_schema_line_and_a_readme_entry(directory: Path) -> None:
    """An editor finds the schema from the first line; CI runs the cases; the README says what the
    example shows and gives the command that runs its cases."""
    assert (directory / "hookd.yaml").read_text(encoding="utf-8").startswith(SCHEMA_LINE)
    assert (directory / "hookd.tests.yaml").is_file()
    section = readme_examples_section()
    assert f"examples/{directory.name}/" in section
    command = f"hookd test -c examples/{directory.name}/hookd.yaml --cases examples/{directory.name}/hookd.tests.yaml"
    if directory.name != "quickstart":  # the Quick start has its own section and script
        assert command in section


async def test_payments_example_signs_what_a_merchant_verifies(receiver: Receiver) -> None:
    """1. PAYMENTS_WHSEC is a fresh whsec_ secret and MERCHANT_URL a loopback receiver. 2. `hookd test
    --send --hook merchant-webhooks` sends a payment with a full card. Result: the official Standard
    Webhooks library accepts the request with that secret, webhook-id is the event id, and of the card
    only the brand and last four digits arrive."""
    secret = "whsec_" + base64.b64encode(bytes(range(32))).decode()
    env = {"PAYMENTS_WHSEC": secret, "MERCHANT_URL": receiver.url("/merchant")}
    event = {"id": "pay_9", "status": "succeeded", "card": {"brand": "visa", "last4": "4242", "bin": "424242"}}
    config = str(REPO / "examples/payments-signed/hookd.yaml")
    args = ("test", "-c", config, "--send", "--hook", "merchant-webhooks", "--type", "payment.succeeded")
    result = await asyncio.to_thread(hookd, *args, "--data", json.dumps(event), env=env)
    assert result.exit_code == 0, result.output
    [got] = receiver.at("/merchant")
    standardwebhooks.Webhook(secret).verify(got.body, got.headers)
    body = got.json()
    assert isinstance(body, dict)
    assert body["type"] == "payment.succeeded"
    assert body["data"]["card"] == {"brand": "visa", "last4": "4242"}


async def test_crm_example_fetches_one_token_for_both_hooks(receiver: Receiver, tmp_path: Path) -> None:
    """1. CRM_TOKEN_URL and CRM_API point at a loopback receiver whose token endpoint grants a token.
    2. `hookd test --send` sends a customer change and a paid order (one per hook). Result: one token
    request, client credentials with the configured client and scope; both hooks' requests carry that
    token as a bearer, the upsert as a PUT to the customer's contact, the activity as a POST under it."""
    grant = b'{"access_token": "tok-1", "token_type": "Bearer", "expires_in": 3600}'
    receiver.on("/token", Reply(headers={"Content-Type": "application/json"}, body=grant))
    env = {
        "CRM_TOKEN_URL": receiver.url("/token"),
        "CRM_API": receiver.url("/v3"),
        "CRM_CLIENT_ID": "hookd-test",
        "CRM_CLIENT_SECRET": "s3cret-for-the-test",
    }
    events = tmp_path / "events.jsonl"
    lines = [
        {"type": "customer.updated", "data": {"customer_id": "c-42", "email": "ada@example.com"}},
        {"type": "order.paid", "data": {"customer_id": "c-42", "order_number": "1001", "amount_cents": 4999}},
    ]
    events.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    # The urls are templated, so the destination guard refuses a loopback receiver unless the hooks
    # let it in, as an operator testing against a local CRM would.
    text = (REPO / "examples/crm-sync/hookd.yaml").read_text(encoding="utf-8")
    url_line = re.compile(r"^(    url: .*\n)", re.MULTILINE)
    let_in, count = url_line.subn(r"\1    allow_destinations: [127.0.0.1/32]\n", text)
    assert count == 2
    config = tmp_path / "hookd.yaml"
    config.write_text(let_in, encoding="utf-8")
    result = await asyncio.to_thread(hookd, "test", "-c", str(config), "--send", str(events), env=env)
    assert result.exit_code == 0, result.output
    [token_request] = receiver.at("/token")
    form = dict(pair.split("=", 1) for pair in token_request.body.decode().split("&"))
    assert form["grant_type"] == "client_credentials"
    assert form["scope"] == "contacts.write"
    expected_basic = "Basic " + base64.b64encode(b"hookd-test:s3cret-for-the-test").decode()
    assert token_request.headers["Authorization"] == expected_basic
    [upsert] = receiver.at("/v3/contacts/by-external-id/c-42")
    [activity] = receiver.at("/v3/contacts/by-external-id/c-42/activities")
    assert (upsert.method, activity.method) == ("PUT", "POST")
    assert upsert.headers["Authorization"] == activity.headers["Authorization"] == "Bearer tok-1"
