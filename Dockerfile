# mlv: one process serving the UI, the REST API and the background jobs on port 8080.
#   docker build -t mlv .
#   docker run -d -p 8080:8080 -v mlv-data:/data -e MAILCOW_URL=... -e MAILCOW_API_KEY=... mlv
# Everything mlv keeps (SQLite database, generated admin password, session secret, NiceGUI storage,
# GeoIP files) lives in the one volume /data. Schema migrations run at start-up, before it serves.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# Dependencies first: this layer is rebuilt only when pyproject.toml changes.
COPY pyproject.toml README.md ./
RUN mkdir -p mlv pages components && touch mlv/__init__.py pages/__init__.py components/__init__.py \
    && pip wheel --wheel-dir /wheels . && rm -f /wheels/mlv-*.whl
COPY mlv ./mlv
COPY pages ./pages
COPY components ./components
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN useradd --create-home --uid 10001 --user-group mlv && mkdir -p /data && chown mlv:mlv /data
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links=/wheels /wheels/*.whl && rm -rf /wheels
WORKDIR /app
COPY main.py ./
ENV DATA_DIR=/data NICEGUI_STORAGE_PATH=/data/nicegui PYTHONUNBUFFERED=1
USER mlv
VOLUME ["/data"]
EXPOSE 8080
# /api/health is public (no credentials) and says "healthy" only when the database answers; the slim
# image has no curl, so Python's urllib asks. The start period covers migrating a large database.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD python -c "import json, sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8080/api/health', timeout=4); sys.exit(0 if json.load(r).get('status') == 'healthy' else 1)"
CMD ["mlv", "serve", "--host", "0.0.0.0", "--port", "8080"]
