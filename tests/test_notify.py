"""Downstream notifications: signed manifests POSTed to webhooks, with retries."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest

from genesys_export.config import Secret
from genesys_export.errors import ConfigError
from genesys_export.notify import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Delivery,
    Webhook,
    canonical_json,
    notify_all,
    sign,
    verify_signature,
)

SECRET = "whsec-5f1c0ffee-do-not-leak"
MANIFEST: dict[str, Any] = {
    "run_id": "run-42",
    "dataset": "conversation_details",
    "tables": ["conversations", "participants"],
    "partitions": ["2024-05-01", "2024-05-02"],
    "rows": {"conversations": 120, "participants": 311},
    "checksums": {"conversations/part-0.parquet": "sha256:ab12"},
    "settled": {"start": "2024-05-01T00:00:00Z", "end": "2024-05-03T00:00:00Z"},
    "note": "café ✓",
}


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool


@dataclass
class Receiver:
    """A webhook receiver: verifies each POST, records it, answers from a script."""

    secret: str = SECRET
    script: list[int] = field(default_factory=list)  # statuses to answer, then 200
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        verified = verify_signature(self.secret, headers, body, now=time.time())
        self.received.append(Received(headers, body, verified))
        if not verified:
            return 401
        return self.script.pop(0) if self.script else 200


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = receiver.answer(dict(self.headers.items()), body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serving(receiver: Receiver) -> Iterator[Receiver]:
    server = HTTPServer(("127.0.0.1", 0), _handler(receiver))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/export?token=t0k3n"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving(Receiver()) as running:
        yield running


class Events:
    """Records `events(name, **fields)` calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str, **fields: Any) -> None:
        self.calls.append((str(name), fields))


def no_sleep(_: float) -> None:
    pass


def send(webhook: Webhook, events: Events | None = None, **options: Any) -> Delivery:
    options.setdefault("sleep", no_sleep)
    [delivery] = notify_all([webhook], MANIFEST, events=events or Events(), **options)
    return delivery


def test_delivery_arrives_signed_with_the_exact_manifest(receiver: Receiver) -> None:
    """A webhook gets the canonical manifest, a valid signature and a delivery id."""
    events = Events()
    delivery = send(Webhook(receiver.url, Secret(SECRET)), events)

    [got] = receiver.received
    assert got.verified
    assert json.loads(got.body) == MANIFEST
    assert got.body == canonical_json(MANIFEST)
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers[DELIVERY_HEADER] == delivery.delivery_id
    assert abs(int(got.headers[TIMESTAMP_HEADER]) - time.time()) < 5
    assert got.headers[SIGNATURE_HEADER].startswith("v1=")
    assert delivery == Delivery(
        url=receiver.url.replace("t0k3n", "***"),
        ok=True,
        attempts=1,
        status=200,
        delivery_id=delivery.delivery_id,
    )
    assert events.calls == [
        (
            "notify.sent",
            {
                "url": delivery.url,
                "ok": True,
                "attempts": 1,
                "status": 200,
                "delivery_id": delivery.delivery_id,
                "error": None,
            },
        )
    ]


def test_tampered_body_is_rejected(receiver: Receiver) -> None:
    """Changing one byte of a delivered body breaks its signature."""
    send(Webhook(receiver.url, Secret(SECRET)))
    [got] = receiver.received
    tampered = got.body.replace(b'"conversations":120', b'"conversations":121')

    assert tampered != got.body
    assert not verify_signature(SECRET, got.headers, tampered, now=time.time())


def test_old_or_future_timestamp_is_rejected_as_a_replay(receiver: Receiver) -> None:
    """A delivery verified outside the tolerance window fails, either side of it."""
    send(Webhook(receiver.url, Secret(SECRET)))
    [got] = receiver.received
    sent = int(got.headers[TIMESTAMP_HEADER])

    assert verify_signature(SECRET, got.headers, got.body, now=sent + 299)
    assert not verify_signature(SECRET, got.headers, got.body, now=sent + 301)
    assert not verify_signature(SECRET, got.headers, got.body, now=sent - 301)
    assert not verify_signature(SECRET, got.headers, got.body, now=sent + 61, tolerance=60)


def test_a_stale_sender_clock_is_refused_by_the_receiver(receiver: Receiver) -> None:
    """A delivery signed an hour ago is a replay: the receiver's 401 is final."""
    delivery = send(Webhook(receiver.url, Secret(SECRET)), clock=lambda: time.time() - 3600)

    assert [r.verified for r in receiver.received] == [False]
    assert (delivery.ok, delivery.status, delivery.attempts) == (False, 401, 1)


