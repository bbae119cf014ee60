# One image for the three services; docker-compose.yml picks the service with
# `command: nameko run --config deploy/config.yaml services.<name>.service:<Class>`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONWARNINGS=ignore \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . .
RUN pip install --no-cache-dir . \
    && rm -rf build *.egg-info \
    && useradd --system --uid 10001 --user-group --no-create-home vss

USER vss
CMD ["python", "-c", "print('Run a service: nameko run --config deploy/config.yaml services.<name>.service:<Class>')"]
