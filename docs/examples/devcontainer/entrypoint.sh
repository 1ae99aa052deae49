#!/bin/sh
# Dev container entrypoint: joins the nebula-gateway mesh, then runs the container's command.
#   GATEWAY_API        the gateway's API URL (required),
#                      e.g. https://abc123.execute-api.eu-west-1.amazonaws.com/api
#   GATEWAY_ENROLL_TOKEN  the environment's one-time enrollment token (gwe_...), which the
#                         bootstrap script reads from the environment (never from a command
#                         line, which every process in the container can read with ps); needed
#                         only until the agent's directory holds an enrolled host (keep it in a
#                         volume)
#   GATEWAY_AGENT_DIR     the agent's directory (default /var/lib/gateway-agent)
# The bootstrap script runs the agent in the foreground (there is no systemd in the container):
# here as a background job, beside the container's command. When the container cannot join (a
# missing prerequisite, a refused token, a bundle whose SHA-256 is not the pinned one), it stops
# with the script's message and exit status instead of running without the mesh.
set -eu

: "${GATEWAY_API:?set GATEWAY_API to the gateway API URL}"
dir=${GATEWAY_AGENT_DIR:-/var/lib/gateway-agent}

# Downloaded whole before it runs (curl -f fails on an error status rather than saving the page).
script=$(mktemp)
curl -fsSL --retry 5 --retry-connrefused -o "$script" "${GATEWAY_API%/}/v1/bootstrap"

# A pid file left by an earlier container names nothing that runs in this one.
rm -f "$dir/agent.pid"
sh "$script" --dir "$dir" &
bootstrap=$!
# The container's command has no use for the token.
unset GATEWAY_ENROLL_TOKEN

# Just before it starts the agent, the script writes its own pid, which the agent keeps (exec).
until [ "$(cat "$dir/agent.pid" 2>/dev/null || true)" = "$bootstrap" ]; do
  if ! kill -0 "$bootstrap" 2>/dev/null; then
    status=0
    wait "$bootstrap" || status=$?
    [ "$status" -ne 0 ] || status=1
    echo "gateway-entrypoint: the bootstrap script stopped (status $status) before the agent started" >&2
    exit "$status"
  fi
  sleep 1
done
rm -f "$script"
echo "gateway-entrypoint: the agent runs (pid $bootstrap); starting $*" >&2
exec "$@"
