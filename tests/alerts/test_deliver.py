"""Delivery through real Apprise to real local receivers: a JSON webhook and SMTP; failures
(500, a hang past the timeout, an unknown scheme, no URL) are reported masked, one channel's
failure never stops another's."""

from __future__ import annotations

from brain.alerts.deliver import Job, deliver


def _job(key: str, url: str | None, channel: str = "hook", body: str = "**Support Agent** spent more") -> Job:
    return Job((key, channel), url, f"[warn] {key}", body, "warning")


def test_a_message_reaches_the_json_webhook(webhook):
    out = deliver([_job("k1", webhook.url("ada"))], timeout_s=5)
    assert out == {("k1", "hook"): out[("k1", "hook")]} and out[("k1", "hook")].ok
    [payload] = webhook.messages("ada")
    assert payload["title"] == "[warn] k1" and "Support Agent" in payload["message"] and payload["type"] == "warning"


def test_a_500_and_a_hang_are_failures_with_the_error_and_the_other_channels_still_go(webhook):
    webhook.fail_next(500, path="broken")
    secret_url = webhook.url("broken", token="tk-very-secret-123")
    out = deliver([_job("k1", secret_url, "broken"), _job("k2", webhook.url("fine"), "fine")], timeout_s=5)
    assert out[("k2", "fine")].ok and len(webhook.messages("fine")) == 1
    assert not out[("k1", "broken")].ok and "500" in (out[("k1", "broken")].error or "")
    assert "tk-very-secret-123" not in (out[("k1", "broken")].error or "")
    webhook.fail_next(0)  # hang past the timeout
    [(key, outcome)] = deliver([_job("k3", webhook.url("slow"))], timeout_s=1).items()
    assert not outcome.ok and outcome.error
    assert webhook.messages("slow") == []


def test_unknown_schemes_closed_ports_and_missing_urls_fail_alone(webhook, free_port):
    out = deliver([
        _job("k1", "nosuchscheme://abc/def", "odd"),
        _job("k2", None, "unset"),
        _job("k3", f"json://127.0.0.1:{free_port()}/x", "closed"),  # nothing listens: refused, as a dead host
        _job("k4", webhook.url("ok"), "ok"),
    ], timeout_s=2)
    assert "not a URL Apprise can use" in (out[("k1", "odd")].error or "")
    assert out[("k2", "unset")].error == "channel 'unset' has no URL"
    assert not out[("k3", "closed")].ok and "127.0.0.1" in (out[("k3", "closed")].error or "")
    assert out[("k4", "ok")].ok and len(webhook.messages("ok")) == 1


def test_an_email_goes_through_smtp_with_the_agent_in_its_body(smtp):
    out = deliver([_job("k1", smtp.url("ada@example.com"), "mail", body="**Support Agent**: tokens per request doubled")],
                  timeout_s=5)
    assert out[("k1", "mail")].ok, out
    [(sender, rcpts, text)] = smtp.messages
    assert sender == "brain@example.com" and rcpts == ["ada@example.com"]
    assert "Support Agent" in text and "tokens per request doubled" in text
