# One image for web, worker, beat and the emulator; docker-compose.yml picks the command.
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 VAR_DIR=/app/var
WORKDIR /app

COPY pyproject.toml README.md ./
COPY portal ./portal
COPY core ./core
COPY customers ./customers
COPY devices ./devices
COPY batches ./batches
COPY reports ./reports
COPY ops ./ops
COPY zerotouch ./zerotouch
COPY emulator ./emulator
COPY templates ./templates
COPY static ./static
COPY manage.py gunicorn.conf.py ./

RUN pip install . \
 && DEBUG=0 SECRET_KEY=collectstatic-only-build-key python manage.py collectstatic --no-input \
 && useradd --create-home portal && mkdir -p /app/var && chown portal /app/var

USER portal
EXPOSE 8000
CMD ["gunicorn", "portal.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "60"]
