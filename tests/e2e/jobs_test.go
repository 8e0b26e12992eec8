//go:build e2e

package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/jordigilh/kubernaut-execution/execution/gate"
	"github.com/jordigilh/kubernaut-execution/execution/jobs"
	"github.com/jordigilh/kubernaut-execution/execution/runrbac"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

const validTarget = `{"environment":"staging","labels":{"app":"web"},"currentReplicas":2,"ownerKind":"ReplicaSet"}`

// Jobs mode as a controller runs it, on the real API server and as the controller's ServiceAccount:
// decide in process from the installed policy ConfigMap, build the Job from the installed contract,
// create it in the release namespace, provision its RBAC with the Job as owner, tear down. Every
// action's pod is admitted by Pod Security at restricted, and refused once weakened.
func TestJobsModeOnTheAPIServer(t *testing.T) {
	ctx := context.Background()
	c := contract(t)
	controller := controllerClient(t)
	m := runrbac.New(controller, c)
	g, err := gate.Load(ctx, cluster.Client, c) // the controller would mount or read it; an admin reads it here
	require.NoError(t, err)
	target := namespace(t, "jobs-target", nil)
	restricted := namespace(t, "jobs-psa", map[string]string{"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"})

	for _, a := range testenv.Catalogue(t).Actions {
		t.Run(a.Name, func(t *testing.T) {
			params := map[string]string{}
			for _, p := range a.Parameters {
				params[p.Name] = testenv.ParamsFor(a.Name)[p.Name]
			}
			d, err := g.Decide(ctx, gate.Run{Action: a.Name, Parameters: params, Target: validTarget})
			require.NoError(t, err)
			require.True(t, d.Allowed, "%+v", d)

			name := "job-" + a.Name
			job, err := jobs.Build(c, a, jobs.Input{Name: name, ServiceAccount: runrbac.ServiceAccountName(c, a, target, "Job", name),
				Parameters: params, Target: validTarget, Run: target + "/run-" + a.Name})
			require.NoError(t, err)
			created, err := controller.BatchV1().Jobs(c.Namespace).Create(ctx, job, metav1.CreateOptions{})
			require.NoError(t, err, "the controller creates Jobs in the release namespace")
			p, err := m.Provision(ctx, a, runrbac.RunOf(created, jobGVK), target)
			require.NoError(t, err)
			require.Equal(t, job.Spec.Template.Spec.ServiceAccountName, p.ServiceAccountName(), "the Job names the run's ServiceAccount before it exists")

			// The pod the Job controller would create, through admission in a restricted namespace (the
			// ServiceAccount admission plugin needs the ServiceAccount there).
			_, err = cluster.Client.CoreV1().ServiceAccounts(restricted).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: p.ServiceAccountName()}}, metav1.CreateOptions{})
			require.NoError(t, err)
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: restricted, Labels: job.Spec.Template.Labels}, Spec: job.Spec.Template.Spec}
			_, err = cluster.Client.CoreV1().Pods(restricted).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			require.NoError(t, err, "restricted admission")
			weak := pod.DeepCopy()
			weak.Spec.InitContainers[0].SecurityContext.Capabilities = nil
			_, err = cluster.Client.CoreV1().Pods(restricted).Create(ctx, weak, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			require.ErrorContains(t, err, `violates PodSecurity "restricted:latest"`)

			require.NoError(t, m.Teardown(ctx, p))
			// The Job never ran (no kubelet here): the controller may not erase it, an administrator may.
			refusedByPolicy(t, controller.BatchV1().Jobs(c.Namespace).Delete(ctx, name, metav1.DeleteOptions{}), "the controller deletes only finished runs")
			require.NoError(t, cluster.Client.BatchV1().Jobs(c.Namespace).Delete(ctx, name, metav1.DeleteOptions{}))
		})
	}
	// The garbage collector removes nothing the teardown did not: nothing of these runs is left.
	require.NoError(t, waitFor(ctx, 10*time.Second, func() error {
		res, err := m.Sweep(ctx, runrbac.SweepOptions{Exists: runrbac.JobExists(m)})
		if err == nil && len(res.Removed) > 0 {
			t.Logf("swept %v", res.Removed)
		}
		return err
	}))
}
