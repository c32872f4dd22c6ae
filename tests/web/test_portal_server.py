"""The demo portal server: the assistant's address is validated and lands safely in the page."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from web.portal_server import create_app, render_index

TEMPLATE = '<script src="{{WIDGET_SRC}}"></script><script>init({serverUrl: {{ASSISTANT_URL_JSON}}})'


@pytest.mark.unit
def test_the_assistant_address_is_filled_in():
    page = render_index(TEMPLATE, "http://127.0.0.1:5005/")
    assert page == ('<script src="http://127.0.0.1:5005/webhooks/webchat/widget.js"></script>'
                    '<script>init({serverUrl: "http://127.0.0.1:5005"})')


@pytest.mark.unit
@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "http://x/</script><script>alert(1)</script>", 'http://a"b',
    "ftp://host", "http://", "127.0.0.1:5005",
])
def test_a_bad_assistant_address_is_refused(url):
    with pytest.raises(ValueError, match="assistant URL"):
        render_index(TEMPLATE, url)


@pytest.mark.integration
async def test_the_portal_serves_its_pages_and_nothing_else():
    client = TestClient(TestServer(create_app("https://assistant.example.gov.cn")))
    await client.start_server()
    try:
        for path in ("/", "/minimal.html"):
            reply = await client.get(path)
            text = await reply.text()
            assert reply.status == 200 and reply.content_type == "text/html"
            assert ('<script src="https://assistant.example.gov.cn/webhooks/webchat/widget.js">'
                    in text)
            assert "{{" not in text
            assert reply.headers["X-Content-Type-Options"] == "nosniff"
        assert (await client.get("/health")).status == 200
        css = await client.get("/static/portal.css")
        assert css.status == 200 and css.content_type == "text/css"
        for path in ("/static/../portal_server.py", "/static/", "/index.htm", "/../web"):
            assert (await client.get(path)).status in (403, 404), path
    finally:
        await client.close()