def test_wrong_secret_is_rejected(receiver: Receiver) -> None:
    """A signature made with another secret does not verify."""
    delivery = send(Webhook(receiver.url, Secret("another-secret")))

    [got] = receiver.received
    assert not got.verified
    assert not verify_signature("another-secret-2", got.headers, got.body, now=time.time())
    assert (delivery.ok, delivery.status) == (False, 401)


def test_missing_or_malformed_headers_are_rejected() -> None:
    """Without both headers, or with a non-numeric timestamp, nothing verifies."""
    body, now = canonical_json(MANIFEST), 1_700_000_000
    good = {TIMESTAMP_HEADER: str(now), SIGNATURE_HEADER: sign(SECRET, now, body)}

    assert verify_signature(SECRET, good, body, now=now)
    lowered = {k.lower(): v for k, v in good.items()}
    assert verify_signature(SECRET, lowered, body, now=now)
    assert not verify_signature(SECRET, {TIMESTAMP_HEADER: str(now)}, body, now=now)
    assert not verify_signature(SECRET, {SIGNATURE_HEADER: good[SIGNATURE_HEADER]}, body, now=now)
    for stamp in ("", "1.7e9", "-5", "１７", "9" * 40):
        forged = {**good, TIMESTAMP_HEADER: stamp}
        assert not verify_signature(SECRET, forged, body, now=now)
    assert not verify_signature(SECRET, {**good, SIGNATURE_HEADER: "v1=é"}, body, now=now)


def test_any_of_several_signatures_may_match() -> None:
    """During a secret rotation a header listing old and new signatures verifies."""
    body, now = b"{}", 1_700_000_000
    both = f"{sign('old', now, body)}, {sign('new', now, body)}"
    headers = {TIMESTAMP_HEADER: str(now), SIGNATURE_HEADER: both}

    assert verify_signature("new", headers, body, now=now)
    assert verify_signature("old", headers, body, now=now)
    assert not verify_signature("other", headers, body, now=now)


def test_sign_is_hmac_sha256_over_timestamp_dot_body() -> None:
    """The signature is `v1=` + hex HMAC-SHA256 of b"<timestamp>.<body>"."""
    import hashlib
    import hmac

    expected = hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert sign("k", 1_700_000_000, b"{}") == f"v1={expected}"


def test_unavailable_receiver_is_retried_until_it_answers() -> None:
    """503 twice then 200: delivered on attempt 3, same delivery id, each attempt signed."""
    sleeps: list[float] = []
    with serving(Receiver(script=[503, 503])) as receiver:
        delivery = send(Webhook(receiver.url, Secret(SECRET)), sleep=sleeps.append)

    assert (delivery.ok, delivery.attempts, delivery.status) == (True, 3, 200)
    assert all(r.verified for r in receiver.received)
    assert {r.headers[DELIVERY_HEADER] for r in receiver.received} == {delivery.delivery_id}
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.5
    assert 0 <= sleeps[1] <= 1.0  # exponential with full jitter


def test_failing_receiver_gives_up_after_all_attempts() -> None:
    """Always 500: ok=False after `attempts` tries, and a failure event is reported."""
    events = Events()
    with serving(Receiver(script=[500] * 10)) as receiver:
        webhook = Webhook(receiver.url, Secret(SECRET))
        [delivery] = notify_all([webhook], MANIFEST, events=events, sleep=no_sleep, attempts=4)

    assert len(receiver.received) == 4
    assert delivery.ok is False
    assert (delivery.attempts, delivery.status, delivery.error) == (4, 500, "HTTP 500")
    [(name, fields)] = events.calls
    assert name == "notify.sent"
    assert fields["ok"] is False
    assert fields["attempts"] == 4
    assert fields["error"] == "HTTP 500"


def test_client_error_is_not_retried() -> None:
    """A 400 is final: one attempt, no sleep."""
    sleeps: list[float] = []
    with serving(Receiver(script=[400])) as receiver:
        delivery = send(Webhook(receiver.url, Secret(SECRET)), sleep=sleeps.append)

    assert len(receiver.received) == 1
    assert (delivery.ok, delivery.attempts, delivery.status) == (False, 1, 400)
    assert sleeps == []


