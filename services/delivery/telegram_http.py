"""The HTTP client for every Bot API call, from the bot and the scheduler.

urllib3's connection pool directly: requests' per-call work (environment
look-ups, hooks, cookie handling) cost as much as the call itself on
loopback. Network failures are raised as requests' exceptions so callers,
telebot included, handle one family of errors. Proxies from the environment
(HTTPS_PROXY, NO_PROXY) are honoured, read once at start.
"""
import json
import urllib.request
from urllib.parse import urlparse

import requests
import urllib3


class Response:
    """The parts of requests.Response that telebot and the transport read."""

    def __init__(self, raw):
        self.status_code, self.reason, self.content = raw.status, raw.reason, raw.data

    @property
    def text(self):
        return self.content.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.content)


class BotApiHttp:
    def __init__(self, api_url, pool_size=8):
        proxy = _proxy_for(api_url)
        # No retries: a request that may have reached Telegram is not sent twice here.
        options = {"maxsize": pool_size, "retries": urllib3.Retry(0, read=False)}
        self._pool = urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)

    def request(self, method, url, params=None, files=None, timeout=(5, 30), proxies=None):
        """The signature of telebot's apihelper.CUSTOM_REQUEST_SENDER."""
        if files or proxies:  # uploads and explicit proxies: leave them to requests
            return requests.request(method, url, params=params, files=files,
                                    timeout=timeout, proxies=proxies)
        fields = {k: str(v) for k, v in (params or {}).items() if v is not None}
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        method = method.upper()
        body_options = {} if method == "GET" else {"encode_multipart": False}  # a form body
        try:
            raw = self._pool.request(method, url, fields=fields, **body_options,
                                     timeout=urllib3.Timeout(connect=connect, read=read))
        except (urllib3.exceptions.TimeoutError, urllib3.exceptions.ReadTimeoutError) as exc:
            raise requests.Timeout(_describe(exc)) from None
        except urllib3.exceptions.HTTPError as exc:
            raise requests.ConnectionError(_describe(exc)) from None
        return Response(raw)


def _proxy_for(api_url):
    host = urlparse(api_url).hostname or ""
    if urllib.request.proxy_bypass(host):
        return None
    return urllib.request.getproxies().get(urlparse(api_url).scheme)


def _describe(exc):
    return f"{type(exc).__name__}: {exc}"
