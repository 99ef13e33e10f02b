"""Engines that fit batches of person tasks: in this process (``PlainEngine``) or on Ray actors
(``RayEngine``, each actor loading the body models and priors once). Both take batches with
``submit`` and hand back finished batches of fits with ``ready`` (what has finished so far)
and ``drain`` (everything still out), so that the folder loop that prepares images and
writes results is the same for both.

A Ray actor that dies mid-batch (killed, out of memory, its node lost) loses that batch
only: Ray restarts the actor and the batch is sent again, up to ``max_retries`` times; after
that its people are recorded as failed with the reason, and the run goes on.
"""
from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from bodyfit.fitting.config import FitConfig
from bodyfit.fitting.core import ModelBank, fit_batch
from bodyfit.fitting.tasks import PersonFit, PersonTask

log = logging.getLogger("bodyfit")


class Engine(Protocol):
    def submit(self, batch: list[PersonTask]) -> None: ...

    def ready(self) -> list[list[PersonFit]]: ...

    def drain(self) -> Iterator[list[PersonFit]]: ...

    def close(self) -> None: ...


class PlainEngine:
    """Fits each batch at once, in this process, with ``bank``."""

    def __init__(self, bank: ModelBank) -> None:
        self.bank = bank
        self._done: list[list[PersonFit]] = []

    def submit(self, batch: list[PersonTask]) -> None:
        self._done.append(fit_batch(self.bank, batch))

    def ready(self) -> list[list[PersonFit]]:
        done, self._done = self._done, []
        return done

    def drain(self) -> Iterator[list[PersonFit]]:
        yield from self.ready()

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide to run: ``address`` of a running cluster (None: start a local
    Ray), ``workers`` actors, each with ``cpus_per_worker`` CPUs (its torch threads) and
    ``gpus_per_worker`` GPUs; a batch whose actor died is sent again ``max_retries`` times."""

    address: str | None = None
    workers: int = 2
    cpus_per_worker: int = 1
    gpus_per_worker: float = 0.0
    max_retries: int = 3

    def __post_init__(self) -> None:
        if self.workers < 1 or self.cpus_per_worker < 1:
            raise ValueError(f"workers and cpus_per_worker must be at least 1, got {self.workers}, "
                             f"{self.cpus_per_worker}")
        if self.gpus_per_worker < 0 or self.max_retries < 0:
            raise ValueError(f"gpus_per_worker and max_retries must be at least 0, got {self.gpus_per_worker}, "
                             f"{self.max_retries}")


class FitWorker:
    """What each Ray actor runs: a model bank built once, then batch after batch."""

    def __init__(self, configs: dict[str, FitConfig], model_folder: Path | str | None, device: str,
                 threads: int) -> None:
        torch.set_num_threads(threads)  # in the actor's own process: its share of the node's CPUs
        self.bank = ModelBank(configs, model_folder, device)

    def fit(self, batch: list[PersonTask]) -> list[PersonFit]:
        return fit_batch(self.bank, batch)

    def pid(self) -> int:
        return os.getpid()


@dataclass
class _Sent:
    actor: int
    batch: list[PersonTask]
    attempt: int


def import_ray() -> Any:
    """The ``ray`` module, or an ``ImportError`` saying how to install it."""
    try:
        import ray
    except ImportError as error:
        raise ImportError("the Ray engine needs Ray: pip install -e '.[ray]' (or pip install ray)") from error
    return ray


class RayEngine:
    """Batches fitted by ``options.workers`` Ray actors, one batch per actor at a time; batches
    wait in order for a free actor. ``configs`` and ``model_folder`` as for ``ModelBank``;
    ``device`` as each actor sees it (Ray gives an actor with GPUs its own as ``cuda:0``)."""

    def __init__(self, configs: dict[str, FitConfig], model_folder: Path | str | None, device: str,
                 options: RayOptions) -> None:
        ray = self.ray = import_ray()
        self.options = options
        self._started_ray = not ray.is_initialized()
        if self._started_ray:
            local = {} if options.address else {"num_cpus": options.workers * options.cpus_per_worker}
            ray.init(address=options.address, include_dashboard=False, log_to_driver=False,
                     configure_logging=False, **local)
        worker = ray.remote(num_cpus=options.cpus_per_worker, num_gpus=options.gpus_per_worker,
                            max_restarts=-1)(FitWorker)
        self.actors = [worker.remote(configs, model_folder, device, options.cpus_per_worker)
                       for _ in range(options.workers)]
        self._idle: deque[int] = deque(range(options.workers))
        self._waiting: deque[tuple[list[PersonTask], int]] = deque()
        self._sent: dict[Any, _Sent] = {}
        self._probes: dict[Any, int] = {}  # an actor that lost a batch: back to work once it answers
        self.retried = 0

    def submit(self, batch: list[PersonTask]) -> None:
        self._waiting.append((batch, 0))
        self._dispatch()

    def in_flight(self) -> dict[int, list[PersonTask]]:
        """Actor index -> the batch it is fitting now."""
        return {sent.actor: sent.batch for sent in self._sent.values()}

    def ready(self) -> list[list[PersonFit]]:
        """The batches finished so far (without waiting); more than a few batches waiting for
        an actor make it wait for one, so that preparing images cannot run far ahead."""
        return self._collect(block=len(self._waiting) > 2 * len(self.actors))

    def drain(self) -> Iterator[list[PersonFit]]:
        while self._sent or self._waiting:
            if not self._sent and not self._idle and not self._probes:
                raise RuntimeError("no Ray worker left to fit the waiting batches")
            yield from self._collect(block=True)

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []
        if self._started_ray:
            self.ray.shutdown()

    def _dispatch(self) -> None:
        while self._idle and self._waiting:
            actor = self._idle.popleft()
            batch, attempt = self._waiting.popleft()
            self._sent[self.actors[actor].fit.remote(batch)] = _Sent(actor, batch, attempt)

    def _collect(self, block: bool) -> list[list[PersonFit]]:
        self._dispatch()
        if not self._sent and not self._probes:
            return []
        done, _ = self.ray.wait(list(self._sent) + list(self._probes), num_returns=1,
                                timeout=None if block else 0)
        finished = []
        for ref in done:
            if ref in self._probes:
                self._answer(ref)
                continue
            sent = self._sent.pop(ref)
            try:
                finished.append(self.ray.get(ref))
                self._idle.append(sent.actor)
            except self.ray.exceptions.RayError as error:  # the actor died (or its task raised)
                self._probe(sent.actor)
                failed = self._retry(sent, error)
                if failed is not None:
                    finished.append(failed)
        self._dispatch()
        return finished

    def _probe(self, actor: int) -> None:
        """Asks an actor that lost its batch whether it is back (Ray restarts it)."""
        self._probes[self.actors[actor].pid.remote()] = actor

    def _answer(self, ref: Any) -> None:
        actor = self._probes.pop(ref)
        try:
            self.ray.get(ref)
            self._idle.append(actor)
        except self.ray.exceptions.RayError:  # still restarting: ask again shortly
            time.sleep(0.2)
            self._probe(actor)

    def _retry(self, sent: _Sent, error: Exception) -> list[PersonFit] | None:
        """Sends a lost batch again (its actor restarts), or fails its people once it was
        tried ``max_retries`` times."""
        people = ", ".join(f"{task.image_id}:{task.person_index}" for task in sent.batch[:3])
        if sent.attempt < self.options.max_retries:
            self.retried += 1
            log.warning("a Ray worker lost a batch of %d people (%s...): sending it again (%s)",
                        len(sent.batch), people, type(error).__name__)
            self._waiting.appendleft((sent.batch, sent.attempt + 1))
            return None
        log.error("a batch of %d people (%s...) failed %d times on Ray workers: %s", len(sent.batch), people,
                  sent.attempt + 1, error)
        reason = f"lost by Ray workers {sent.attempt + 1} times: {type(error).__name__}"
        return [PersonFit.failed(task, reason) for task in sent.batch]
