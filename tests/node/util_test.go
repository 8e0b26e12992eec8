//go:build node

package node

import (
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

func yamlMarshal(v any) ([]byte, error) { return yaml.Marshal(v) }

func namespaceObject(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

type (
	kubernetesClient = kubernetes.Interface
	dynamicClient    = dynamic.Interface
)

func yamlUnmarshal(data []byte, v any) error { return yaml.Unmarshal(data, v) }
