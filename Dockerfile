# sjtu-hpc-mcp in a container: a stdio MCP server (docker run -i). See README "Docker" for the full command:
#   docker build -t sjtu-hpc-mcp .
#   docker run -i --rm --user "$(id -u):$(id -g)" -p 127.0.0.1:8766:8766 \
#     -v "$HOME/.openclaw/workspace:$HOME/.openclaw/workspace" -e SJTU_HPC_WORKSPACE="$HOME/.openclaw/workspace" \
#     -v "$HOME/.ssh/known_hosts:/home/hpc/.ssh/known_hosts:ro" sjtu-hpc-mcp
# Running as your own uid keeps the credential files and an uploaded password file yours (the server
# refuses a password file another uid owns). The one-time password page listens on the fixed port 8766,
# published on the host's loopback; its URL names the host port (SJTU_HPC_PAGE_URL).

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
# The dependencies alone first, in their own layer: a change to the source does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > requirements.txt \
 && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt
COPY README.md LICENSE ./
COPY server ./server
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps .

FROM python:3.11-slim
COPY --from=build /opt/venv /opt/venv
# Any uid given with --user can write its home (the image has no passwd entry for it).
RUN mkdir -p /home/hpc/.ssh /home/hpc/.openclaw/workspace && chmod -R 1777 /home/hpc
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/home/hpc \
    SJTU_HPC_KNOWN_HOSTS=/home/hpc/.ssh/known_hosts \
    SJTU_HPC_PAGE_HOST=0.0.0.0 \
    SJTU_HPC_PAGE_PORT=8766 \
    SJTU_HPC_PAGE_URL=http://127.0.0.1:8766
EXPOSE 8766
USER 1000:1000
ENTRYPOINT ["sjtu-hpc-mcp"]
