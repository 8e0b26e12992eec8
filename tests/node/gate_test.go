//go:build node

package node

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/jordigilh/kubernaut-execution/execution/steps"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

const policyConfigMap = release + "-policies"

// deploymentState is what a refused run must leave unchanged: replicas and the generation, which
// every change of the spec (scale subresource included) increments; status updates by the Deployment
// controller do not.
func deploymentState(t testing.TB, ns, name string) string {
	t.Helper()
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(bg, name, metav1.GetOptions{})
	require.NoError(t, err)
	return fmt.Sprintf("replicas=%d generation=%d", ptr.Deref(d.Spec.Replicas, -1), d.Generation)
}

// withPolicy replaces (or, with content "", removes) one key of the chart's policy ConfigMap for
// the rest of the test. New TaskRun pods mount the ConfigMap as it is when they start.
func withPolicy(t testing.TB, key, content string) {
	t.Helper()
	cm, err := cluster.Client.CoreV1().ConfigMaps(releaseNS).Get(bg, policyConfigMap, metav1.GetOptions{})
	require.NoError(t, err)
	original, ok := cm.Data[key]
	require.True(t, ok, "policy ConfigMap has no key %s", key)
	set := func(value *string) error {
		cm, err := cluster.Client.CoreV1().ConfigMaps(releaseNS).Get(bg, policyConfigMap, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if value == nil {
			delete(cm.Data, key)
		} else {
			cm.Data[key] = *value
		}
		_, err = cluster.Client.CoreV1().ConfigMaps(releaseNS).Update(bg, cm, metav1.UpdateOptions{})
		return err
	}
	var err2 error
	if content == "" {
		err2 = set(nil)
	} else {
		err2 = set(&content)
	}
	require.NoError(t, err2)
	t.Cleanup(func() {
		assert.NoError(t, set(&original), "restore policy %s", key)
	})
}

// The gate under Tekton: how each refusal ends, read from the TaskRun's step states, with the target
// unchanged. Every case has an allowed twin in TestEveryActionAsTaskRun (same Task, valid input),
// which is what shows these refusals come from the input and not from a broken run.
func TestGateUnderTekton(t *testing.T) {
	installed(t)
	scale := testenv.Action(t, "scale-deployment")
	staging := target("staging", map[string]string{"app": "web"}, map[string]any{"currentReplicas": 2})
	production := target("production", map[string]string{"app": "web"}, map[string]any{"currentReplicas": 2})
	for _, tc := range []struct {
		name     string
		params   map[string]string
		approve  string // replicas a person approved in an ActionRun the TaskRun names
		policy   func(t *testing.T)
		steps    map[string]int32 // exit codes of the steps that run; the others must not run
		log      string           // in the stopping step's log
		logStep  string
		replicas int32 // after the run
	}{
		{name: "deny", params: map[string]string{"replicas": "0", "target": production},
			steps: map[string]int32{steps.PolicyGate: 1}, logStep: steps.PolicyGate, log: "refusing to scale a production deployment to zero replicas", replicas: 2},
		{name: "needs approval", params: map[string]string{"replicas": "50", "target": staging},
			steps: map[string]int32{steps.PolicyGate: 0, steps.ApprovalGate: 1}, logStep: steps.ApprovalGate, log: "large scale-up from 2 to 50 replicas", replicas: 2},
		{name: "approved", params: map[string]string{"replicas": "50", "target": staging}, approve: "50",
			steps: map[string]int32{steps.PolicyGate: 0, steps.ApprovalGate: 0, steps.DryRun: 0, steps.Execute: 0}, replicas: 50},
		{name: "another request approved", params: map[string]string{"replicas": "50", "target": staging}, approve: "5",
			steps: map[string]int32{steps.PolicyGate: 0, steps.ApprovalGate: 1}, logStep: steps.ApprovalGate, log: "the ActionRun's parameters", replicas: 2},
		{name: "broken policy", params: map[string]string{"replicas": "3", "target": staging},
			policy: func(t *testing.T) {
				withPolicy(t, "scale-deployment.rego", "package kubernaut.actions.scale_deployment\n\ndeny contains msg if {\n")
			},
			steps: map[string]int32{steps.PolicyGate: 2}, logStep: steps.PolicyGate, log: "rego_parse_error", replicas: 2},
		{name: "missing policy", params: map[string]string{"replicas": "3", "target": staging},
			policy: func(t *testing.T) { withPolicy(t, "scale-deployment.rego", "") },
			steps:  map[string]int32{steps.PolicyGate: 2}, logStep: steps.PolicyGate, log: "scale-deployment.rego", replicas: 2},
		{name: "flag as name", params: map[string]string{"replicas": "3", "target": staging, "deployment": "--all"},
			steps: map[string]int32{steps.PolicyGate: 1}, logStep: steps.PolicyGate, log: `must not start with \"-\"`, replicas: 2},
		{name: "shell in replicas", params: map[string]string{"replicas": "3; kubectl delete ns --all", "target": staging},
			steps: map[string]int32{steps.PolicyGate: 1}, logStep: steps.PolicyGate, log: `must be a whole number`, replicas: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := targetNamespace(t, "gate-"+strings.ReplaceAll(tc.name, " ", "-"))
			// Pods that can never be scheduled: the approved run's 50 replicas stay API objects.
			deploy(t, ns, "web", appImage("v1"), 2, func(d *appsv1.Deployment) {
				d.Spec.Template.Spec.NodeSelector = map[string]string{"kubernaut.io/nowhere": "true"}
			})
			before := deploymentState(t, ns, "web")
			if tc.policy != nil {
				tc.policy(t)
			}
			params := map[string]string{"namespace": ns, "deployment": "web"}
			for k, v := range tc.params {
				params[k] = v
			}
			if tc.approve != "" {
				approved := approvedRequest(t, ns, "scale-web", scale.Name, map[string]string{"namespace": ns, "deployment": "web", "replicas": tc.approve})
				params["run"], params["approval"] = approved["run"], approved["approval"]
			}
			r := runTask(t, scale, ns, params)
			wantStatus := "False"
			if tc.name == "approved" {
				wantStatus = "True"
			}
			require.Equal(t, wantStatus, r.Status, "how the TaskRun ended\n%s", r)
			expectSteps(t, r, tc.steps)
			if tc.log != "" {
				assert.Contains(t, r.Logs(bg, tc.logStep), tc.log, "%s log", tc.logStep)
			}
			d, err := cluster.Client.AppsV1().Deployments(ns).Get(bg, "web", metav1.GetOptions{})
			require.NoError(t, err)
			assert.Equal(t, tc.replicas, ptr.Deref(d.Spec.Replicas, -1), "replicas after the run")
			if wantStatus == "False" {
				assert.Equal(t, before, deploymentState(t, ns, "web"), "a refused run changed the deployment")
			}
		})
	}
}

