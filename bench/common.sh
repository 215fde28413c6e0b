# Shared by the bench shell scripts: the fast local upstream and ringmasq's / dnsmasq's
# benchmark configuration. Source it after setting UPSTREAM_PORT.

# A dnsmasq on CPU 1 answering every name under bench.test itself (TTL 3600, no cache).
start_upstream() {
  taskset -c 1 dnsmasq -k --port="$UPSTREAM_PORT" --listen-address=127.0.0.1 --bind-interfaces \
    --no-resolv --no-hosts --address=/bench.test/192.0.2.1 --local-ttl=3600 --cache-size=0 \
    --pid-file= --user=root --log-facility=/dev/null &
}

# The configuration every measured server gets, listening on port $1.
bench_conf() {
  cat <<CONF
port=$1
listen-address=127.0.0.1
bind-interfaces
no-resolv
no-hosts
server=127.0.0.1#$UPSTREAM_PORT
cache-size=10000
dns-forward-max=1000
pid-file=
user=root
keep-in-foreground
log-facility=/dev/null
CONF
}
