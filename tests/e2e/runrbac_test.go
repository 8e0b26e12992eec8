//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/execution/runrbac"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// contract is the execution contract of the shared release, read from the ConfigMap the chart
// installed, as a controller reads it.
func contract(t testing.TB) *execution.Contract {
	t.Helper()
	installed(t)
	c, err := execution.Discover(context.Background(), cluster.Client, releaseNS)
	require.NoError(t, err)
	return c
}

// runManager is a runrbac.Manager acting as the controller's own ServiceAccount.
func runManager(t testing.TB) *runrbac.Manager {
	t.Helper()
	c := contract(t) // installs the release first: the controller's ServiceAccount comes with it
	return runrbac.New(controllerClient(t), c)
}

var jobGVK = batchv1.SchemeGroupVersion.WithKind("Job")

// ownerJob creates a Job in the release namespace to own a run's ServiceAccount: with an owner that
// does not exist the garbage collector would delete the ServiceAccount at once. No Job controller runs
// here, so it never starts a pod.
func ownerJob(t testing.TB, client kubernetes.Interface, name string) runrbac.Run {
	t.Helper()
	job, err := client.BatchV1().Jobs(releaseNS).Create(context.Background(), minimalJob(name), metav1.CreateOptions{})
	require.NoError(t, err)
	return runrbac.RunOf(job, jobGVK)
}

func minimalJob(name string) *batchv1.Job {
	return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: releaseNS},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "x", Image: "example.invalid/x:1"}}}}}}
}

func TestProvisionAndTeardownEveryAction(t *testing.T) {
	m := runManager(t)
	target := namespace(t, "runrbac-target", nil)
	for _, a := range testenv.Catalogue(t).Actions {
		t.Run(a.Name, func(t *testing.T) {
			ctx := context.Background()
			run := ownerJob(t, cluster.Client, "run-"+a.Name)
			p, err := m.Provision(ctx, a, run, target)
			require.NoError(t, err, "the admission policy and RBAC let the controller make it")
			sa := p.ServiceAccountName()
			require.True(t, strings.HasPrefix(sa, release+"-run-"))
			require.Equal(t, []metav1.OwnerReference{run.OwnerReference()}, p.ServiceAccount.OwnerReferences)
			bindingNS := target
			if a.Scope == "Cluster" {
				require.Nil(t, p.RoleBinding)
				require.NotNil(t, p.ClusterRoleBinding)
				require.Empty(t, p.ClusterRoleBinding.OwnerReferences, "a cluster-scoped object with a namespaced owner is never collected")
				bindingNS = ""
			} else {
				require.Nil(t, p.ClusterRoleBinding)
				require.Equal(t, target, p.RoleBinding.Namespace)
				require.Empty(t, p.RoleBinding.OwnerReferences, "no owner across namespaces")
				require.Equal(t, release+"-action-"+a.Name, p.RoleBinding.RoleRef.Name)
			}
			// The run's ServiceAccount holds exactly its action's permissions, as the authorizer sees it.
			awaitAuthorized(t, releaseNS, sa, a.PolicyRules(), bindingNS)

			again, err := m.Provision(ctx, a, run, target)
			require.NoError(t, err, "idempotent")
			require.Equal(t, p.ServiceAccount.UID, again.ServiceAccount.UID)

			require.NoError(t, m.Teardown(ctx, p))
			require.NoError(t, m.Teardown(ctx, p), "teardown repeats")
			_, err = cluster.Client.CoreV1().ServiceAccounts(releaseNS).Get(ctx, sa, metav1.GetOptions{})
			require.True(t, apierrors.IsNotFound(err), "ServiceAccount removed: %v", err)
			if bindingNS == "" {
				_, err = cluster.Client.RbacV1().ClusterRoleBindings().Get(ctx, sa, metav1.GetOptions{})
			} else {
				_, err = cluster.Client.RbacV1().RoleBindings(target).Get(ctx, sa, metav1.GetOptions{})
			}
			require.True(t, apierrors.IsNotFound(err), "binding removed: %v", err)
		})
	}
}

