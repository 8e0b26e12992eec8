//go:build node

package node

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/execution/gate"
	"github.com/jordigilh/kubernaut-execution/execution/jobs"
	"github.com/jordigilh/kubernaut-execution/execution/runrbac"
	"github.com/jordigilh/kubernaut-execution/execution/steps"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// runJob is Jobs mode as a controller runs it, with the controller's token: read the installed
// contract, build the action's Job (execution/jobs), create it in the release namespace (the
// workloads admission policy on the path), provision its RBAC with the Job as owner, wait for its pod
// to finish on the node, read the outcome from the pod's container states, and tear down.
func runJob(t testing.TB, action, targetNS, name string, params map[string]string, target, run, approval string) (jobs.Outcome, string) {
	t.Helper()
	ctx := context.Background()
	controller, _, err := controllerClientsFor(ctx, defaultRelease)
	require.NoError(t, err)
	c, err := execution.Discover(ctx, cluster.Client, releaseNS) // the controller would mount it
	require.NoError(t, err)
	a := testenv.Action(t, action)
	m := runrbac.New(controller, c)
	job, err := jobs.Build(c, a, jobs.Input{Name: name, ServiceAccount: runrbac.ServiceAccountName(c, a, targetNS, "Job", name), Parameters: params, Target: target, Run: run, Approval: approval})
	require.NoError(t, err)
	created, err := controller.BatchV1().Jobs(c.Namespace).Create(ctx, job, metav1.CreateOptions{})
	require.NoError(t, err, "create Job with the controller's token")
	t.Cleanup(func() {
		_ = cluster.Client.BatchV1().Jobs(c.Namespace).Delete(context.Background(), name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
	})
	p, err := m.Provision(ctx, a, runrbac.RunOf(created, batchv1.SchemeGroupVersion.WithKind("Job")), targetNS)
	require.NoError(t, err, "provision")
	var outcome jobs.Outcome
	var podName string
	err = waitFor(ctx, 3*time.Minute, func() error {
		pods, err := cluster.Client.CoreV1().Pods(c.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + name})
		if err != nil {
			return err
		}
		for _, pod := range pods.Items {
			if o, ok := jobs.OutcomeOf(c, &pod); ok {
				outcome, podName = o, pod.Name
				return nil
			}
		}
		return fmt.Errorf("job %s has no finished pod yet (%d pods)", name, len(pods.Items))
	})
	if err != nil {
		// The pods' summary only when it failed: it is a request of its own.
		require.FailNow(t, err.Error(), cluster.podsSummary(ctx, c.Namespace))
	}
	require.NoError(t, m.Teardown(ctx, p), "teardown")
	return outcome, podName
}

