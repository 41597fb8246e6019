#!/bin/sh
# Least-privilege RabbitMQ permissions for one gwsync broker user (docs/production.md, "Broker
# permissions"). Run it once per user, after `rabbitmqctl add_user`; it only sets permissions.
#
#   permissions.sh VHOST publisher    USER [REGION]   # REGION: only when the region is in a relay mesh
#   permissions.sh VHOST gateway      USER NODE_ID    # the gateway's [gwsync] node_id
#   permissions.sh VHOST relay-local  USER REGION     # the relay on its own region's broker
#   permissions.sh VHOST relay-remote USER            # the user another region's relay logs in with
#
# Resource permissions (configure, write, read) are regular expressions on exchange and queue names;
# topic permissions are regular expressions on the routing keys of amq.topic (publishing checks the
# write one, binding the read one). Set RABBITMQCTL to run rabbitmqctl another way (a remote node,
# `docker exec`). The hub exchange is amq.topic, as WSO2 uses it.
set -eu

RABBITMQCTL=${RABBITMQCTL:-rabbitmqctl}
if [ $# -lt 3 ]; then
  sed -n '2,13p' "$0" >&2
  exit 2
fi
VHOST=$1 ROLE=$2 USER_NAME=$3 ARG=${4:-}

# Names go into regular expressions: escape the dots ([gwsync] node_id and region allow A-Z a-z 0-9 . _ -).
re() { printf '%s' "$1" | sed 's/\./\\./g'; }

STREAMS='notification|tokenRevocation|keyManager|asyncWebhooksData'

set_perms() { # configure write read
  $RABBITMQCTL set_permissions -p "$VHOST" "$USER_NAME" "$1" "$2" "$3"
}
set_topic() { # write read (routing keys on amq.topic)
  $RABBITMQCTL set_topic_permissions -p "$VHOST" "$USER_NAME" amq.topic "$1" "$2"
}

case $ROLE in
  publisher)
    # Publishes the four streams; reads gateway heartbeats and reports through a server-named queue (amq.gen-*).
    if [ -n "$ARG" ]; then
      # In a mesh it also consumes its region's ingress queue and dead-letters through the default exchange.
      INGRESS="gwsync\\.region-ingress\\.$(re "$ARG")(\\.dead-letter)?"
      set_perms "^(amq\\.gen-.*|$INGRESS)\$" "^(amq\\.topic|amq\\.gen-.*|amq\\.default|$INGRESS)\$" "^(amq\\.topic|amq\\.gen-.*|$INGRESS)\$"
    else
      set_perms '^amq\.gen-.*$' '^(amq\.topic|amq\.gen-.*)$' '^(amq\.topic|amq\.gen-.*)$'
    fi
    set_topic "^($STREAMS)\$" '^gwsync\.(heartbeat|report)$'
    ;;
  gateway)
    [ -n "$ARG" ] || { echo "gateway needs its NODE_ID" >&2; exit 2; }
    NODE=$(re "$ARG")
    # Its own three queues and nothing else; amq.topic only to bind them and to publish under the two
    # routing keys of its own (heartbeat, report, dead-letter copies): it cannot publish any of the four streams.
    QUEUES="gwsync\\.gateway\\.$NODE(\\.runtime|\\.dead-letter)?"
    set_perms "^$QUEUES\$" "^($QUEUES|amq\\.topic)\$" "^($QUEUES|amq\\.topic)\$"
    set_topic "^gwsync\\.(heartbeat|report|dead-letter\\.$NODE)\$" "^($STREAMS|gwsync\\.dead-letter\\.$NODE)\$"
    ;;
  relay-local)
    [ -n "$ARG" ] || { echo "relay-local needs its REGION" >&2; exit 2; }
    QUEUES="gwsync\\.relay\\.$(re "$ARG")\\.to\\..*"
    # Its lanes' queues; dead-letter copies go through the default exchange.
    set_perms "^$QUEUES\$" "^($QUEUES|amq\\.default)\$" "^($QUEUES|amq\\.topic)\$"
    set_topic '^$' "^($STREAMS)\$"
    ;;
  relay-remote)
    # Publishes the runtime streams to the remote hub and region-sync messages to the remote ingress
    # queue (through the default exchange); declares and reads nothing there.
    set_perms '^$' '^(amq\.topic|amq\.default)$' '^$'
    set_topic "^($STREAMS)\$" '^$'
    ;;
  *)
    echo "unknown role $ROLE (publisher | gateway | relay-local | relay-remote)" >&2
    exit 2
    ;;
esac
