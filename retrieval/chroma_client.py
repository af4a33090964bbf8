"""The connection to Chroma, apart from what is stored through it: embedded `PersistentClient` by default, a
Chroma server (`HttpClient`) by config.

The connection is made lazily and made again on the next call after a failure, so a service can start while
Chroma is down, or while its folder is damaged, and answer 503 (StoreUnavailable) until it is back or
rebuilt. Transport failures become StoreUnavailable here and nowhere else; the only reach into chromadb's
private state (its cache of one System per folder) is here too.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrieval.settings import ChromaSettings
from retrieval.store_errors import StoreCorrupt, StoreUnavailable

if TYPE_CHECKING:
    from chromadb.api import ClientAPI

log = logging.getLogger(__name__)

# chromadb's HttpClient reports a refused connection as a ValueError starting with one of these
REFUSED = ("Could not connect to a Chroma server", "Could not connect to tenant")


def _forget_failed_client(identifier: str) -> None:
    """chromadb caches one System per folder, and keeps it even when it failed to start: every later
    PersistentClient for that folder would get the broken one. Drop it unless a live client holds it.

    chromadb offers no public way to do this, so its private registry is reached into here, and only here:
    a chromadb upgrade that renames it breaks this one function."""
    from chromadb.api.shared_system_client import SharedSystemClient

    with SharedSystemClient._refcount_lock:
        if SharedSystemClient._identifier_to_refcount.get(identifier, 0) <= 0:
            SharedSystemClient._identifier_to_system.pop(identifier, None)


class ChromaConnection:
    """One lazily made Chroma client. `lock` guards the client and whatever was read through it (the store's
    partition cache shares it, so a reset and a re-read never interleave); `on_reset` callbacks run whenever
    the client is dropped, so such caches are dropped with it."""

    def __init__(self, config: ChromaSettings, path: Path | None, auth_token: str | None = None) -> None:
        self.config = config
        self.path = path  # persistent mode: the folder; None in http mode
        self._auth_token = auth_token  # http mode: the server's token (sent as a bearer header), None = none
        self._client: ClientAPI | None = None
        self._reset_listeners: list[Callable[[], None]] = []
        self.lock = threading.RLock()

    def where(self) -> str:
        return f"{self.config.host}:{self.config.port}" if self.config.mode == "http" else str(self.path)

    def on_reset(self, listener: Callable[[], None]) -> None:
        self._reset_listeners.append(listener)

    def client(self) -> ClientAPI:
        with self.lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def reset(self) -> None:
        with self.lock:
            self._client = None
            for listener in self._reset_listeners:
                listener()

    def close(self) -> None:
        with self.lock:
            client, self._client = self._client, None
            for listener in self._reset_listeners:
                listener()
        if client is not None:
            client.close()

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Turn transport failures into StoreUnavailable and forget the broken connection."""
        import httpx
        from chromadb.errors import ChromaAuthError

        try:
            yield
        except StoreUnavailable:
            self.reset()
            raise
        except ChromaAuthError:  # a missing or stale token: an outage of the store for this process
            self.reset()
            raise StoreUnavailable(
                f"Chroma server at {self.where()} refused this client's token; a Chroma that tacit up serves "
                "(retrieval.chroma.serve) takes the one in the home's secrets: restart it with `tacit up`"
            ) from None
        except (httpx.TransportError, ConnectionError) as exc:
            self.reset()
            raise StoreUnavailable(f"Chroma server at {self.where()} is unreachable: {exc}") from None
        except ValueError as exc:
            # any other ValueError (a filter Chroma refuses, say, even one quoting the word "connect") is the
            # caller's, not an outage
            if not str(exc).startswith(REFUSED):
                raise
            self.reset()
            raise StoreUnavailable(f"Chroma server at {self.where()} is unreachable: {exc}") from None

    def set_aside_if_corrupt(self) -> Path | None:
        """Connect; an embedded folder Chroma cannot open is renamed aside (never deleted), so a new one can
        be built. Returns where it went, None when the folder opened."""
        try:
            with self.guard():
                self.client()
        except StoreCorrupt:
            if self.path is None:
                raise
            with self.lock:
                self.reset()
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
                target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
                n = 1
                while target.exists():
                    target, n = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}"), n + 1
                self.path.rename(target)
                log.warning(
                    "the Chroma folder %s could not be opened: moved it aside to %s (delete it once nobody "
                    "needs it) and rebuilding the example store from the ledger",
                    self.path,
                    target,
                )
            with self.guard():
                self.client()
            return target
        return None

    def _connect(self) -> ClientAPI:
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        if self.config.mode == "persistent":
            return self._open_folder(settings)
        # Chroma's HTTP client has no connect timeout: probe first so that a dead or filtered server
        # fails within connect_timeout_s instead of hanging the caller.
        try:
            socket.create_connection(
                (self.config.host, self.config.port), self.config.connect_timeout_s
            ).close()
        except OSError as exc:
            raise StoreUnavailable(
                f"Chroma server at {self.where()} is unreachable ({exc}); check that it runs and that "
                "retrieval.chroma.host/port point at it"
            ) from None
        if self._auth_token is not None:
            settings = Settings(
                anonymized_telemetry=False,
                chroma_client_auth_provider="chromadb.auth.token_authn.TokenAuthClientProvider",
                chroma_client_auth_credentials=self._auth_token,
            )
        client = chromadb.HttpClient(
            host=self.config.host, port=self.config.port, ssl=self.config.ssl, settings=settings
        )
        session = getattr(getattr(client, "_server", None), "_session", None)
        if session is not None:  # bound every later request too (Chroma's default is no timeout at all)
            import httpx

            session.timeout = httpx.Timeout(
                self.config.request_timeout_s, connect=self.config.connect_timeout_s
            )
        return client

    def _open_folder(self, settings: Any) -> ClientAPI:
        """The embedded client; a folder Chroma cannot open is StoreCorrupt, one the OS refuses is
        StoreUnavailable (moving it aside would not help)."""
        import chromadb

        assert self.path is not None
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(self.path), settings=settings)
        except OSError as exc:
            _forget_failed_client(str(self.path))
            raise StoreUnavailable(f"the Chroma folder {self.path} cannot be opened: {exc}") from exc
        except Exception as exc:  # chromadb's InternalError, sqlite's "file is not a database", ...
            _forget_failed_client(str(self.path))
            raise StoreCorrupt(
                f"the Chroma folder {self.path} cannot be opened ({type(exc).__name__}: {exc}); it only "
                "indexes the ledger: `tacit reindex` moves it aside and rebuilds it"
            ) from exc
