"""Celery prefork: a real ``celery worker`` process on a real Redis, stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from celery import Celery

from amplitude_legacy.testing import Collector

ROOT = Path(__file__).resolve().parents[2]


def test_each_pool_process_has_its_client_and_flushes_at_warm_shutdown(
    collector: Collector, redis_url: str
) -> None:
    """Events logged in pool processes carry the task context; SIGTERM delivers them all."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AMPLITUDE_")},
        "TEST_REDIS_URL": redis_url,
        "TEST_SERVER_URL": collector.http_api_url,
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tests.integrations._celery_worker_app",
            "worker",
            "--pool=prefork",
            "--concurrency=2",
            "--loglevel=WARNING",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # The producer side: an app of its own on the same Redis (the worker's module, with its
        # signal handlers, is never imported in this process).
        producer = Celery("producer", broker=redis_url, backend=redis_url)
        results = [
            producer.send_task("prefork_test.charge", args=[f"user-{n:05d}"]) for n in range(8)
        ]
        answers = [r.get(timeout=60, interval=0.05) for r in results]
        assert collector.events == []  # queued in the pool processes (60 s upload interval)
        worker.send_signal(signal.SIGTERM)  # warm shutdown, as docker stop / Kubernetes do
        output, _ = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, output
    events = collector.wait_for_events(8, timeout=10)
    pool_pids = {a["pid"] for a in answers}
    assert worker.pid not in pool_pids
    assert all(a["client_built_here"] for a in answers)
    for answer, result in zip(answers, results):
        assert answer["context"] == {"task_name": "prefork_test.charge", "task_id": result.id}
    sent = {e["user_id"]: e["event_properties"] for e in events}
    for n, (answer, result) in enumerate(zip(answers, results)):
        assert sent[f"user-{n:05d}"] == {
            "pid": answer["pid"],
            "task_name": "prefork_test.charge",
            "task_id": result.id,
        }
    assert len(events) == 8 and collector.duplicates() == []
