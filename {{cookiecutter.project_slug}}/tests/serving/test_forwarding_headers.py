"""Forwarding headers against a real gunicorn: only X-Forwarded-Proto, only from
FORWARDED_ALLOW_IPS; SCRIPT_NAME and PATH_INFO from a client never change routing.

Each test sends the same requests from a trusted peer (FORWARDED_ALLOW_IPS names
127.0.0.1, the test's own address) and an untrusted one (it names another address).
The worker class is the project's default; CI runs this file once per class.
"""

import pytest
import requests
from harness.http import wait_for_health
from harness.servers import probe_server

PEERS = {"trusted": "127.0.0.1", "untrusted": "192.0.2.1"}


@pytest.fixture(scope="module", params=list(PEERS))
def server(request, tmp_path_factory):
    env = {"FORWARDED_ALLOW_IPS": PEERS[request.param], "WEB_CONCURRENCY": "1"}
    with probe_server(tmp_path_factory.mktemp("forwarding"), env, request) as server:
        yield server


def get(server, path, headers):
    return requests.get(f"{server.url}{path}", headers=headers, allow_redirects=False, timeout=5)


def test_a_script_name_header_outside_the_path_is_ignored(server):
    # gunicorn's default forwarder_headers: a 500 ("does not start with SCRIPT_NAME").
    response = get(server, "/health", {"SCRIPT_NAME": "/x"})
    assert response.status_code == 200


def test_a_script_name_header_does_not_mount_the_app_elsewhere(server):
    # gunicorn's default: /anything/health served as /health.
    response = get(server, "/anything/health", {"SCRIPT_NAME": "/anything"})
    assert response.status_code == 404
    url = get(server, "/_probe/url", {"SCRIPT_NAME": "/anything", "PATH_INFO": "/health"})
    assert url.json()["url"].endswith("/_probe/url")


def test_a_script_name_header_cannot_send_redirects_off_site(server):
    # gunicorn's default: SCRIPT_NAME=//evil.example, and url_for() built
    # `Location: //evil.example/_probe/url`, a protocol-relative URL to another site.
    response = get(
        server, "//evil.example/_probe/redirect-to-url", {"SCRIPT_NAME": "//evil.example"}
    )
    # Routed as the whole path, which no route matches: no redirect at all.
    assert response.status_code == 404, response.headers.get("Location")
    assert "Location" not in response.headers
    direct = get(server, "/_probe/redirect-to-url", {"SCRIPT_NAME": "//evil.example"})
    assert direct.status_code == 302
    assert direct.headers["Location"] == "/_probe/url"


def test_only_x_forwarded_proto_sets_the_scheme(server, request):
    proto = get(server, "/_probe/url", {"X-Forwarded-Proto": "https"}).json()["scheme"]
    assert proto == ("https" if "[trusted]" in request.node.name else "http")
    # gunicorn's default also took these two, which no platform's router sets.
    for header, value in (("X-Forwarded-Ssl", "on"), ("X-Forwarded-Protocol", "ssl")):
        assert get(server, "/_probe/url", {header: value}).json()["scheme"] == "http"


def test_url_prefix_mounts_the_app_under_a_fixed_path(start_gunicorn):
    server = start_gunicorn({"URL_PREFIX": "/shop", "WEB_CONCURRENCY": "1"})
    wait_for_health(server.url)
    assert get(server, "/shop/_probe/url", {}).json()["url"] == f"{server.url}/shop/_probe/url"
    redirect = get(server, "/shop/_probe/redirect-to-url", {})
    assert redirect.headers["Location"] == "/shop/_probe/url"
    # Outside the prefix, as it is: probes and a proxy that strips the prefix.
    assert get(server, "/health", {}).status_code == 200
    assert get(server, "/shopping/health", {}).status_code == 404
    # The access line keeps the path the client asked for, prefix included.
    server.wait_for_line('"path": "/shop/_probe/redirect-to-url"')
