"""The outbound guard: blocked ranges and spellings, pinning to the checked address (no
rebinding), no redirects, a size cap and a timeout. No traffic leaves the machine: blocked
ranges use a stub resolver and a recording transport; loopback a real listener."""

from __future__ import annotations

import pytest

from gateway.outbound import OutboundGuard, OutboundRefused, ResponseTooLarge
from tests.fakes.network import PUBLIC, RecordingTransport, StubResolver, listening

BLOCKED_LITERALS = [
    "http://127.0.0.1/hook",
    "http://2130706433/hook",  # decimal
    "http://0x7f000001/hook",  # hex
    "http://127.1/hook",  # short form
    "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped IPv6
    "http://[::127.0.0.1]/hook",  # IPv4-compatible IPv6
    "http://[64:ff9b::7f00:1]/hook",  # NAT64 of loopback
    "http://0.0.0.0/hook",
    "http://0/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/latest/meta-data/",
    "http://10.0.0.1/hook",
    "http://172.16.5.4/hook",
    "http://192.168.1.1/hook",
    "http://100.64.0.1/hook",
    "http://224.0.0.1/hook",
    "http://240.0.0.1/hook",
    "http://255.255.255.255/hook",
    "https://[fd00::1]/hook",
    "http://[fe80::1]/hook",
    "http://[::1]/hook",
    "http://[::]/hook",
    "http://[ff02::1]/hook",
]
NOT_HTTP = ["ftp://example.com/x", "file:///etc/passwd", "gopher://example.com/", "example.com"]


