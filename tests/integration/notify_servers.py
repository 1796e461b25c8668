"""Real local servers standing in for Slack and for a mail server, for notification tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from .kafka_helpers import free_port


@dataclass
class SlackCall:
    path: str
    payload: dict[str, Any]
    received_at: float
    status: int = 0
    answered: bool = False  # the answer reached a live connection

    @property
    def notification_id(self) -> str | None:
        blocks = self.payload.get("blocks") or [{}]
        return blocks[0].get("block_id")


class FakeSlack:
    """Answers like Slack: incoming webhooks at ``/hook/<name>``, Web API at ``/api/...``.

    ``script[name]`` is a list of answers used one per request, then ``"ok"``:
    ``"ok"``, ``"429:<seconds>"``, ``"404"`` (``channel_not_found``), ``"410"``,
    ``"500"``, ``"slow:<seconds>"`` (ok after a delay). Until ``failing_until`` (a
    ``time.time()``), every request is answered 500, as Slack in an outage.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.calls: list[SlackCall] = []
        self.script: dict[str, list[str]] = {}
        self.failing_until = 0.0
        self.changed = asyncio.Event()
        self._runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def __aenter__(self) -> FakeSlack:
        app = web.Application()
        app.router.add_post("/hook/{name}", self._hook)
        app.router.add_post("/api/chat.postMessage", self._post_message)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def _next(self, name: str) -> str:
        if time.time() < self.failing_until:
            return "500"
        queue = self.script.get(name) or []
        return queue.pop(0) if queue else "ok"

    def _record(self, request: web.Request, payload: dict[str, Any]) -> SlackCall:
        call = SlackCall(request.path, payload, time.time())
        self.calls.append(call)
        self.changed.set()
        return call

    def _done(self, call: SlackCall, request: web.Request, status: int) -> None:
        call.status = status
        transport = request.transport
        call.answered = transport is not None and not transport.is_closing()
        self.changed.set()

    async def _hook(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        call = self._record(request, await request.json())
        answer = self._next(name)
        if answer.startswith("slow:"):
            await asyncio.sleep(float(answer.split(":")[1]))
            answer = "ok"
        if answer.startswith("429"):
            self._done(call, request, 429)
            return web.Response(
                status=429, text="rate_limited", headers={"Retry-After": answer.split(":")[1]}
            )
        if answer in ("404", "410", "500"):
            text = {"404": "channel_not_found", "410": "channel_is_archived"}.get(answer, "error")
            self._done(call, request, int(answer))
            return web.Response(status=int(answer), text=text)
        self._done(call, request, 200)
        return web.Response(text="ok")

    async def _post_message(self, request: web.Request) -> web.Response:
        payload = await request.json()
        payload["_authorization"] = request.headers.get("Authorization")
        call = self._record(request, payload)
        answer = self._next("api")
        if answer == "404":
            self._done(call, request, 200)
            return web.json_response({"ok": False, "error": "channel_not_found"})
        if answer == "500":
            self._done(call, request, 500)
            return web.Response(status=500, text="error")
        self._done(call, request, 200)
        return web.json_response({"ok": True, "channel": payload.get("channel"), "ts": "1.0"})

    def delivered(self, path_prefix: str = "") -> list[SlackCall]:
        return [
            c
            for c in self.calls
            if c.status == 200 and c.answered and c.path.startswith(path_prefix)
        ]

    async def wait_for(
        self, predicate: Callable[[], bool], timeout: float, what: str, tail: Callable[[], str]
    ) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                calls = [(c.path, c.status, c.notification_id) for c in self.calls]
                raise AssertionError(f"timed out waiting for {what}; calls {calls}\n{tail()}")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), timeout=min(remaining, 0.5))


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A throw-away certificate for 127.0.0.1 and localhost (openssl)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@dataclass
class _Recorder:
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append(message)  # type: ignore[arg-type]
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


class FakeSmtp:
    """aiosmtpd with STARTTLS required before AUTH LOGIN/PLAIN, in its own thread."""

    def __init__(self, directory: Path, username: str = "alerts", password: str = "s3cret") -> None:
        import ssl

        self.cert, key = self_signed_cert(directory)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, key)
        self.recorder = _Recorder()
        self.logins: list[str] = []
        self.port = free_port()
        self._context = context

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any):
            ok = isinstance(data, LoginPassword) and (
                data.login.decode() == username and data.password.decode() == password
            )
            if ok:
                self.logins.append(data.login.decode())
                return AuthResult(success=True)
            # handled=False: aiosmtpd answers 535 itself; True here hangs the client
            return AuthResult(success=False, handled=False)

        self._authenticator = authenticator
        self.controller = self._new_controller()

    def _new_controller(self) -> Controller:
        return Controller(
            self.recorder,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=self._context,
            require_starttls=True,
            authenticator=self._authenticator,
            auth_required=True,
            auth_require_tls=True,
        )

    def __enter__(self) -> FakeSmtp:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.controller._thread is not None:  # noqa: SLF001 - not down
            self.controller.stop()

    def down(self) -> None:
        """The mail server goes away: connections to its port are refused."""
        self.controller.stop()

    def up(self) -> None:
        """Back on the same port (a controller cannot start twice: a new one)."""
        self.controller = self._new_controller()
        self.controller.start()

    @property
    def messages(self) -> list[EmailMessage]:
        return self.recorder.messages


def receivers_config(slack: FakeSlack, smtp: FakeSmtp | None = None, **extra: Any) -> dict:
    """A notifications section pointing at the fake servers."""
    receivers: dict[str, Any] = {
        "team-hook": {"type": "slack_webhook", "url": slack.url("/hook/team")},
        "mgr-slack": {
            "type": "slack_api",
            "token": "xoxb-test-token",
            "to_manager": True,
            "channel": "C-FALLBACK",
            "api_url": slack.url("/api"),
        },
    }
    if smtp is not None:
        receivers["mgr-email"] = {
            "type": "email",
            "host": "127.0.0.1",
            "port": smtp.port,
            "username": "alerts",
            "password": "s3cret",
            "start_tls": True,
            "ca_file": str(smtp.cert),
            "sender": "salespulse <alerts@example.com>",
            "to_manager": True,
        }
    config: dict[str, Any] = {
        "receivers": receivers,
        "default_receiver": "team-hook",
        # every notice on its own, at once: these tests are about delivery, and the
        # default digest would hold the deal rules' alerts to managers for a day
        "digest": {"manager_rules": [], "manager_kinds": []},
    }
    config.update(extra)
    return config


def json_lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out
