package check

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/jordigilh/kubernaut-execution/internal/manifest"
)

// Every kind that makes pods gives its pod, with its labels; a Task gives its TaskRun pod, each step
// merged over the stepTemplate by Tekton's own function; other kinds give none.
func TestPodsOfEveryKindThatMakesPods(t *testing.T) {
	const tpl = `
    metadata:
      labels: {app.kubernetes.io/component: action}
    spec:
      containers: [{name: c, image: "x:1"}]`
	docs, err := manifest.Read("render.yaml", strings.NewReader(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:`+tpl+`
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: c}
spec:
  jobTemplate:
    spec:
      template:`+strings.ReplaceAll(tpl, "\n    ", "\n        ")+`
---
apiVersion: v1
kind: PodTemplate
metadata: {name: p}
template:`+strings.ReplaceAll(tpl, "\n    ", "\n  ")+`
---
apiVersion: v1
kind: Pod
metadata: {name: pod, labels: {app.kubernetes.io/component: action}}
spec:
  containers: [{name: c, image: "x:1"}]
---
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: t, labels: {app.kubernetes.io/component: action}}
spec:
  stepTemplate:
    computeResources: {limits: {cpu: "1"}}
    securityContext: {runAsNonRoot: true}
  steps:
    - {name: s, image: "y:1", computeResources: {limits: {memory: 64Mi}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
`))
	require.NoError(t, err)
	pods, err := podsOf(docs)
	require.NoError(t, err)
	var kinds []string
	for _, p := range pods {
		kinds = append(kinds, p.doc.Kind())
		require.Equal(t, "action", p.meta.Labels["app.kubernetes.io/component"], p.doc.Kind())
		require.Len(t, p.spec.Containers, 1, p.doc.Kind())
	}
	require.Equal(t, []string{"Deployment", "CronJob", "PodTemplate", "Pod", "Task"}, kinds)
	step := pods[4].spec.Containers[0]
	require.Equal(t, "s", step.Name)
	require.Equal(t, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("64Mi")}, step.Resources.Limits,
		"the step's resources merged over the template's, as Tekton merges them")
	require.True(t, *step.SecurityContext.RunAsNonRoot, "the template's securityContext")
}
