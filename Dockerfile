# verzuim-adapter production image: non-root, no build tools, healthcheck.
# Build: docker build -t verzuim-adapter .
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml setup.cfg README.md ./
COPY adapter ./adapter
COPY plugins ./plugins
# One resolution for the core and the bundled vendor plugins, so each plugin's own
# dependencies (ijson for magister) are built too and the core is taken from here.
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[postgres]" ./plugins/eduarte ./plugins/magister

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 VERZUIM_CONFIG=/etc/verzuim-adapter/config.toml
RUN useradd --system --uid 10001 --home-dir /var/lib/verzuim-adapter --create-home verzuim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels /wheels/*.whl && rm -rf /wheels
COPY config/example.toml /etc/verzuim-adapter/config.toml
USER verzuim
WORKDIR /var/lib/verzuim-adapter
VOLUME ["/var/lib/verzuim-adapter"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8081/readyz', timeout=4).status != 200)"]
ENTRYPOINT ["verzuim-adapter"]
CMD ["run"]
