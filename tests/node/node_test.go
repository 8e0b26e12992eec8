//go:build node

package node

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The node is Ready, has the pod CIDR the CNI configuration uses, and CoreDNS answers through the
// Service IP; a name that does not exist gets no answer (the check can fail).
func TestNodeAndDNS(t *testing.T) {
	ctx := context.Background()
	n, err := cluster.Client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	require.NoError(t, err)
	var ready bool
	for _, c := range n.Status.Conditions {
		ready = ready || (c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue)
	}
	require.True(t, ready, "node Ready: %+v", n.Status.Conditions)
	require.Equal(t, podCIDR, n.Spec.PodCIDR, "node podCIDR")
	addrs, err := lookupDNS(ctx, "kube-dns.kube-system.svc.cluster.local")
	require.NoError(t, err, "kube-dns")
	require.Equal(t, []string{dnsServiceIP}, addrs, "kube-dns resolves to")
	addrs, err = lookupDNS(ctx, "no-such-service.default.svc.cluster.local")
	require.Error(t, err, "a Service that does not exist resolves to %v", addrs)
}
