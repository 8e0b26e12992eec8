// Command probe is the node layer's reachability probe, built static into its own image. It serves
// TCP ports (an HTTP "ok" on each) and checks destinations, printing one line per check:
//
//	probe [-serve :8080,:9090] [-for 40s] NAME=KIND:HOST:PORT...
//
// KIND is tcp (a TCP connection is established), udpdns or tcpdns (a DNS query for
// kubernetes.default.svc.cluster.local gets an answer over UDP or TCP). Each check prints
// "PROBE NAME allowed" or "PROBE NAME blocked (reason)". With -serve it keeps serving for -for after
// the checks, so that other pods can probe it in turn. With -wait-for it first polls one check until
// it is allowed or blocked.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	serve := flag.String("serve", "", "comma-separated listen addresses")
	hold := flag.Duration("for", 0, "how long to keep serving after the checks")
	timeout := flag.Duration("timeout", 3*time.Second, "timeout of each check")
	waitFor := flag.String("wait-for", "", "allowed or blocked: before the checks, poll -wait-check until it is")
	waitCheck := flag.String("wait-check", "", "the KIND:HOST:PORT polled with -wait-for")
	waitTimeout := flag.Duration("wait-timeout", 90*time.Second, "bound of the -wait-for polling")
	flag.Parse()
	for _, addr := range strings.Split(*serve, ",") {
		if addr == "" {
			continue
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "probe: listen:", err)
			os.Exit(2)
		}
		go func() {
			_ = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }))
		}()
		fmt.Println("SERVING", addr)
	}
	// NetworkPolicy enforcers apply rules after the pod's events reach them: a matrix is only read
	// once a known cell shows the expected state.
	if *waitFor != "" {
		kind, hostPort, _ := strings.Cut(*waitCheck, ":")
		deadline := time.Now().Add(*waitTimeout)
		for {
			err := check(kind, hostPort, *timeout)
			if (err == nil) == (*waitFor == "allowed") {
				fmt.Println("WAITED", *waitFor, *waitCheck)
				break
			}
			if time.Now().After(deadline) {
				fmt.Printf("WAIT TIMEOUT %s never %s\n", *waitCheck, *waitFor)
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	for _, spec := range flag.Args() {
		name, dest, ok := strings.Cut(spec, "=")
		kind, hostPort, ok2 := strings.Cut(dest, ":")
		if !ok || !ok2 {
			fmt.Fprintln(os.Stderr, "probe: bad check", spec)
			os.Exit(2)
		}
		if err := check(kind, hostPort, *timeout); err != nil {
			fmt.Printf("PROBE %s blocked (%v)\n", name, err)
		} else {
			fmt.Printf("PROBE %s allowed\n", name)
		}
	}
	fmt.Println("PROBES DONE")
	if *hold > 0 {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		select {
		case <-ctx.Done():
		case <-time.After(*hold):
		}
	}
}

func check(kind, hostPort string, timeout time.Duration) error {
	switch kind {
	case "tcp":
		c, err := net.DialTimeout("tcp", hostPort, timeout)
		if err != nil {
			return err
		}
		return c.Close()
	case "udpdns", "tcpdns":
		network := map[string]string{"udpdns": "udp", "tcpdns": "tcp"}[kind]
		r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{Timeout: timeout}).DialContext(ctx, network, hostPort)
		}}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		addrs, err := r.LookupHost(ctx, "kubernetes.default.svc.cluster.local")
		if err == nil && len(addrs) == 0 {
			err = fmt.Errorf("no answer")
		}
		return err
	}
	return fmt.Errorf("unknown check kind %q", kind)
}
