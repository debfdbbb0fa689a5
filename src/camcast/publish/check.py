"""``camcast publish --check``: connect, write, rename, list and delete a file; report the times."""

from __future__ import annotations

import time

from camcast.errors import UploadRefused
from camcast.publish.store import RemoteStore

CHECK_FILE = "camcast-check.txt"


async def check_store(store: RemoteStore) -> str:
    """A one-line report of what each step took; raises UploadError at the first that fails. The
    store is closed afterwards."""
    times = []
    try:
        t0 = time.monotonic()
        await store.makedirs("")
        times.append(("connect", time.monotonic() - t0))
        t0 = time.monotonic()
        await store.put_atomic(CHECK_FILE, b"camcast can write here\n")
        times.append(("write+rename", time.monotonic() - t0))
        names = [e.name for e in await store.list("")]
        if CHECK_FILE not in names:
            raise UploadRefused(f"{store.describe()} accepted the file but does not list it")
        t0 = time.monotonic()
        await store.delete(CHECK_FILE)
        times.append(("delete", time.monotonic() - t0))
    finally:
        await store.aclose()
    report = ", ".join(f"{what} {seconds * 1000:.0f} ms" for what, seconds in times)
    return f"{store.describe()} works: {report}"
