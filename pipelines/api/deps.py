"""What a route receives, as typed dependencies: `runtime: RuntimeDep` rather than a read of `app.state`.

`create_app` and its lifespan put the runtime and the wake-ups on the app; these are the only readers.
Tests swap either through `app.dependency_overrides[get_runtime]`.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Request

from pipelines.adapters.wakeups import DECIDED, Wakeups
from pipelines.api.auth import Caller, require_admin_key, require_app_key
from pipelines.loop.publish import Wake
from pipelines.runtime import Runtime
from retrieval.retriever import Retriever


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def get_retriever(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Retriever:
    return runtime.retriever


def get_wakeups(request: Request) -> Wakeups:
    return request.app.state.wakeups


async def get_wake(wakeups: Annotated[Wakeups, Depends(get_wakeups)]) -> Wake:
    """ "A decision may have landed", for a use-case running in a worker thread: it wakes this process's
    long-polls on their event loop, and with Redis every replica's, before the use-case goes on."""
    loop = asyncio.get_running_loop()
    return lambda: asyncio.run_coroutine_threadsafe(wakeups.wake(DECIDED), loop).result()


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
WakeupsDep = Annotated[Wakeups, Depends(get_wakeups)]
WakeDep = Annotated[Wake, Depends(get_wake)]
AppCaller = Annotated[Caller, Depends(require_app_key)]
AdminCaller = Annotated[Caller, Depends(require_admin_key)]
