# WireGuard (issue 6): tools the agent drives and the netns integration test needs.
#   wireguard-tools  `wg` (set/show/dump)
#   wireguard-go     userspace fallback: this CI kernel has no WireGuard module
#   iproute2         `ip` (links, addresses, routes, netns)
#   iputils-ping     ping across the tunnel in test/integration/wireguard-netns.test.ts
APT_PACKAGES += wireguard-tools wireguard-go iproute2 iputils-ping