// Jobs mode on the node: the Job the controller builds runs every action for real behind the same
// gate as its Task, with the same effect the TaskRun layer asserts, and a refused run stops at
// policy-gate, before its dry-run, with nothing changed. The in-process gate (execution/gate) said the
// same beforehand.
func TestJobsRunOnTheNode(t *testing.T) {
	installed(t)
	ctx := context.Background()
	policies, err := cluster.Client.CoreV1().ConfigMaps(releaseNS).Get(ctx, release+"-policies", metav1.GetOptions{})
	require.NoError(t, err)
	g := gate.New(policies.Data)

	// Every action, with the scenario (seed and effect) its TaskRun run uses.
	for _, a := range testenv.Catalogue(t).Actions {
		t.Run(a.Name, func(t *testing.T) {
			s := scenarioTable.For(t, a.Name)
			ns := targetNamespace(t, "job-"+a.Name)
			params := s.params(t, ns)
			// The target and where the approval is are the run's context, not the action's parameters.
			tgt, run, approval := params["target"], params["run"], params["approval"]
			for _, k := range []string{"target", "run", "approval"} {
				delete(params, k)
			}
			d, err := g.Decide(ctx, gate.Run{Action: a.Name, Parameters: params, Target: tgt, Approved: approval != ""})
			require.NoError(t, err, "Decide")
			require.True(t, d.Allowed, "Decide: %+v", d)
			o, pod := runJob(t, a.Name, ns, "job-"+a.Name, params, tgt, run, approval)
			require.True(t, o.Succeeded(), "Job did not succeed: %+v", o)
			require.NoError(t, s.effect(t, ns, &Result{Pod: pod, ns: releaseNS, params: params}), "effect")
		})
	}

	// What a stolen controller token would send instead of the Job it is given: refused by the API server
	// on this cluster, before any pod exists.
	t.Run("a Job whose execute args differ from what its gate saw, or whose gate is a sidecar", func(t *testing.T) {
		controller, _, err := controllerClientsFor(ctx, defaultRelease)
		require.NoError(t, err)
		c, err := execution.Discover(ctx, cluster.Client, releaseNS)
		require.NoError(t, err)
		a := testenv.Action(t, "scale-deployment")
		params := map[string]string{"namespace": "shop", "deployment": "web", "replicas": "2"}
		for name, mutate := range map[string]func(*batchv1.Job){
			"execute args": func(j *batchv1.Job) {
				j.Spec.Template.Spec.Containers[0].Args = []string{"patch", "deployment/argocd-server", "--namespace=argocd", "--type=merge",
					`--patch={"spec":{"template":{"spec":{"serviceAccountName":"argocd-application-controller"}}}}`}
			},
			"sidecar gate": func(j *batchv1.Job) {
				j.Spec.Template.Spec.InitContainers[0].RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
			},
		} {
			job, err := jobs.Build(c, a, jobs.Input{Name: "job-forged", ServiceAccount: runrbac.ServiceAccountName(c, a, "shop", "Job", "job-forged"),
				Parameters: params, Target: target("staging", nil, map[string]any{"currentReplicas": 1})})
			require.NoError(t, err)
			_, err = controller.BatchV1().Jobs(releaseNS).Create(ctx, job, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			require.NoError(t, err, "the control, the Job as built")
			mutate(job)
			_, err = controller.BatchV1().Jobs(releaseNS).Create(ctx, job, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			require.ErrorContains(t, err, "ValidatingAdmissionPolicy", "%s: want a refusal by the workloads admission policy", name)
			t.Logf("%s: %s", name, firstLine(err.Error()))
		}
	})

	t.Run("a refused run stops before its dry-run", func(t *testing.T) {
		ns := targetNamespace(t, "job-refused")
		deploy(t, ns, "web", appImage("v1"), 2)
		params := map[string]string{"namespace": ns, "deployment": "web", "replicas": "0"}
		tgt := target("production", map[string]string{"app": "web"}, map[string]any{"currentReplicas": 2})
		d, err := g.Decide(ctx, gate.Run{Action: "scale-deployment", Parameters: params, Target: tgt})
		require.NoError(t, err, "Decide")
		require.False(t, d.Allowed, "Decide allowed a production scale to zero: %+v", d)
		o, _ := runJob(t, "scale-deployment", ns, "job-refused", params, tgt, "", "")
		require.Equal(t, steps.PolicyGate, o.Step, "the step that ended the run: %+v", o)
		require.EqualValues(t, steps.ExitRefused, o.ExitCode, "policy-gate's exit code: %+v", o)
		pods, err := cluster.Client.CoreV1().Pods(releaseNS).List(ctx, metav1.ListOptions{LabelSelector: "job-name=job-refused"})
		require.NoError(t, err, "pods of the refused Job")
		require.Len(t, pods.Items, 1, "pods of the refused Job")
		for _, st := range pods.Items[0].Status.InitContainerStatuses {
			if st.Name == steps.DryRun {
				assert.Nil(t, st.State.Running, "dry-run started after a refusal")
				assert.Nil(t, st.State.Terminated, "dry-run ran after a refusal")
			}
		}
		assert.Contains(t, o.Message, "refusing to scale a production deployment to zero replicas", "the policy gate's message does not give the reason")
		dep, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if assert.NoError(t, err) {
			assert.Equal(t, int32(2), ptr.Deref(dep.Spec.Replicas, 0), "replicas changed by a refused run")
		}
	})

	// What a stolen controller token can make: a Job that needs approval (a scale-up from 2 to 50) and
	// names no approval, or the approval of another request (a person approved 3 replicas). The
	// admission policies admit both (the values are the run's), so the approval-gate step, reading the
	// ActionRun and ActionApproval with the run's own token, is what stops them.
	t.Run("a Job that names no approval, or another request's, stops at the approval gate", func(t *testing.T) {
		ns := targetNamespace(t, "job-unapproved")
		deploy(t, ns, "web", appImage("v1"), 2, func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.NodeSelector = map[string]string{"kubernaut.io/nowhere": "true"}
		})
		tgt := target("staging", map[string]string{"app": "web"}, map[string]any{"currentReplicas": 2})
		other := approvedRequest(t, ns, "scale-to-3", "scale-deployment", map[string]string{"namespace": ns, "deployment": "web", "replicas": "3"})
		params := map[string]string{"namespace": ns, "deployment": "web", "replicas": "50"}
		for name, c := range map[string]struct{ run, approval, log string }{
			"job-no-approval":      {ns + "/scale-to-3", "", "KUBERNAUT_APPROVAL does not name an ActionApproval"},
			"job-other-approval":   {other["run"], other["approval"], `\"replicas\": \"3\"} are not this pod's`},
			"job-approval-in-kube": {"kube-system/scale-to-3", other["approval"], "cannot read ActionRun kube-system/scale-to-3"},
		} {
			o, _ := runJob(t, "scale-deployment", ns, name, params, tgt, c.run, c.approval)
			assert.Equal(t, steps.ApprovalGate, o.Step, "%s: the step that ended the run: %+v", name, o)
			assert.EqualValues(t, steps.ExitNeedsApproval, o.ExitCode, "%s: approval-gate's exit code: %+v", name, o)
			assert.Contains(t, o.Message, c.log, "%s: the approval gate's message", name)
		}
		dep, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if assert.NoError(t, err) {
			assert.Equal(t, int32(2), ptr.Deref(dep.Spec.Replicas, 0), "replicas changed by an unapproved run")
		}
	})
}
