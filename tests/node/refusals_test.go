//go:build node

package node

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/jordigilh/kubernaut-execution/api/v1alpha1"
)

// The refusals of the ActionRun path, through the chart's controller Deployment on the node: a
// malformed request refused by the API server naming the field, a run for another namespace and a
// cluster action asked for outside the release namespace refused, and approvals that do not count (by
// the run's own requester, of another spec) leaving the run waiting with nothing created, until a
// person's approval of the exact spec starts it. (An expired approval is refused by controller.Judge
// and by the approval-gate step, whose tests fix the clock; an approval lives at least 60 s.)
func TestActionRunRefusalsThroughTheController(t *testing.T) {
	installed(t)
	awaitController(t)
	ns := targetNamespace(t, "refusals")
	other := targetNamespace(t, "refusals-other")
	deploy(t, ns, "web", appImage("v1"), 1)
	// The agent may approve too: the controller still refuses its approval of its own run.
	agent := userIn(t, ns, "agent", "requester", "approver")
	oncall := userIn(t, ns, "on-call", "approver")
	for _, c := range []struct {
		name, ns, action string
		params           map[string]any
		want             string
	}{
		{"a malformed parameter", ns, "scale-deployment", map[string]any{"deployment": "web", "replicas": "many"}, "spec.parameters.replicas"},
		{"an unknown parameter", ns, "scale-deployment", map[string]any{"deployment": "web", "replica": int64(3)}, "spec.parameters.replica: not a parameter of scale-deployment"},
		{"a run in another namespace", other, "scale-deployment", map[string]any{"deployment": "web", "replicas": int64(3)}, "forbidden"},
		{"a cluster action outside the release namespace", ns, "cordon-node", map[string]any{"node": nodeName}, "cordon-node acts on the cluster: ask for it from namespace " + releaseNS},
	} {
		_, err := agent.client.Resource(actionRunsGVR).Namespace(c.ns).Create(bg, newActionRun("refused", c.action, c.params, "", agent), metav1.CreateOptions{})
		require.Error(t, err, c.name)
		require.Contains(t, err.Error(), c.want, c.name)
		t.Logf("%s: %s", c.name, firstLine(err.Error()))
	}

	created, err := agent.client.Resource(actionRunsGVR).Namespace(ns).Create(bg, newActionRun("list-pods", "custom-script", map[string]any{"resource": "pods", "selector": "app=web"}, "", agent), metav1.CreateOptions{})
	require.NoError(t, err)
	await := func(check func(*v1alpha1.ActionRun) error) *v1alpha1.ActionRun {
		t.Helper()
		var run *v1alpha1.ActionRun
		require.NoError(t, waitFor(bg, 60*time.Second, func() error {
			var err error
			if run, err = getRun(ns, "list-pods"); err != nil {
				return err
			}
			return check(run)
		}))
		return run
	}
	run := await(func(r *v1alpha1.ActionRun) error {
		if r.Status.Phase != v1alpha1.AwaitingApproval {
			return fmt.Errorf("phase %q", r.Status.Phase)
		}
		return nil
	})
	for _, c := range []struct {
		name, approval string
		by             user
		hash           string
		want           string
	}{
		{"the requester approves its own run", "self", agent, run.Status.SpecHash, "is by the run's own requester"},
		{"an approval of another spec", "stale", oncall, "sha256:" + strings.Repeat("0", 64), "is for spec"},
	} {
		a := approvalObject(c.approval, "list-pods", created.GetUID(), c.hash, c.by)
		_, err := c.by.client.Resource(actionApprovalsGVR).Namespace(ns).Create(bg, a, metav1.CreateOptions{})
		require.NoError(t, err, c.name)
		run = await(func(r *v1alpha1.ActionRun) error {
			msg := ""
			if cond := meta.FindStatusCondition(r.Status.Conditions, v1alpha1.ConditionApproved); cond != nil {
				msg = cond.Message
			}
			if !strings.Contains(msg, "approval "+c.approval+" by "+c.by.name+" "+c.want) {
				return fmt.Errorf("Approved condition: %s", msg)
			}
			return nil
		})
		require.Equal(t, v1alpha1.AwaitingApproval, run.Status.Phase, c.name)
		require.Nil(t, run.Status.Workload, "%s: nothing is created", c.name)
		t.Logf("%s: not counted", c.name)
	}
	require.NoError(t, approveRun(bg, ns, "list-pods", created.GetUID(), run.Status.SpecHash, oncall))
	run = await(func(r *v1alpha1.ActionRun) error {
		if !r.Status.Phase.Final() {
			return fmt.Errorf("phase %q", r.Status.Phase)
		}
		return nil
	})
	require.Equal(t, v1alpha1.Succeeded, run.Status.Phase, "a person's approval of the exact spec starts it")
	require.Equal(t, oncall.name, run.Status.ApprovedBy)
}
