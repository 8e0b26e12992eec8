// Command pause is the node layer's pod sandbox image: it holds a pod's namespaces open and exits on
// SIGTERM or SIGINT, as the Kubernetes pause container does (kubernetes/kubernetes build/pause/linux/pause.c:
// sigaction on SIGINT/SIGTERM, then pause() forever; it also reaps children when it is PID 1). It is
// built static (CGO_ENABLED=0) because the image holds nothing else.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	// As PID 1 of a shared PID namespace the pause process adopts orphans; reap them so none stays a zombie.
	reap := make(chan os.Signal, 1)
	signal.Notify(reap, syscall.SIGCHLD)
	for {
		select {
		case <-stop:
			os.Exit(0)
		case <-reap:
			for {
				var status syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
		}
	}
}
