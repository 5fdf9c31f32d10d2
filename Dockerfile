# mlv: one process serving the UI, the REST API and the background jobs on port 8080.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mlv ./mlv
COPY pages ./pages
COPY components ./components
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 mlv && mkdir -p /data && chown mlv:mlv /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/* && rm -rf /wheels
WORKDIR /app
COPY main.py ./
USER mlv
ENV DATA_DIR=/data NICEGUI_STORAGE_PATH=/data/nicegui PYTHONUNBUFFERED=1
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/api/health', timeout=4).status == 200 else 1)"
CMD ["mlv", "serve", "--host", "0.0.0.0", "--port", "8080"]
