"""Downloading an ``httpRef`` script, bounded in size and time (klt-facts §1.7, §4.3).

KLT's runtime images fetch the URL inside the Job; the runner fetches it itself so that the size and
time limits hold and the error says what went wrong. aiohttp's exceptions stop here.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp


class DownloadError(Exception):
    """The script could not be fetched; the message says why (never with the script's content)."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


async def download(url: str, *, max_bytes: int, timeout_s: float) -> bytes:
    """The body of ``url`` (http or https), at most ``max_bytes``, within ``timeout_s`` seconds."""
    if urlsplit(url).scheme not in {"http", "https"}:
        raise DownloadError(f"could not download {url}: only http and https URLs are supported")
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
            if response.status >= 400:
                raise DownloadError(f"could not download {url}: HTTP {response.status} {response.reason}")
            if response.content_length is not None and response.content_length > max_bytes:
                raise DownloadError(
                    f"could not download {url}: it is {response.content_length} bytes, "
                    f"larger than the limit of {max_bytes} bytes"
                )
            body = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                body += chunk
                if len(body) > max_bytes:
                    raise DownloadError(
                        f"could not download {url}: it is larger than the limit of {max_bytes} bytes"
                    )
            return bytes(body)
    except TimeoutError:
        raise DownloadError(
            f"could not download {url}: no complete answer within {timeout_s:g}s", timed_out=True
        ) from None
    except aiohttp.ClientError as exc:
        raise DownloadError(f"could not download {url}: {exc}") from None
