// Command coredns is CoreDNS, pinned in go.mod, with only the plugins the node layer's Corefile uses
// (tests/node/addons_test.go): errors, health, ready, kubernetes and cache.
//
// CoreDNS's own main (coredns.go upstream) imports core/plugin, which links every plugin, and with them
// the cloud providers' SDKs (route53, azure, clouddns) and more; building those from a cold cache took
// the longest of all the node layer's binaries. Choosing plugins at compile time is how CoreDNS
// documents a custom build (coredns.io, "Compile Time Enabling or Disabling Plugins"): the directive
// order stays CoreDNS's own (core/dnsserver/zdirectives.go), and a Corefile naming a plugin that is not
// linked fails at start with "missing a plugin?".
package main

import (
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() {
	coremain.Run()
}
