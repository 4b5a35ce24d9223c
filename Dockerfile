# sjtu-hpc-mcp in a container: stdio MCP server (docker run -i), workspace and known_hosts mounted.
#   docker build -t sjtu-hpc-mcp .
#   docker run -i --rm -v ~/.openclaw/workspace:/home/hpc/.openclaw/workspace \
#     -v ~/.ssh/known_hosts:/home/hpc/.ssh/known_hosts:ro sjtu-hpc-mcp
FROM python:3.11-slim AS build
RUN python -m venv /opt/venv
COPY pyproject.toml README.md /src/
COPY server /src/server
RUN /opt/venv/bin/pip install --no-cache-dir /src

FROM python:3.11-slim
COPY --from=build /opt/venv /opt/venv
RUN useradd --create-home --uid 1000 hpc
USER hpc
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1
ENTRYPOINT ["sjtu-hpc-mcp"]