def test_secret_never_appears_in_events_reprs_or_logs(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither the signing secret nor the URL's token shows in events, reprs or logs."""
    receiver.script = [503, 400]
    events = Events()
    webhook = Webhook(receiver.url, Secret(SECRET))
    delivery = send(webhook, events)

    shown = [repr(webhook), str(webhook), repr(delivery), repr(events.calls), caplog.text]
    for text in shown:
        assert SECRET not in text
        assert "t0k3n" not in text
    assert "/hooks/export" in repr(webhook)
    assert "retrying" in caplog.text


def test_rate_limited_delivery_honours_retry_after() -> None:
    """A 429 with Retry-After waits that long, then delivers."""
    answers = [httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(202)]
    sleeps: list[float] = []
    transport = httpx.MockTransport(lambda request: answers.pop(0))

    delivery = send(
        Webhook("https://hooks.example/x", Secret(SECRET)),
        sleep=sleeps.append,
        transport=transport,
    )

    assert (delivery.ok, delivery.attempts, delivery.status) == (True, 2, 202)
    assert sleeps == [7.0]


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ReadTimeout])
def test_network_failures_are_retried_then_reported(error: type[httpx.HTTPError]) -> None:
    """Dropped connections and timeouts are retried; the last one is reported by type."""
    seen: list[httpx.Request] = []

    def fail(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        raise error(f"boom {request.url}", request=request)

    delivery = send(
        Webhook("https://hooks.example/x?sig=abc", Secret(SECRET)),
        transport=httpx.MockTransport(fail),
        attempts=3,
    )

    assert len(seen) == 3
    assert delivery.url == "https://hooks.example/x?sig=***"
    assert (delivery.ok, delivery.status, delivery.error) == (False, None, error.__name__)


def test_one_failing_webhook_does_not_stop_the_others() -> None:
    """Every webhook is tried, in order, and each gets its own delivery id."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404 if request.url.host == "down.example" else 200)

    webhooks = [
        Webhook("https://down.example/h", Secret(SECRET)),
        Webhook("https://up.example/h", Secret("s2"), timeout=2.5),
    ]
    events = Events()
    results = notify_all(
        webhooks, MANIFEST, events=events, transport=httpx.MockTransport(answer), sleep=no_sleep
    )

    assert [(d.url, d.ok, d.status) for d in results] == [
        ("https://down.example/h", False, 404),
        ("https://up.example/h", True, 200),
    ]
    assert results[0].delivery_id != results[1].delivery_id
    assert [fields["ok"] for _, fields in events.calls] == [False, True]


def test_manifest_is_serialized_canonically() -> None:
    """Key order does not change the body; datetimes become ISO 8601."""
    reordered = dict(reversed(list(MANIFEST.items())))
    assert canonical_json(reordered) == canonical_json(MANIFEST)
    assert canonical_json({"b": 1, "a": {"d": 2, "c": 3}}) == b'{"a":{"c":3,"d":2},"b":1}'
    settled = {"end": datetime(2024, 5, 3, tzinfo=UTC)}
    assert canonical_json(settled) == b'{"end":"2024-05-03T00:00:00+00:00"}'
    assert canonical_json({"x": "é"}) == '{"x":"é"}'.encode()


def test_unserializable_manifest_fails_every_webhook_without_sending() -> None:
    """A manifest that is not JSON is reported as failed deliveries, nothing is sent."""
    sent: list[httpx.Request] = []
    events = Events()
    results = notify_all(
        [Webhook("https://hooks.example/x", Secret(SECRET))],
        {"rows": float("nan")},
        events=events,
        transport=httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(200)),
    )

    assert sent == []
    [delivery] = results
    assert (delivery.ok, delivery.attempts, delivery.status) == (False, 0, None)
    assert delivery.error is not None and delivery.error.startswith("manifest is not JSON")
    assert events.calls[0][1]["ok"] is False


@pytest.mark.parametrize(
    ("url", "secret", "timeout"),
    [
        ("ftp://hooks.example/x?token=zzz", Secret("s"), 1.0),
        ("https:///nohost", Secret("s"), 1.0),
        ("https://hooks.example/x", Secret(""), 1.0),
        ("https://hooks.example/x", "plain-string", 1.0),
        ("https://hooks.example/x", Secret("s"), 0.0),
    ],
)
def test_bad_webhook_settings_are_config_errors(url: str, secret: Any, timeout: float) -> None:
    """An unusable URL, a missing secret or a bad timeout is refused up front, redacted."""
    with pytest.raises(ConfigError) as caught:
        Webhook(url, secret, timeout)
    assert "zzz" not in str(caught.value)
    assert "plain-string" not in str(caught.value)


def test_attempts_must_be_positive() -> None:
    """Zero attempts is a configuration mistake, not a silent no-op."""
    with pytest.raises(ConfigError):
        notify_all([], MANIFEST, events=Events(), attempts=0)
