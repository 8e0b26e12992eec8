//go:build node

package node

// seedNetworkPolicies are the seed design document's two NetworkPolicies (section "Network
// Policies"), copied as written, comments included, so that the node shows what they do.
const seedNetworkPolicies = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: kubernetesexecution-controller
  namespace: kubernaut-system
spec:
  podSelector:
    matchLabels:
      app: kubernetesexecution-controller
  policyTypes:
  - Ingress
  - Egress
  ingress:
  # Health/readiness probes from kubelet
  - from:
    - namespaceSelector:
        matchLabels:
          name: kube-system
    ports:
    - protocol: TCP
      port: 8080  # Health/Ready
  # Metrics scraping from Prometheus
  - from:
    - namespaceSelector:
        matchLabels:
          name: monitoring
      podSelector:
        matchLabels:
          app: prometheus
    ports:
    - protocol: TCP
      port: 9090  # Metrics
  egress:
  # Kubernetes API server (for Job/RBAC operations)
  - to:
    - namespaceSelector:
        matchLabels:
          name: kube-system
    ports:
    - protocol: TCP
      port: 443
  # Data Storage Service (audit trail)
  - to:
    - podSelector:
        matchLabels:
          app: data-storage-service
    ports:
    - protocol: TCP
      port: 8080
  # DNS resolution
  - to:
    - namespaceSelector:
        matchLabels:
          name: kube-system
      podSelector:
        matchLabels:
          k8s-app: kube-dns
    ports:
    - protocol: UDP
      port: 53
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: kubernetesexecution-job-pods
  namespace: kubernaut-system
spec:
  podSelector:
    matchLabels:
      app: kubernetesexecution-job
  policyTypes:
  - Egress
  egress:
  # Kubernetes API server ONLY (no other network access)
  - to:
    - namespaceSelector:
        matchLabels:
          name: kube-system
    ports:
    - protocol: TCP
      port: 443
  # DNS resolution (for API server discovery)
  - to:
    - namespaceSelector:
        matchLabels:
          name: kube-system
      podSelector:
        matchLabels:
          k8s-app: kube-dns
    ports:
    - protocol: UDP
      port: 53
`
