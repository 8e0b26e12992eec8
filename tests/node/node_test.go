package node

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The node is Ready, has the pod CIDR the CNI configuration uses, and CoreDNS answers through the
// Service IP; a name that does not exist gets no answer (the check can fail).
func TestNodeAndDNS(t *testing.T) {
	ctx := context.Background()
	n, err := cluster.Client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ready bool
	for _, c := range n.Status.Conditions {
		ready = ready || (c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue)
	}
	if !ready || n.Spec.PodCIDR != podCIDR {
		t.Fatalf("node Ready=%v podCIDR=%s", ready, n.Spec.PodCIDR)
	}
	if addrs, err := lookupDNS(ctx, "kube-dns.kube-system.svc.cluster.local"); err != nil || len(addrs) != 1 || addrs[0] != dnsServiceIP {
		t.Fatalf("kube-dns resolves to %v (%v), want %s", addrs, err, dnsServiceIP)
	}
	if addrs, err := lookupDNS(ctx, "no-such-service.default.svc.cluster.local"); err == nil {
		t.Fatalf("a Service that does not exist resolves to %v", addrs)
	}
}