func TestProvisionConvergesAndRefusesConflicts(t *testing.T) {
	m := runManager(t)
	c := contract(t)
	ctx := context.Background()
	target := namespace(t, "runrbac-conflict", nil)
	scale, _ := testenv.Catalogue(t).Action("scale-deployment")
	restart, _ := testenv.Catalogue(t).Action("restart-pod")

	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, run runrbac.Run, name string) // as an admin, before Provision
		want    string                                           // error; "" converges
	}{
		{name: "nothing there"},
		{name: "binding left by a crash", prepare: func(t *testing.T, run runrbac.Run, name string) {
			_, err := m.Provision(ctx, scale, run, target)
			require.NoError(t, err)
			require.NoError(t, cluster.Client.CoreV1().ServiceAccounts(releaseNS).Delete(ctx, name, metav1.DeleteOptions{}))
		}},
		{name: "ServiceAccount of another run", want: "ServiceAccount " + releaseNS + "/", prepare: func(t *testing.T, run runrbac.Run, name string) {
			_, err := cluster.Client.CoreV1().ServiceAccounts(releaseNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
				Name: name, Labels: map[string]string{c.Labels.Run: "someone-else", c.Labels.Action: scale.Name}}}, metav1.CreateOptions{})
			require.NoError(t, err)
		}},
		// The names carry the action, so another action's run never takes this one's names; a binding
		// of this name to another role (made by hand) is a conflict.
		{name: "binding to another action", want: "RoleBinding " + target + "/", prepare: func(t *testing.T, run runrbac.Run, name string) {
			_, err := cluster.Client.RbacV1().RoleBindings(target).Create(ctx, &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{c.Labels.Run: runrbac.ID(run, c.RunServiceAccountPrefix), c.Labels.Action: restart.Name}},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: c.ClusterRole(restart.Name)},
				Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: releaseNS}}}, metav1.CreateOptions{})
			require.NoError(t, err)
		}},
		{name: "binding with a changed subject", want: "subjects are", prepare: func(t *testing.T, run runrbac.Run, name string) {
			p, err := m.Provision(ctx, scale, run, target)
			require.NoError(t, err)
			rb := p.RoleBinding.DeepCopy()
			rb.Subjects = append(rb.Subjects, rbacv1.Subject{Kind: "ServiceAccount", Name: "intruder", Namespace: releaseNS})
			_, err = cluster.Client.RbacV1().RoleBindings(target).Update(ctx, rb, metav1.UpdateOptions{})
			require.NoError(t, err)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := ownerJob(t, cluster.Client, "conflict-"+strings.ToLower(strings.ReplaceAll(tc.name, " ", "-")))
			name := m.ServiceAccountName(scale, target, run)
			if tc.prepare != nil {
				tc.prepare(t, run, name)
			}
			p, err := m.Provision(ctx, scale, run, target)
			if tc.want == "" {
				require.NoError(t, err)
				require.NoError(t, m.Teardown(ctx, p))
				return
			}
			var conflict *runrbac.ConflictError
			require.ErrorAs(t, err, &conflict)
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, name, "the error names the object")
			require.NoError(t, m.TeardownRun(ctx, run))
			_ = cluster.Client.CoreV1().ServiceAccounts(releaseNS).Delete(ctx, name, metav1.DeleteOptions{})
		})
	}

	t.Run("run outside the release namespace", func(t *testing.T) {
		run := runrbac.Run{APIVersion: "batch/v1", Kind: "Job", Namespace: target, Name: "elsewhere", UID: "u1"}
		_, err := m.Provision(ctx, scale, run, target)
		require.ErrorContains(t, err, "must be in the release namespace "+releaseNS)
	})
	t.Run("incomplete run", func(t *testing.T) {
		_, err := m.Provision(ctx, scale, runrbac.Run{Kind: "Job", Namespace: releaseNS, Name: "x"}, target)
		require.ErrorContains(t, err, "missing apiVersion, uid")
	})
	t.Run("bad target namespace", func(t *testing.T) {
		_, err := m.Provision(ctx, scale, ownerJob(t, cluster.Client, "bad-target"), "Not_A_Namespace")
		require.ErrorContains(t, err, `target namespace "Not_A_Namespace"`)
	})
	t.Run("cancelled context", func(t *testing.T) {
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		start := time.Now()
		_, err := m.Provision(cancelled, scale, ownerJob(t, cluster.Client, "cancelled"), target)
		require.ErrorIs(t, err, context.Canceled)
		require.Less(t, time.Since(start), time.Second)
	})
}

