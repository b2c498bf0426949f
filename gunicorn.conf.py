"""gunicorn's settings file (read from the working directory): each web worker opens its database
connection before it takes its first request (portal.warmup). The command line (Dockerfile) keeps
the bind address, workers and timeout."""


def post_worker_init(worker):
    from portal.warmup import connect

    connect()
