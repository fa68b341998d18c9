"""Streaming a page's buckets out of its bytes, so memory follows one bucket, not one page.

The Usage API's largest pages can hold hundreds of thousands of results. Rather than decoding a whole
page into Python objects, `PageSplitter` finds where each bucket object of the page's `data` array
starts and ends, chunk by chunk as the body arrives, and hands back complete buckets as bytes for
orjson. Only JSON's structural characters outside strings are located, with numpy; everything else
is left to the real parser.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

_QUOTE, _BACKSLASH = 34, 92
_OPEN_OBJ, _CLOSE_OBJ, _OPEN_ARR, _CLOSE_ARR = 123, 125, 91, 93
_WS = b" \t\r\n"


class BrokenPage(ValueError):
    """The bytes are not a complete JSON page."""


class PageSplitter:
    """Feed a page's bytes in any chunks; get complete bucket objects (as JSON bytes) back, in order."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.base = 0  # absolute offset of buf[0] in the page
        self.depth = 0
        self.in_string = False
        self.backslashes = 0  # run of backslashes at the very end of what was scanned
        self.head = bytearray()  # page bytes before the data array, ending with its '['
        self.tail = bytearray()  # page bytes from the data array's ']' on
        self.state = "head"  # head -> data -> tail
        self.bucket_start: int | None = None  # absolute offset of the open bucket's '{'

    def feed(self, chunk: bytes) -> list[bytes]:
        """Scan a chunk; return the buckets that closed in it (each the bytes of one JSON object)."""
        if not chunk:
            return []
        start = self.base + len(self.buf)
        self.buf += chunk
        out: list[bytes] = []
        for pos, ch, depth in self._events(chunk, start):
            if self.state == "head":
                if ch == _OPEN_ARR and depth == 2 and self._key_before(pos) == b'"data"':
                    self.head += self.buf[: pos - self.base + 1]
                    self._drop_to(pos + 1)
                    self.state = "data"
            elif self.state == "data":
                if ch == _OPEN_OBJ and depth == 3:
                    self.bucket_start = pos
                elif ch == _CLOSE_OBJ and depth == 2 and self.bucket_start is not None:
                    out.append(bytes(self.buf[self.bucket_start - self.base: pos - self.base + 1]))
                    self.bucket_start = None
                    self._drop_to(pos + 1)
                elif ch == _CLOSE_ARR and depth == 1:
                    self.state = "tail"
                    self._drop_to(pos)
        if self.state == "head":
            pass  # keep everything: it is the head
        elif self.state == "data" and self.bucket_start is None:
            self._drop_to(self.base + len(self.buf))  # separators only
        elif self.state == "tail":
            self.tail += self.buf
            self.base += len(self.buf)
            self.buf.clear()
        return out

    def finish(self) -> dict[str, Any]:
        """The page's other fields (has_more, next_page, ...) once all bytes are in."""
        if self.state == "head":  # no data array at all: the whole body is the page
            try:
                page = orjson.loads(bytes(self.buf))
            except orjson.JSONDecodeError as e:
                raise BrokenPage(f"not JSON: {e}") from None
            if not isinstance(page, dict):
                raise BrokenPage("the page is not a JSON object")
            return page
        if self.state != "tail" or self.depth != 0 or self.in_string:
            raise BrokenPage("the page ended before its JSON did")
        try:
            page = orjson.loads(bytes(self.head) + bytes(self.tail))
        except orjson.JSONDecodeError as e:
            raise BrokenPage(f"not JSON: {e}") from None
        return page

    # ------------------------------------------------------------------------------------------------
    def _drop_to(self, absolute: int) -> None:
        cut = absolute - self.base
        if cut > 0:
            del self.buf[:cut]
            self.base = absolute

    def _key_before(self, pos: int) -> bytes:
        text = bytes(self.buf[: pos - self.base]).rstrip(_WS)
        if not text.endswith(b":"):
            return b""
        text = text[:-1].rstrip(_WS)
        return text[text.rfind(b'"', 0, len(text) - 1):] if text.endswith(b'"') else b""

    def _events(self, chunk: bytes, start: int) -> list[tuple[int, int, int]]:
        """(absolute offset, char, depth after it) for structural chars outside strings, at depth <= 3."""
        c = np.frombuffer(chunk, np.uint8)
        quotes = np.flatnonzero(c == _QUOTE)
        if quotes.size and (self.backslashes or (c == _BACKSLASH).any()):
            quotes = self._unescaped(chunk, quotes)
        struct = np.flatnonzero((c == _OPEN_OBJ) | (c == _CLOSE_OBJ) | (c == _OPEN_ARR) | (c == _CLOSE_ARR))
        # a structural char is outside strings when an even number of real quotes precede it
        before = np.searchsorted(quotes, struct) + (1 if self.in_string else 0)
        struct = struct[(before & 1) == 0]
        chars = c[struct]
        step = np.where((chars == _OPEN_OBJ) | (chars == _OPEN_ARR), 1, -1)
        depth_after = self.depth + np.cumsum(step)
        self.in_string = bool((quotes.size + (1 if self.in_string else 0)) & 1)
        if depth_after.size:
            self.depth = int(depth_after[-1])
            if depth_after.min() < 0:
                raise BrokenPage("unbalanced brackets")
        trailing = len(chunk) - len(chunk.rstrip(b"\\"))
        self.backslashes = trailing + (self.backslashes if trailing == len(chunk) else 0)
        # only opens reaching depth <= 3 and closes landing at depth <= 2 can matter
        keep = ((step > 0) & (depth_after <= 3)) | ((step < 0) & (depth_after <= 2))
        return list(zip((struct[keep] + start).tolist(), chars[keep].tolist(), depth_after[keep].tolist(),
                        strict=True))

    def _unescaped(self, chunk: bytes, quotes: np.ndarray) -> np.ndarray:
        """Drop quotes escaped by an odd run of backslashes (rare: only where backslashes occur)."""
        keep = []
        for q in quotes.tolist():
            run, i = 0, q - 1
            while i >= 0 and chunk[i] == _BACKSLASH:
                run, i = run + 1, i - 1
            if i < 0:
                run += self.backslashes
            keep.append(run % 2 == 0)
        return quotes[np.array(keep, dtype=bool)]