// Pod Security on real pods: the pods Tekton builds for the chart's Tasks, with the init containers
// Tekton injects, run in the restricted release namespace (every run of the tests above); with
// Tekton's set-security-context off, the same TaskRun's pod is refused by restricted admission, which
// is why the chart's README tells users to turn it on.
func TestPodSecurityNeedsSetSecurityContext(t *testing.T) {
	installed(t)
	a := testenv.Action(t, "patch-configmap")
	ns := targetNamespace(t, "psa-tekton")
	seedWebConfig(t, ns)
	params := map[string]string{"namespace": ns, "configmap": "web-config", "patch": `{"data":{"LOG_LEVEL":"debug"}}`, "target": target("staging", nil, nil)}
	setFlag := func(value string) {
		patch := fmt.Sprintf(`{"data":{"set-security-context":%q}}`, value)
		_, err := cluster.Client.CoreV1().ConfigMaps(tektonNS).Patch(bg, "feature-flags", types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		require.NoError(t, err)
	}
	setFlag("false")
	t.Cleanup(func() { setFlag("true") })
	// The controller reads feature-flags through an informer: poll (bounded) until a run shows the
	// flag off, i.e. its pod is refused by Pod Security admission.
	var refused *Result
	deadline := time.Now().Add(90 * time.Second)
	for refused == nil && time.Now().Before(deadline) {
		r := runTask(t, a, ns, params)
		if r.Status == "False" && strings.Contains(r.Message, "violates PodSecurity") {
			refused = r
		}
	}
	require.NotNil(t, refused, "with set-security-context off, TaskRun pods were still admitted in a restricted namespace")
	t.Logf("set-security-context off: %s: %s", refused.Reason, firstLine(refused.Message))
	setFlag("true")
	var ok *Result
	deadline = time.Now().Add(90 * time.Second)
	for ok == nil && time.Now().Before(deadline) {
		if r := runTask(t, a, ns, params); r.Status == "True" {
			ok = r
		}
	}
	require.NotNil(t, ok, "with set-security-context on again, the TaskRun did not succeed")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	if len(line) > 200 {
		line = line[:200] + "..."
	}
	return line
}
