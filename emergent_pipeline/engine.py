"""Where independent pieces of work run: in this process, or on a Dask distributed cluster.

One switch for the whole project: when :data:`SCHEDULER` names a Dask scheduler, :func:`ordered_map`
sends each piece to its workers; unset, the same function runs here, one piece after the other. The
pieces are the recomputed chunks of the incremental assets (``defs.incremental``) and the trainings
of the walk-forward replay (``core.replay``). Workers never open DuckDB or MLflow: the caller reads,
sends, receives and writes (DuckDB takes one writer). README's "Beyond one machine" has the recipe.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

SCHEDULER = "EMERGENT_PIPELINE_DASK_SCHEDULER"
"""The environment variable naming a Dask distributed scheduler (``tcp://host:port``)."""


def ordered_map(function: Callable[..., Any], items: Iterable, shared: Sequence = ()) -> Iterator:
    """``function(item, *shared)`` for each of ``items``, yielded in their order. On the cluster the
    ``shared`` arguments are sent to every worker once, each item is sent as it is taken (``items``
    may be a generator that reads them), and as many pieces are in flight as there are workers, so
    memory holds a few pieces, not all; here, each is computed when it is asked for."""
    address = os.environ.get(SCHEDULER)
    if not address:
        for item in items:
            yield function(item, *shared)
        return
    from distributed import Client

    with Client(address, timeout="30s", set_as_default=False) as client:
        in_flight = max(len(client.scheduler_info()["workers"]), 1)
        sent_once = client.scatter(list(shared), broadcast=True) if shared else []
        pending: deque = deque()
        for item in items:
            sent = client.scatter([item], hash=False)[0]  # one future for the whole piece, however it is nested
            pending.append(client.submit(function, sent, *sent_once, pure=False))
            del item, sent  # held by the cluster now
            while len(pending) > in_flight:  # the oldest first: results come back in order
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