def guard(
    resolver: StubResolver | None = None, transport: RecordingTransport | None = None, **kw: object
) -> OutboundGuard:
    return OutboundGuard(resolver=resolver or StubResolver(), transport=transport, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", BLOCKED_LITERALS)
async def test_internal_addresses_in_every_spelling_are_refused_unsent(url: str) -> None:
    resolver, transport = StubResolver(), RecordingTransport()
    outbound = guard(resolver, transport)
    with pytest.raises(OutboundRefused, match="internal or reserved"):
        await outbound.request("POST", url, content=b"{}", max_bytes=1024)
    assert transport.sent == []
    assert resolver.lookups == []  # a literal is never looked up as a name


@pytest.mark.parametrize("url", ["http://0177.0.0.1/hook", "http://127.0.0.1.:80/", "http://[::1/"])
async def test_spellings_that_are_no_valid_url_are_refused_unsent(url: str) -> None:
    transport = RecordingTransport()
    with pytest.raises(OutboundRefused):
        await guard(transport=transport).request("GET", url, max_bytes=1024)
    assert transport.sent == []


@pytest.mark.parametrize("url", NOT_HTTP)
async def test_only_http_and_https(url: str) -> None:
    transport = RecordingTransport()
    with pytest.raises(OutboundRefused, match="http"):
        await guard(transport=transport).request("GET", url, max_bytes=1024)
    assert transport.sent == []


async def test_userinfo_is_refused_so_the_real_host_cannot_hide_behind_it() -> None:
    transport = RecordingTransport()
    resolver = StubResolver({"hooks.example": [[PUBLIC]]})
    for url in ("http://169.254.169.254@127.0.0.1/", "https://user:pw@hooks.example/"):
        with pytest.raises(OutboundRefused, match="user name or password"):
            await guard(resolver, transport).request("GET", url, max_bytes=1024)
    assert transport.sent == []


@pytest.mark.parametrize(
    ("name", "addresses"),
    [
        ("metadata.google.internal", ["169.254.169.254"]),
        ("intranet.example", ["10.1.2.3"]),
        ("ula.example", ["fd12:3456::1"]),
        ("mapped.example", ["::ffff:192.168.0.10"]),
        ("localhost", ["127.0.0.1", "::1"]),
        # one bad address among good ones is enough: the connection could go to any
        ("mixed.example", [PUBLIC, "127.0.0.1"]),
    ],
)
async def test_names_resolving_to_internal_addresses_are_refused(
    name: str, addresses: list[str]
) -> None:
    resolver, transport = StubResolver({name: [addresses]}), RecordingTransport()
    with pytest.raises(OutboundRefused, match="resolves to an address"):
        await guard(resolver, transport).request("GET", f"https://{name}/x", max_bytes=1024)
    assert transport.sent == []
    assert resolver.lookups == [(name, 443)]


async def test_the_refusal_names_no_resolved_address() -> None:
    resolver = StubResolver({"metadata.google.internal": [["169.254.169.254"]]})
    with pytest.raises(OutboundRefused) as refused:
        await guard(resolver).check("http://metadata.google.internal/computeMetadata/v1/")
    assert "169.254" not in str(refused.value)


async def test_an_unresolvable_name_is_refused() -> None:
    with pytest.raises(OutboundRefused, match="could not be resolved"):
        await guard().check("https://nowhere.invalid/hook")


async def test_the_request_goes_to_the_checked_address_with_host_and_sni_kept() -> None:
    resolver = StubResolver({"hooks.example": [[PUBLIC]]})
    transport = RecordingTransport(200, b"thanks")
    response = await guard(resolver, transport).request(
        "POST", "https://hooks.example:8443/in?x=1", content=b"{}", max_bytes=1024
    )
    assert response.status_code == 200 and response.content == b"thanks"
    (sent,) = transport.sent
    assert sent.url.host == PUBLIC and sent.url.port == 8443 and sent.url.query == b"x=1"
    assert sent.headers["host"] == "hooks.example:8443"
    assert sent.extensions["sni_hostname"] == "hooks.example"
    assert resolver.lookups == [("hooks.example", 8443)]


async def test_dns_rebinding_second_answer_loopback_is_never_used() -> None:
    # First lookup public (submit-time check passes), every later one loopback.
    resolver = StubResolver({"rebind.example": [[PUBLIC], ["127.0.0.1"]]})
    transport = RecordingTransport()
    outbound = guard(resolver, transport)
    await outbound.request("GET", "http://rebind.example/a", max_bytes=1024)
    with pytest.raises(OutboundRefused):
        await outbound.request("GET", "http://rebind.example/b", max_bytes=1024)
    assert [request.url.host for request in transport.sent] == [PUBLIC]
    assert len(resolver.lookups) == 2  # one lookup per request, none behind the check


async def test_redirects_are_not_followed() -> None:
    resolver = StubResolver({"hooks.example": [[PUBLIC]]})
    transport = RecordingTransport(302, headers={"Location": "http://127.0.0.1:6379/"})
    response = await guard(resolver, transport).request(
        "POST", "http://hooks.example/", content=b"{}", max_bytes=1024
    )
    assert response.status_code == 302
    assert len(transport.sent) == 1


async def test_the_answer_is_capped() -> None:
    resolver = StubResolver({"hooks.example": [[PUBLIC]]})
    transport = RecordingTransport(200, b"x" * (64 * 1024 + 1))
    outbound = guard(resolver, transport)
    with pytest.raises(ResponseTooLarge):
        await outbound.request("GET", "http://hooks.example/", max_bytes=64 * 1024)
    exact = await outbound.request("GET", "http://hooks.example/", max_bytes=64 * 1024 + 1)
    assert len(exact.content) == 64 * 1024 + 1


async def test_a_hanging_answer_times_out() -> None:
    import httpx

    from tests.fakes.network import never_answer

    resolver = StubResolver({"hooks.example": [[PUBLIC]]})
    outbound = OutboundGuard(resolver=resolver, transport=httpx.MockTransport(never_answer))
    with pytest.raises(TimeoutError):
        await outbound.request("GET", "http://hooks.example/", max_bytes=1024, timeout=0.05)


async def test_allowed_networks_let_loopback_through_and_nothing_else() -> None:
    transport = RecordingTransport()
    outbound = guard(transport=transport, allow_networks=["127.0.0.0/8"])
    await outbound.request("GET", "http://127.0.0.1:9/", max_bytes=1024)
    await outbound.request("GET", "http://[::ffff:127.0.0.1]:9/", max_bytes=1024)
    with pytest.raises(OutboundRefused):
        await outbound.request("GET", "http://10.0.0.1/", max_bytes=1024)
    assert [request.url.host for request in transport.sent] == ["127.0.0.1", "::ffff:7f00:1"]


async def test_trusted_hosts_skip_the_address_check_only() -> None:
    transport = RecordingTransport()
    outbound = guard(transport=transport)
    await outbound.request(
        "GET", "http://10.1.2.3:7860/file.png", max_bytes=1024, trusted_hosts={"10.1.2.3"}
    )
    with pytest.raises(OutboundRefused):
        await outbound.request(
            "GET", "http://10.1.2.4:7860/", max_bytes=1024, trusted_hosts={"10.1.2.3"}
        )
    assert [request.url.host for request in transport.sent] == ["10.1.2.3"]


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "2130706433", "0x7f000001", "127.1", "[::ffff:127.0.0.1]", "localhost"]
)
async def test_a_real_loopback_listener_sees_no_connection_when_blocked(host: str) -> None:
    with listening() as listener:
        outbound = OutboundGuard()  # the real resolver
        with pytest.raises(OutboundRefused):
            await outbound.request("POST", f"http://{host}:{listener.port}/", max_bytes=1024)
        await outbound.aclose()
        allowed = OutboundGuard(allow_networks=["127.0.0.0/8", "::1/128"])
        answer = await allowed.request("POST", f"http://127.0.0.1:{listener.port}/", max_bytes=1024)
        await allowed.aclose()
    assert answer.status_code == 200
    assert listener.connections == 1  # only the allowed request reached it