// A transient error is retried with backoff; cancellation stops the retries.
func TestProvisionRetriesTransientErrors(t *testing.T) {
	c := contract(t)
	ctx := context.Background()
	target := namespace(t, "runrbac-retry", nil)
	scale, _ := testenv.Catalogue(t).Action("scale-deployment")
	flaky := &flakyClient{Interface: controllerClient(t), failures: 2}
	m := runrbac.New(flaky, c)
	var retried int
	m.Retried = func(error) { retried++ }
	p, err := m.Provision(ctx, scale, ownerJob(t, cluster.Client, "flaky"), target)
	require.NoError(t, err)
	require.Equal(t, 2, retried)
	require.NoError(t, m.Teardown(ctx, p))

	flaky.failures = 1000
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = m.Provision(short, scale, ownerJob(t, cluster.Client, "flaky-forever"), target)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, "injected")
}

// flakyClient fails the first RoleBinding creations with 503, as an overloaded API server does.
type flakyClient struct {
	kubernetes.Interface
	mu       sync.Mutex
	failures int
}

func (f *flakyClient) RbacV1() rbacv1Client { return flakyRBAC{f.Interface.RbacV1(), f} }

// Names stay within Kubernetes limits for any run name: the API server accepts them (it validates
// ServiceAccount and binding names and label values), and equal names of different runs do not clash.
func TestRunNamesFitAnyRunName(t *testing.T) {
	m := runManager(t)
	ctx := context.Background()
	target := namespace(t, "runrbac-names", nil)
	scale, _ := testenv.Catalogue(t).Action("scale-deployment")
	for _, name := range []string{
		"a", strings.Repeat("x", 63), strings.Repeat("long.run.name-", 19)[:253], "0-starts-with-digit", "dots.in.the.name", "ends-with-dash-.",
	} {
		run := runrbac.Run{APIVersion: "batch/v1", Kind: "Job", Namespace: releaseNS, Name: name, UID: types.UID(fmt.Sprint(len(name)))}
		id := runrbac.ID(run, m.Contract.RunServiceAccountPrefix)
		require.Empty(t, validation.IsValidLabelValue(id), id)
		sa := m.ServiceAccountName(scale, target, run)
		require.Empty(t, validation.IsDNS1123Subdomain(sa), sa)
		action, ok := runrbac.ActionOf(m.Contract, sa)
		require.True(t, ok, sa)
		require.Equal(t, scale.Name, action, "the name tells admission the run's action")
	}
	// On the API server, with real owners: a Job name of 63 characters (the longest a Job may have).
	for _, name := range []string{strings.Repeat("j", 63), "j"} {
		run := ownerJob(t, cluster.Client, name)
		p, err := m.Provision(ctx, scale, run, target)
		require.NoError(t, err)
		require.Empty(t, validation.IsDNS1123Subdomain(p.ServiceAccountName()))
		require.NoError(t, m.Teardown(ctx, p))
	}
}

