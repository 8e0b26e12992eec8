// Command cmd writes the offline Kubernetes JSON schemas the tests validate against (`make schemas`);
// the tests also do this on demand.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jordigilh/kubernaut-execution/internal/render"
	"github.com/jordigilh/kubernaut-execution/internal/schemas"
)

func main() {
	cache := flag.String("cache", ".cache", "cache directory; schemas go to <cache>/schemas/<version>")
	flag.Parse()
	for _, v := range []string{render.OldestKubernetes, render.NewestKubernetes} {
		dir := filepath.Join(*cache, "schemas", v)
		if err := schemas.Ensure(v, dir); err != nil {
			fmt.Fprintln(os.Stderr, "schemas:", err)
			os.Exit(1)
		}
		fmt.Println("schemas:", dir)
	}
}
