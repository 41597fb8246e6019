#!/bin/sh
# docker-compose's one-shot job per region: creates gwsync's broker users, one per role, with the
# permissions of permissions.sh (docs/production.md, "Broker permissions"). Idempotent: an existing
# user gets its password reset. Environment (docker-compose.yml):
#   BROKER_NODE      the broker's Erlang node, e.g. rabbit@rabbitmq-a (reached with the shared cookie)
#   REGION           this region's name ([gwsync] region)
#   GATEWAYS         node ids of this region's gateways, one broker user each
#   REMOTE_RELAYS    user names the other regions' relays log in with here
#   PUBLISHER_PASSWORD, RELAY_PASSWORD, GATEWAY_PASSWORD
set -eu
HERE=$(dirname "$0")
CTL="rabbitmqctl -q -n $BROKER_NODE"
export RABBITMQCTL="$CTL"

$CTL await_startup
user() {
  $CTL add_user "$1" "$2" >/dev/null 2>&1 || $CTL change_password "$1" "$2"
}
user publisher "$PUBLISHER_PASSWORD"
sh "$HERE/permissions.sh" / publisher publisher "$REGION"
user relay "$RELAY_PASSWORD"
sh "$HERE/permissions.sh" / relay-local relay "$REGION"
for r in $REMOTE_RELAYS; do
  user "$r" "$RELAY_PASSWORD"
  sh "$HERE/permissions.sh" / relay-remote "$r"
done
for g in $GATEWAYS; do
  user "$g" "$GATEWAY_PASSWORD"
  sh "$HERE/permissions.sh" / gateway "$g" "$g"
done
echo "gwsync broker users of $REGION ready on $BROKER_NODE"
