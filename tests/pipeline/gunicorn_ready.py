"""Gunicorn hooks for the tests' servers: each worker says when it has booted, so that a test starts once every worker
serves (a probe sent while one is still importing Django waits in the listen queue, and times the boot)."""


def post_worker_init(worker) -> None:
    worker.log.info("worker ready: pid %s", worker.pid)
