"""One HTTP transfer of a download (``lssd.data.download``): the request (resumed with an HTTP Range from the
bytes a cut attempt left), the body streamed into the ``.part`` file with its digests, the stall check and the
progress lines of the job log.

A transfer cut off half way (a broken connection, a stall, a body shorter than announced) is resumed by the next
attempt: it asks for the rest (``Range: bytes=<received>-``) and appends it, hashing the bytes already there first,
so that the checksums cover the whole file. A server that ignores the Range (HTTP 200) sends the whole file again,
which then replaces the part.
"""

from __future__ import annotations

import collections
import errno
import hashlib
import http.client
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

CHUNK = 1 << 20
MIN_RATE = 1024.0  # bytes/s over the timeout window: a stall, far below any real link (1 MB/s is 1000 times more)
NETWORK_ERRORS = (OSError, ValueError, http.client.HTTPException)  # IncompleteRead is an HTTPException
PROGRESS_SECONDS = 30.0  # a progress line in the job log this often: a multi-GB transfer shows it is alive


class DownloadError(RuntimeError):
    """A download that failed; the message names the URL and the reason. ``retry``: another attempt may cure it;
    ``restart``: that attempt must start from the first byte (what the part file holds cannot be continued)."""

    def __init__(self, message: str, retry: bool = False, restart: bool = False):
        super().__init__(message)
        self.retry, self.restart = retry, restart


class RateFloor:
    """Tells a stalled transfer: one whose last ``window`` seconds brought fewer than ``min_rate`` bytes a second."""

    def __init__(self, window: float, min_rate: float, clock=time.monotonic):
        self.window, self.min_rate, self.clock = window, min_rate, clock
        self.samples = collections.deque([(clock(), 0)])  # (time, bytes received by then)

    def stalled(self, received: int) -> str:
        """Record that ``received`` bytes have arrived; a description of the stall, or "" while the rate is fine."""
        now = self.clock()
        if now - self.samples[-1][0] >= self.window / 32:  # a few dozen samples a window, however fast the reads
            self.samples.append((now, received))
        while len(self.samples) > 1 and self.samples[1][0] <= now - self.window:
            self.samples.popleft()  # keep the newest sample at least a window old: the window's start
        start, base = self.samples[0]
        elapsed, recent = now - start, received - base
        if self.min_rate <= 0 or elapsed < self.window or recent >= self.min_rate * elapsed:
            return ""
        return (
            f"{recent} bytes in the last {elapsed:.0f} s ({recent / elapsed:.1f} bytes/s, below the floor of "
            f"{self.min_rate:g} bytes/s)"
        )


def human_bytes(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


def human_seconds(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


class Progress:
    """Progress lines (bytes, rate, ETA) every ``every`` seconds, and one at the end."""

    def __init__(self, log, total: int | None, start: int, every: float = PROGRESS_SECONDS, clock=time.monotonic):
        self.log, self.total, self.start, self.every, self.clock = log, total, start, every, clock
        self.began = self.last = clock()

    def line(self, received: int) -> str:
        elapsed = max(self.clock() - self.began, 1e-9)
        rate = (received - self.start) / elapsed  # this attempt's bytes only: a resumed prefix took no time
        text = f"  {human_bytes(received)}"
        if self.total:
            text += f" of {human_bytes(self.total)} ({100 * received / self.total:.0f} %)"
        text += f", {human_bytes(rate)}/s"
        if self.total and rate > 0 and received < self.total:
            text += f", ETA {human_seconds((self.total - received) / rate)}"
        return text

    def update(self, received: int, done: bool = False) -> None:
        if self.log is None or not (done or self.clock() - self.last >= self.every):
            return
        self.last = self.clock()
        print(self.line(received), file=self.log, flush=True)


def open_url(url: str, timeout: float, offset: int = 0):
    """The response to a GET of ``url``, from byte ``offset`` on (an HTTP Range) when ``offset`` > 0."""
    headers = {"User-Agent": "lssd-pipeline"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as error:
        if offset and error.code == 416:  # the part is not a prefix of what the server has now
            raise DownloadError(f"{url}: cannot resume at byte {offset} (HTTP 416)", retry=True, restart=True) from None
        raise DownloadError(f"{url}: HTTP {error.code} {error.reason}", retry=error.code >= 500) from None
    except (urllib.error.URLError, *NETWORK_ERRORS) as error:
        reason = getattr(error, "reason", error)
        raise DownloadError(f"{url}: could not connect ({reason})", retry=True) from None


def resumed_at(response, offset: int) -> int:
    """Where the body starts: ``offset`` when the server answered the Range (206, Content-Range from it), else 0."""
    if not offset or response.status != 206:
        return 0
    match = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range", "").strip())
    return offset if match and int(match.group(1)) == offset else 0


def write_error(url: str, part: Path, error: OSError) -> DownloadError:
    """A failed write of the ``.part`` file: final, since another attempt would fail the same way."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        problem = "the disk is full" if error.errno == errno.ENOSPC else "the disk quota is used up"
        return DownloadError(f"{url}: cannot write {part}: {problem} ({error.strerror}); free space there and rerun")
    return DownloadError(f"{url}: cannot write {part} ({error.strerror or error})")


def read_chunk(response, url: str, want: int, received: int) -> bytes:
    try:
        # read1: what has arrived, at most one socket read; read() would wait for a whole chunk, so that a
        # trickling server would never give the stall check a chance to run
        return response.read1(want)
    except NETWORK_ERRORS as error:
        raise DownloadError(
            f"{url}: the transfer broke off after {received} bytes ({type(error).__name__}: {error})", retry=True
        ) from None


def hashed_prefix(part: Path, start: int):
    """The digests and first 512 bytes of the ``start`` bytes a cut attempt left in ``part``."""
    sha256, md5, head = hashlib.sha256(), hashlib.md5(), b""
    remaining = start
    with open(part, "rb") as handle:
        while remaining and (block := handle.read(min(CHUNK, remaining))):
            remaining -= len(block)
            head += block[: max(0, 512 - len(head))]
            sha256.update(block)
            md5.update(block)
    return sha256, md5, head


def stream(response, handle, url, size, timeout, min_rate, start=0, progress=None) -> tuple[int, bytes, dict]:
    """Copy the body into ``handle`` (opened for appending after ``start`` bytes already there); returns (bytes in
    the part, its first 512 bytes, the digests of all of it). Reads stop one byte past ``size`` (if known)."""
    sha256, md5, head = hashed_prefix(Path(handle.name), start) if start else (hashlib.sha256(), hashlib.md5(), b"")
    limit = None if size is None else size + 1  # one byte past the expected size: the body is too long
    floor = RateFloor(timeout, min_rate)
    received = start
    while limit is None or received < limit:
        chunk = read_chunk(response, url, CHUNK if limit is None else min(CHUNK, limit - received), received)
        if not chunk:
            break
        head += chunk[: max(0, 512 - len(head))]
        handle.write(chunk)
        sha256.update(chunk)
        md5.update(chunk)
        received += len(chunk)
        if progress:
            progress.update(received)
        if stall := floor.stalled(received - start):
            raise DownloadError(f"{url}: the transfer stalled after {received} bytes: {stall}", retry=True)
    if progress:
        progress.update(received, done=True)
    return received, head, {"sha256": sha256.hexdigest(), "md5": md5.hexdigest()}
