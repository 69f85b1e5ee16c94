# The development image: docker-compose.yml runs the backend and the worker
# from it, with the project folder mounted over /opt/project.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# The virtualenv lives outside /opt/project, which the mount would hide.
RUN python -m venv /opt/venv
COPY requirements/development.txt /tmp/requirements.txt
RUN pip install --no-cache-dir --require-hashes -r /tmp/requirements.txt

WORKDIR /opt/project
COPY . .
RUN useradd --create-home --uid 1000 app
USER 1000

EXPOSE 8000
ENTRYPOINT ["/opt/project/docker/entrypoint"]
CMD ["./manage", "runserver_plus", "0.0.0.0:8000"]