func TestFinalizerHoldsTheRunUntilTeardown(t *testing.T) {
	m := runManager(t)
	ctx := context.Background()
	target := namespace(t, "runrbac-finalizer", nil)
	drain, _ := testenv.Catalogue(t).Action("drain-node")
	scale, _ := testenv.Catalogue(t).Action("scale-deployment")
	for _, a := range []string{scale.Name, drain.Name} {
		t.Run(a, func(t *testing.T) {
			action, _ := testenv.Catalogue(t).Action(a)
			job := minimalJob("finalized-" + a)
			require.True(t, m.AddFinalizer(job))
			require.False(t, m.AddFinalizer(job), "added once")
			job, err := cluster.Client.BatchV1().Jobs(releaseNS).Create(ctx, job, metav1.CreateOptions{})
			require.NoError(t, err)
			run := runrbac.RunOf(job, jobGVK)
			p, err := m.Provision(ctx, action, run, target)
			require.NoError(t, err)

			changed, err := m.Finalize(ctx, job, run)
			require.NoError(t, err)
			require.False(t, changed, "not being deleted: nothing to do")

			require.NoError(t, cluster.Client.BatchV1().Jobs(releaseNS).Delete(ctx, job.Name,
				metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}))
			// As a reconcile does: read the object, finalize, write; again on a conflict (the garbage
			// collector also updates an object being deleted). The controller writes with its own client;
			// here an admin, since the chart's controller role has no update on jobs (see the report).
			require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
				job, err := cluster.Client.BatchV1().Jobs(releaseNS).Get(ctx, job.Name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				if job.DeletionTimestamp == nil {
					return errors.New("the finalizer should hold the Job")
				}
				changed, err := m.Finalize(ctx, job, run)
				if err != nil || !changed {
					return fmt.Errorf("finalize: changed %v, %v", changed, err)
				}
				_, err = cluster.Client.BatchV1().Jobs(releaseNS).Update(ctx, job, metav1.UpdateOptions{})
				return err
			}))
			require.NoError(t, waitFor(ctx, 10*time.Second, func() error {
				_, err := cluster.Client.BatchV1().Jobs(releaseNS).Get(ctx, job.Name, metav1.GetOptions{})
				return gone("Job", err)
			}))
			name := p.ServiceAccountName()
			_, err = cluster.Client.CoreV1().ServiceAccounts(releaseNS).Get(ctx, name, metav1.GetOptions{})
			require.True(t, apierrors.IsNotFound(err), "%v", err)
			list, err := cluster.Client.RbacV1().RoleBindings("").List(ctx, metav1.ListOptions{LabelSelector: m.Contract.Labels.Run + "=" + p.ID})
			require.NoError(t, err)
			require.Empty(t, list.Items)
			crbs, err := cluster.Client.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{LabelSelector: m.Contract.Labels.Run + "=" + p.ID})
			require.NoError(t, err)
			require.Empty(t, crbs.Items)
		})
	}
}

