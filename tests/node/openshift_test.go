//go:build node

package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// emulatedSCCUID is the UID the emulated restricted-v2 SCC assigns (OpenShift takes the first UID of
// the namespace's openshift.io/sa.scc.uid-range annotation, such as 1000680000/10000).
const emulatedSCCUID = 1000680000

// emulatedSCC stands in for OpenShift's restricted-v2 SCC admission in the one respect the chart's
// OpenShift values rely on: a pod without runAsUser gets the namespace's UID before validation (and
// Pod Security) sees it. A MutatingAdmissionPolicy does that here, for namespaces labelled
// kubernaut.io/emulated-scc=restricted-v2.
const emulatedSCC = `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata:
  name: emulated-restricted-v2-uid
spec:
  matchConstraints:
    resourceRules:
    - apiGroups: [""]
      apiVersions: ["v1"]
      operations: ["CREATE"]
      resources: ["pods"]
  matchConditions:
  - name: no-uid
    expression: "!has(object.spec.securityContext) || !has(object.spec.securityContext.runAsUser)"
  failurePolicy: Fail
  reinvocationPolicy: Never
  mutations:
  - patchType: ApplyConfiguration
    applyConfiguration:
      expression: >
        Object{spec: Object.spec{securityContext: Object.spec.securityContext{runAsUser: %d}}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata:
  name: emulated-restricted-v2-uid
spec:
  policyName: emulated-restricted-v2-uid
  matchResources:
    namespaceSelector:
      matchLabels:
        kubernaut.io/emulated-scc: restricted-v2
`

// The OpenShift-style values (securityContext.runAsUser null: restricted-v2 assigns the UID) install
// with the Helm SDK and run an action as a TaskRun, its pod given its UID by the emulated SCC.
func TestOpenShiftValuesRunAnAction(t *testing.T) {
	installed(t) // Tekton Tasks' CRDs and the node are shared; the OpenShift release is a second one
	// A release name that contains the chart's name is the full name prefix, as for the default release.
	rel := releaseRef{Name: "kubernaut-execution-os", NS: "kubernaut-openshift"}
	sccLabel := map[string]string{"kubernaut.io/emulated-scc": "restricted-v2"}
	require.NoError(t, cluster.applyYAML(bg, "emulated-scc", fmt.Sprintf(emulatedSCC, emulatedSCCUID)))
	// A second release: the shared one installed the API (crds.install), and runs the ActionRuns
	// that name no release; this one's controller runs only those naming it.
	values := map[string]any{"securityContext": map[string]any{"runAsUser": nil}, "crds": map[string]any{"install": false, "keep": true}}
	require.NoError(t, helmInstall(bg, rel.Name, rel.NS, values, sccLabel))
	require.NoError(t, waitForAdmissionPolicy(bg, rel))
	require.NoError(t, controllerMayCreateTaskRuns(bg, rel))
	// The emulation is in force when a dry-run pod without a UID comes back with one.
	probe := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "scc-probe-"}, Spec: restrictedSpec(appImage("v1"))}
	probe.Spec.SecurityContext.RunAsUser = nil
	require.NoError(t, waitFor(bg, 60*time.Second, func() error {
		got, err := cluster.Client.CoreV1().Pods(rel.NS).Create(bg, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return err
		}
		if ptr.Deref(got.Spec.SecurityContext.RunAsUser, 0) != emulatedSCCUID {
			return fmt.Errorf("runAsUser %v, emulated SCC not in force yet", got.Spec.SecurityContext.RunAsUser)
		}
		return nil
	}))
	ns := targetNamespace(t, "os-target")
	seedWebConfig(t, ns)
	r := runTaskIn(t, rel, testenv.Action(t, "patch-configmap"), ns,
		map[string]string{"namespace": ns, "configmap": "web-config", "patch": `{"data":{"LOG_LEVEL":"debug"}}`, "target": target("staging", nil, nil)})
	require.Equal(t, "True", r.Status, "%s", r)
	pod, err := cluster.Client.CoreV1().Pods(rel.NS).Get(bg, r.Pod, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(emulatedSCCUID), ptr.Deref(pod.Spec.SecurityContext.RunAsUser, 0),
		"TaskRun pod's UID, want the SCC's (the chart set a UID despite the OpenShift values?)")
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		if c.SecurityContext != nil && c.SecurityContext.RunAsUser != nil {
			assert.Failf(t, "runAsUser set", "container %s sets runAsUser %d with the OpenShift values", c.Name, *c.SecurityContext.RunAsUser)
		}
	}
	cm, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(bg, "web-config", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "debug", cm.Data["LOG_LEVEL"], "patch-configmap had no effect: %v", cm.Data)
}