func TestSweepRemovesWhatCrashedRunsLeft(t *testing.T) {
	m := runManager(t)
	ctx := context.Background()
	target := namespace(t, "runrbac-sweep", nil)
	scale, _ := testenv.Catalogue(t).Action("scale-deployment")
	cordon, _ := testenv.Catalogue(t).Action("cordon-node")

	// One run per action: a run has one ServiceAccount, bound to one action's role.
	liveP, err := m.Provision(ctx, scale, ownerJob(t, cluster.Client, "sweep-live"), target)
	require.NoError(t, err)
	liveCluster, err := m.Provision(ctx, cordon, ownerJob(t, cluster.Client, "sweep-live-cluster"), target)
	require.NoError(t, err)
	dead, err := m.Provision(ctx, scale, ownerJob(t, cluster.Client, "sweep-dead"), target)
	require.NoError(t, err)
	deadCluster, err := m.Provision(ctx, cordon, ownerJob(t, cluster.Client, "sweep-dead-cluster"), target)
	require.NoError(t, err)
	for _, name := range []string{"sweep-dead", "sweep-dead-cluster"} {
		require.NoError(t, cluster.Client.BatchV1().Jobs(releaseNS).Delete(ctx, name, metav1.DeleteOptions{}))
		// Deleting a Job through the API orphans its pods by default, behind a finalizer the collector
		// removes: the run is dead only once the Job is gone.
		require.NoError(t, waitFor(ctx, 30*time.Second, func() error {
			_, err := cluster.Client.BatchV1().Jobs(releaseNS).Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("job %s still there (%v)", name, err)
		}))
	}
	// A binding of the same shape but another release's prefix is never touched.
	foreign := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "other-release-run-x", Namespace: target, Labels: map[string]string{m.Contract.Labels.Run: "x"}},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "other-release-run-x", Namespace: releaseNS}}}
	_, err = cluster.Client.RbacV1().RoleBindings(target).Create(ctx, foreign, metav1.CreateOptions{})
	require.NoError(t, err)

	res, err := m.Sweep(ctx, runrbac.SweepOptions{Exists: runrbac.JobExists(m), MaxAge: time.Hour})
	require.NoError(t, err)
	deadName := dead.ServiceAccountName()
	require.Contains(t, res.Removed, "RoleBinding/"+target+"/"+deadName)
	require.Contains(t, res.Removed, "ClusterRoleBinding//"+deadCluster.ServiceAccountName())
	for _, r := range res.Removed {
		require.NotContains(t, r, liveP.ServiceAccountName(), "a live run's objects stay")
		require.NotContains(t, r, "other-release", "another release's objects stay")
	}
	_, err = cluster.Client.RbacV1().RoleBindings(target).Get(ctx, liveP.ServiceAccountName(), metav1.GetOptions{})
	require.NoError(t, err)

	// Past the age bound everything of this release goes, live or not.
	res, err = m.Sweep(ctx, runrbac.SweepOptions{MaxAge: time.Hour, Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	require.NoError(t, err)
	require.Contains(t, res.Removed, "RoleBinding/"+target+"/"+liveP.ServiceAccountName())
	require.Contains(t, res.Removed, "ClusterRoleBinding//"+liveCluster.ServiceAccountName())
	_, err = cluster.Client.RbacV1().RoleBindings(target).Get(ctx, foreign.Name, metav1.GetOptions{})
	require.NoError(t, err)

	// A failing existence check keeps the objects and reports the run.
	again := ownerJob(t, cluster.Client, "sweep-unknown")
	_, err = m.Provision(ctx, scale, again, target)
	require.NoError(t, err)
	_, err = m.Sweep(ctx, runrbac.SweepOptions{Exists: func(context.Context, runrbac.Run) (bool, error) { return false, errors.New("lookup failed") }})
	require.ErrorContains(t, err, "lookup failed")
	require.NoError(t, m.TeardownRun(ctx, again))
}

// A run's ServiceAccount carries exactly the release's imagePullSecrets (none here): a contract forged
// to name another team's registry credentials is refused by the API server, and the real one passes.
// That Provision copies the contract's list is execution/runrbac's unit test.
func TestProvisionCarriesOnlyTheReleasesPullSecrets(t *testing.T) {
	ctx := context.Background()
	target := namespace(t, "runrbac-pull", nil)
	forged := *contract(t)
	forged.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "other-team-registry"}}
	_, err := runrbac.New(controllerClient(t), &forged).Provision(ctx, testenv.Catalogue(t).Actions[0], ownerJob(t, cluster.Client, "run-pull-forged"), target)
	require.Error(t, err)
	require.Contains(t, err.Error(), "a per-run ServiceAccount names no secrets and exactly the release's imagePullSecrets")
	m := runrbac.New(controllerClient(t), contract(t))
	p, err := m.Provision(ctx, testenv.Catalogue(t).Actions[0], ownerJob(t, cluster.Client, "run-pull-secrets"), target)
	require.NoError(t, err)
	require.Empty(t, p.ServiceAccount.ImagePullSecrets)
	require.NoError(t, m.Teardown(ctx, p))
}
