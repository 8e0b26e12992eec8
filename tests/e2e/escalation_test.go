//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/jordigilh/kubernaut-execution/execution/jobs"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

var (
	dryRun       = metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	taskRuns     = pipelinev1.SchemeGroupVersion.WithResource("taskruns")
	pipelineRuns = pipelinev1.SchemeGroupVersion.WithResource("pipelineruns")
	// The chart's protected namespaces for this release (values default plus the release namespace).
	protectedNamespaces = []string{"kube-node-lease", "kube-public", "kube-system", releaseNS}
)

// controllerDynamic is a dynamic client acting as the controller's ServiceAccount, for Tekton runs.
func controllerDynamic(t *testing.T) dynamic.Interface {
	t.Helper()
	token, err := cluster.Token(context.Background(), releaseNS, controllerSA)
	require.NoError(t, err)
	cfg := rest.AnonymousClientConfig(cluster.Config)
	cfg.BearerToken = token
	d, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	return d
}

// runJob is the Job a controller builds for one run of action with package jobs, from the installed
// release's contract: the legitimate Job the escalation cases change one thing of.
func runJob(t *testing.T, action, run, sa string) *batchv1.Job {
	t.Helper()
	a := testenv.Action(t, action)
	params := map[string]string{}
	for _, p := range a.Parameters {
		params[p.Name] = testenv.ParamsFor(action)[p.Name]
	}
	job, err := jobs.Build(contract(t), a, jobs.Input{Name: runPrefix + run, ServiceAccount: sa, Parameters: params, Target: validTarget, RunLabel: run})
	require.NoError(t, err)
	return job
}

func taskRun(action, run, sa string, spec map[string]any) *unstructured.Unstructured {
	base := map[string]any{"taskRef": map[string]any{"name": "kubernaut-" + action}, "serviceAccountName": sa}
	for k, v := range spec {
		base[k] = v
	}
	labels := map[string]any{}
	for k, v := range runLabels(run, action) {
		labels[k] = v
	}
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "tekton.dev/v1", "kind": "TaskRun",
		"metadata": map[string]any{"name": runPrefix + run, "labels": labels}, "spec": base}}
}

func pipelineRun(action, run string, spec map[string]any) *unstructured.Unstructured {
	labels := map[string]any{}
	for k, v := range runLabels(run, action) {
		labels[k] = v
	}
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "tekton.dev/v1", "kind": "PipelineRun",
		"metadata": map[string]any{"name": runPrefix + run, "labels": labels}, "spec": spec}}
}

// refusedByPolicy requires an admission policy's refusal carrying want.
func refusedByPolicy(t *testing.T, err error, want string) {
	t.Helper()
	require.Error(t, err)
	require.Contains(t, err.Error(), "ValidatingAdmissionPolicy")
	require.Contains(t, err.Error(), want)
}

// The controller's token is no longer cluster-admin in one step: every way in a stolen token would
// try is refused, by RBAC or by the admission policies, and each legitimate counterpart still passes.
func TestStolenControllerTokenCannotEscalate(t *testing.T) {
	installed(t)
	ctx := context.Background()
	target := namespace(t, "esc-target", nil)
	controller := controllerClient(t)
	dyn := controllerDynamic(t)
	tb := &table{t: t}

	// The authorizer: workloads only in the release namespace, never Pods directly.
	for _, ns := range []string{"kube-system", target, releaseNS} {
		for _, r := range []struct{ group, resource string }{{"batch", "jobs"}, {"tekton.dev", "taskruns"}, {"tekton.dev", "pipelineruns"}, {"", "pods"}} {
			want := ns == releaseNS && r.resource != "pods"
			got := allowed(t, releaseNS, controllerSA, "create", r.group, r.resource, ns)
			tb.add("controller", fmt.Sprintf("create %s in %s", r.resource, ns), yesNo(want), yesNo(got))
			require.Equal(t, want, got, "create %s in %s", r.resource, ns)
		}
	}

	const action = "scale-deployment"
	run, err := provision(ctx, controller, testenv.Action(t, action), "esc", target)
	require.NoError(t, err)
	t.Cleanup(func() { _ = run.remove(context.Background(), controller) })
	legitJob := func() *batchv1.Job { return runJob(t, action, "esc", run.ServiceAccount) }
	// jobIn tries to create, in ns, the legitimate Job changed by change.
	jobIn := func(ns string, change func(j *batchv1.Job)) func() error {
		return func() error {
			j := legitJob()
			change(j)
			_, err := controller.BatchV1().Jobs(ns).Create(ctx, j, dryRun)
			return err
		}
	}

	ways := []struct {
		name   string
		try    func() error
		policy string // the admission policy's message; empty: RBAC refuses (Forbidden)
	}{
		{"Job in kube-system as clusterrole-aggregation-controller", jobIn("kube-system", func(j *batchv1.Job) {
			j.Spec.Template.Spec.ServiceAccountName = "clusterrole-aggregation-controller"
		}), ""},
		{"Job as default", jobIn(releaseNS, func(j *batchv1.Job) {
			j.Spec.Template.Spec.ServiceAccountName = "default"
		}), "the workload must run as a per-run ServiceAccount"},
		{"Job as the controller", jobIn(releaseNS, func(j *batchv1.Job) {
			j.Spec.Template.Spec.ServiceAccountName = controllerSA
		}), "the workload must run as a per-run ServiceAccount"},
		{"Job with another image", jobIn(releaseNS, func(j *batchv1.Job) {
			j.Spec.Template.Spec.Containers[0].Image = "docker.io/library/busybox:1.36"
		}), "the workload may only run the chart images"},
		{"Job without the gate", jobIn(releaseNS, func(j *batchv1.Job) {
			j.Spec.Template.Spec.InitContainers = nil
		}), "a Job must run exactly its action's containers"},
		{"Job whose gate reads another action's policy", jobIn(releaseNS, func(j *batchv1.Job) {
			gate := &j.Spec.Template.Spec.InitContainers[0]
			gate.Args = append([]string{}, gate.Args...)
			gate.Args[len(gate.Args)-2] = "--data=/policies/verify-deployment.rego"
		}), "a Job must run exactly its action's containers"},
		{"Job whose gate runs from the kubectl image", jobIn(releaseNS, func(j *batchv1.Job) {
			j.Spec.Template.Spec.InitContainers[0].Image = j.Spec.Template.Spec.Containers[0].Image
		}), "a Job must start with the policy-gate init container"},
		{"Job whose gate is a native sidecar", jobIn(releaseNS, func(j *batchv1.Job) {
			j.Spec.Template.Spec.InitContainers[0].RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
		}), "an init container may not set restartPolicy"},
		// The three-request cluster-admin of a stolen token: the gate's exact init container, then an
		// execute step that patches something else.
		{"Job whose execute args differ from what its gate saw", jobIn(releaseNS, func(j *batchv1.Job) {
			c := &j.Spec.Template.Spec.Containers[0]
			c.Args = []string{"patch", "deployment/argocd-server", "--namespace=argocd", "--type=merge",
				`--patch={"spec":{"template":{"spec":{"serviceAccountName":"argocd-application-controller"}}}}`}
		}), "a Job must run exactly its action's containers"},
		{"Job with its dry-run step dropped", jobIn(releaseNS, func(j *batchv1.Job) {
			j.Spec.Template.Spec.InitContainers = j.Spec.Template.Spec.InitContainers[:2]
		}), "a Job must run exactly its action's containers"},
		{"Job asking for 10Ti of memory and 1000 CPUs", jobIn(releaseNS, func(j *batchv1.Job) {
			huge := corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("10Ti"), corev1.ResourceCPU: resource.MustParse("1000")}
			j.Spec.Template.Spec.Containers[0].Resources.Requests, j.Spec.Template.Spec.Containers[0].Resources.Limits = huge, huge
		}), "asks for exactly the release's resources"},
		{"Job whose pods carry an AppArmor annotation", jobIn(releaseNS, func(j *batchv1.Job) {
			j.Spec.Template.Annotations = map[string]string{"container.apparmor.security.beta.kubernetes.io/execute": "unconfined"}
		}), "carry only the run's labels"},
		{"Job whose pods carry another label", jobIn(releaseNS, func(j *batchv1.Job) {
			j.Spec.Template.Labels["team"] = "payments"
		}), "carry only the run's labels"},
		{"Job whose containers all route through a proxy", jobIn(releaseNS, func(j *batchv1.Job) {
			for _, cs := range [][]corev1.Container{j.Spec.Template.Spec.InitContainers, j.Spec.Template.Spec.Containers} {
				for i := range cs {
					cs[i].Env = append(cs[i].Env, corev1.EnvVar{Name: "HTTPS_PROXY", Value: "http://collector.example:8080"})
				}
			}
		}), "exactly its action's environment variables"},
		{"Job whose gate decides for another action", jobIn(releaseNS, func(j *batchv1.Job) {
			for _, cs := range [][]corev1.Container{j.Spec.Template.Spec.InitContainers, j.Spec.Template.Spec.Containers} {
				for i := range cs {
					for k := range cs[i].Env {
						if cs[i].Env[k].Name == "KUBERNAUT_ACTION" {
							cs[i].Env[k].Value = "verify-deployment"
						}
					}
				}
			}
		}), "exactly its action's environment variables"},
		{"Job with another DNS policy", jobIn(releaseNS, func(j *batchv1.Job) {
			j.Spec.Template.Spec.DNSPolicy = corev1.DNSDefault
		}), "default scheduler and DNS policy"},
		{"Job with 500 pods at once", jobIn(releaseNS, func(j *batchv1.Job) {
			j.Spec.Parallelism, j.Spec.Completions = ptr.To[int32](500), ptr.To[int32](500)
		}), "a Job runs one pod once"},
		{"Job retried five times", jobIn(releaseNS, func(j *batchv1.Job) {
			j.Spec.BackoffLimit = ptr.To[int32](5)
		}), "a Job runs one pod once"},
		{"Job that leaves the run budget's window at once", jobIn(releaseNS, func(j *batchv1.Job) {
			j.Spec.TTLSecondsAfterFinished = ptr.To[int32](0)
		}), "kept for the run budget's window"},
		{"Job that tolerates everything", jobIn(releaseNS, func(j *batchv1.Job) {
			j.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
		}), "a run's pod has no tolerations"},
		{"Job with another scheduler", jobIn(releaseNS, func(j *batchv1.Job) {
			j.Spec.Template.Spec.SchedulerName = "my-scheduler"
		}), "default scheduler"},
		{"Job running as root", jobIn(releaseNS, func(j *batchv1.Job) {
			j.Spec.Template.Spec.SecurityContext.RunAsUser = ptr.To[int64](0)
			j.Spec.Template.Spec.SecurityContext.RunAsNonRoot = ptr.To(false)
		}), "exactly the chart's restricted security settings"},
		{"Job with an Unconfined seccomp profile", jobIn(releaseNS, func(j *batchv1.Job) {
			j.Spec.Template.Spec.Containers[0].SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
		}), "exactly the chart's restricted security settings"},
		{"Job with SELinux spc_t", jobIn(releaseNS, func(j *batchv1.Job) {
			j.Spec.Template.Spec.SecurityContext.SELinuxOptions = &corev1.SELinuxOptions{Type: "spc_t"}
		}), "exactly the chart's restricted security settings"},
		{"Job with sysctls", jobIn(releaseNS, func(j *batchv1.Job) {
			j.Spec.Template.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}}
		}), "exactly the chart's restricted security settings"},
		{"Job with an Unconfined AppArmor profile", jobIn(releaseNS, func(j *batchv1.Job) {
			j.Spec.Template.Spec.InitContainers[1].SecurityContext.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
		}), "exactly the chart's restricted security settings"},
		{"Job on the host network", jobIn(releaseNS, func(j *batchv1.Job) {
			j.Spec.Template.Spec.HostNetwork = true
		}), "the pod may not set host namespaces"},
		{"Job whose pods escape the action NetworkPolicy", jobIn(releaseNS, func(j *batchv1.Job) {
			j.Spec.Template.Labels["app.kubernetes.io/component"] = "controller"
		}), "the workload's pods must carry the action pods' labels unchanged"},
		// The gate decided on its environment; a later container that sees other values would run
		// what the gate never saw.
		{"Job whose execute step sees other parameters than the gate", jobIn(releaseNS, func(j *batchv1.Job) {
			c := &j.Spec.Template.Spec.Containers[0]
			c.Env = append([]corev1.EnvVar{}, c.Env...)
			for i := range c.Env {
				if c.Env[i].Name == "KUBERNAUT_PARAM_replicas" {
					c.Env[i].Value = "0"
				}
			}
		}), "every container must see the gate's environment"},
		{"TaskRun with an inline taskSpec", func() error {
			tr := taskRun(action, "esc", run.ServiceAccount, map[string]any{"taskSpec": map[string]any{"steps": []any{map[string]any{"name": "x", "image": "docker.io/library/busybox:1.36"}}}})
			unstructured.RemoveNestedField(tr.Object, "spec", "taskRef")
			_, err := dyn.Resource(taskRuns).Namespace(releaseNS).Create(ctx, tr, dryRun)
			return err
		}, "a TaskRun must reference the chart's Task"},
		{"TaskRun from a bundle resolver", func() error {
			tr := taskRun(action, "esc", run.ServiceAccount, map[string]any{"taskRef": map[string]any{"resolver": "bundles", "params": []any{map[string]any{"name": "bundle", "value": "evil.example/t:1"}}}})
			_, err := dyn.Resource(taskRuns).Namespace(releaseNS).Create(ctx, tr, dryRun)
			return err
		}, "a TaskRun must reference the chart's Task"},
		{"TaskRun whose taskRef has an apiVersion (a Custom Task: the chart's Task never runs)", func() error {
			tr := taskRun(action, "esc", run.ServiceAccount, map[string]any{"taskRef": map[string]any{"name": "kubernaut-" + action, "kind": "Task", "apiVersion": "example.dev/v1"}})
			_, err := dyn.Resource(taskRuns).Namespace(releaseNS).Create(ctx, tr, dryRun)
			return err
		}, "a TaskRun must reference the chart's Task"},
		{"PipelineRun whose task has an apiVersion", func() error {
			pr := pipelineRun(action, "esc", map[string]any{"pipelineSpec": map[string]any{"tasks": []any{map[string]any{"name": "scale",
				"taskRef": map[string]any{"name": "kubernaut-" + action, "kind": "Task", "apiVersion": "example.dev/v1"}}}},
				"taskRunTemplate": map[string]any{"serviceAccountName": run.ServiceAccount}})
			_, err := dyn.Resource(pipelineRuns).Namespace(releaseNS).Create(ctx, pr, dryRun)
			return err
		}, "a PipelineRun must carry an inline pipelineSpec"},
		{"run ServiceAccount naming another team's registry credentials", func() error {
			_, err := controller.CoreV1().ServiceAccounts(releaseNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: runPrefix + action + ".esc-pull",
				Labels: runLabels("esc-pull", action)}, ImagePullSecrets: []corev1.LocalObjectReference{{Name: "other-team-registry"}}}, dryRun)
			return err
		}, "a per-run ServiceAccount names no secrets"},
		{"run ServiceAccount naming a Secret", func() error {
			_, err := controller.CoreV1().ServiceAccounts(releaseNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: runPrefix + action + ".esc-secret",
				Labels: runLabels("esc-secret", action)}, Secrets: []corev1.ObjectReference{{Name: "controller-token"}}}, dryRun)
			return err
		}, "a per-run ServiceAccount names no secrets"},
		{"TaskRun with a podTemplate", func() error {
			tr := taskRun(action, "esc", run.ServiceAccount, map[string]any{"podTemplate": map[string]any{"hostNetwork": true}})
			_, err := dyn.Resource(taskRuns).Namespace(releaseNS).Create(ctx, tr, dryRun)
			return err
		}, "a TaskRun may only set params, serviceAccountName, taskRef, timeout and status, not podTemplate"},
		{"TaskRun as the controller", func() error {
			_, err := dyn.Resource(taskRuns).Namespace(releaseNS).Create(ctx, taskRun(action, "esc", controllerSA, nil), dryRun)
			return err
		}, "the workload must run as a per-run ServiceAccount"},
		{"TaskRun in kube-system", func() error {
			_, err := dyn.Resource(taskRuns).Namespace("kube-system").Create(ctx, taskRun(action, "esc", "clusterrole-aggregation-controller", nil), dryRun)
			return err
		}, ""},
		{"PipelineRun of a Pipeline object", func() error {
			pr := pipelineRun(action, "esc", map[string]any{"pipelineRef": map[string]any{"name": "anything"}, "taskRunTemplate": map[string]any{"serviceAccountName": run.ServiceAccount}})
			_, err := dyn.Resource(pipelineRuns).Namespace(releaseNS).Create(ctx, pr, dryRun)
			return err
		}, "a PipelineRun must carry an inline pipelineSpec"},
		{"PipelineRun whose task runs as another ServiceAccount", func() error {
			pr := pipelineRun(action, "esc", map[string]any{"pipelineSpec": map[string]any{"tasks": []any{map[string]any{"name": "scale",
				"taskRef": map[string]any{"name": "kubernaut-" + action}}}}, "taskRunTemplate": map[string]any{"serviceAccountName": run.ServiceAccount},
				"taskRunSpecs": []any{map[string]any{"pipelineTaskName": "scale", "serviceAccountName": "default"}}})
			_, err := dyn.Resource(pipelineRuns).Namespace(releaseNS).Create(ctx, pr, dryRun)
			return err
		}, "the workload must run as a per-run ServiceAccount"},
		{"PipelineRun with an inline Task", func() error {
			pr := pipelineRun(action, "esc", map[string]any{"pipelineSpec": map[string]any{"tasks": []any{map[string]any{"name": "x",
				"taskSpec": map[string]any{"steps": []any{map[string]any{"name": "x", "image": "docker.io/library/busybox:1.36"}}}}}},
				"taskRunTemplate": map[string]any{"serviceAccountName": run.ServiceAccount}})
			_, err := dyn.Resource(pipelineRuns).Namespace(releaseNS).Create(ctx, pr, dryRun)
			return err
		}, "a PipelineRun must carry an inline pipelineSpec"},
		{"edit the policy ConfigMap", func() error {
			_, err := controller.CoreV1().ConfigMaps(releaseNS).Patch(ctx, release+"-policies", "application/merge-patch+json", []byte(`{"data":{"_config.json":"{}"}}`), metav1.PatchOptions{})
			return err
		}, ""},
		{"delete the workloads admission policy binding", func() error {
			return controller.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Delete(ctx, release+"-controller-workloads", metav1.DeleteOptions{})
		}, ""},
		{"delete a system RoleBinding", func() error {
			return controller.RbacV1().RoleBindings("kube-system").Delete(ctx, "system:controller:bootstrap-signer", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		}, "the controller may only bind the per-action ClusterRoles"},
		{"delete the controller's own RoleBinding", func() error {
			return controller.RbacV1().RoleBindings(releaseNS).Delete(ctx, controllerSA, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		}, "the controller may only bind the per-action ClusterRoles"},
		{"delete the controller's own ClusterRoleBinding", func() error {
			return controller.RbacV1().ClusterRoleBindings().Delete(ctx, controllerSA, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		}, "the controller may only bind the per-action ClusterRoles"},
		{"delete the controller's ServiceAccount", func() error {
			return controller.CoreV1().ServiceAccounts(releaseNS).Delete(ctx, controllerSA, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		}, "the controller may only create, change or delete per-run ServiceAccounts"},
	}
	for _, ns := range protectedNamespaces {
		ways = append(ways, struct {
			name   string
			try    func() error
			policy string
		}{"bind " + action + " in " + ns, func() error {
			_, err := provision(ctx, controller, testenv.Action(t, action), "esc-"+ns, ns)
			return err
		}, "no per-run binding in protected namespace " + ns})
	}
	for _, w := range ways {
		t.Run(w.name, func(t *testing.T) {
			err := w.try()
			tb.add("controller", w.name, "refused", map[bool]string{true: "allowed", false: "refused"}[err == nil])
			if w.policy == "" {
				require.True(t, apierrors.IsForbidden(err), "%v", err)
				require.NotContains(t, err.Error(), "ValidatingAdmissionPolicy", "RBAC, not admission, refuses this")
				return
			}
			refusedByPolicy(t, err, w.policy)
		})
	}
	// Leftover ServiceAccounts of the refused protected-namespace bindings.
	for _, ns := range protectedNamespaces {
		_ = controller.CoreV1().ServiceAccounts(releaseNS).Delete(ctx, runPrefix+"esc-"+ns, metav1.DeleteOptions{})
	}

	// The legitimate counterparts pass the same policies.
	legit := []struct {
		name string
		try  func() error
	}{
		{"Job of the action's Task as the run", jobIn(releaseNS, func(*batchv1.Job) {})},
		{"TaskRun of the chart Task as the run", func() error {
			_, err := dyn.Resource(taskRuns).Namespace(releaseNS).Create(ctx, taskRun(action, "esc", run.ServiceAccount, nil), dryRun)
			return err
		}},
		{"PipelineRun of chart Tasks as the run", func() error {
			pr := pipelineRun(action, "esc", map[string]any{"pipelineSpec": map[string]any{"tasks": []any{map[string]any{"name": "scale",
				"taskRef": map[string]any{"name": "kubernaut-" + action}}}}, "taskRunTemplate": map[string]any{"serviceAccountName": run.ServiceAccount}})
			_, err := dyn.Resource(pipelineRuns).Namespace(releaseNS).Create(ctx, pr, dryRun)
			return err
		}},
		{"bind the action in the target namespace", func() error {
			other, err := provision(ctx, controller, testenv.Action(t, action), "esc-ok", target)
			if err == nil {
				err = other.remove(ctx, controller)
			}
			return err
		}},
	}
	for _, l := range legit {
		t.Run(l.name, func(t *testing.T) {
			err := l.try()
			tb.add("controller", l.name, "allowed", map[bool]string{true: "allowed", false: "refused"}[err == nil])
			require.NoError(t, err)
		})
	}
	tb.print("SUBJECT", "REQUEST", "WANT", "GOT")
}

// Records survive a stolen controller token: it cannot delete a run's TaskRun or Job before the run
// has finished; once finished, the controller's clean-up may.
func TestControllerDeletesOnlyFinishedRuns(t *testing.T) {
	installed(t)
	ctx := context.Background()
	dyn := controllerDynamic(t)
	for _, tc := range []struct {
		name     string
		status   map[string]any
		finished bool
	}{
		{"running", map[string]any{"podName": "p", "conditions": []any{map[string]any{"type": "Succeeded", "status": "Unknown", "reason": "Running"}}}, false},
		{"never started", nil, false},
		{"succeeded", map[string]any{"podName": "p", "conditions": []any{map[string]any{"type": "Succeeded", "status": "True", "reason": "Succeeded"}}}, true},
		{"failed", map[string]any{"podName": "p", "conditions": []any{map[string]any{"type": "Succeeded", "status": "False", "reason": "Failed"}}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "records-" + strings.ReplaceAll(tc.name, " ", "-")
			tr, err := cluster.Dynamic.Resource(taskRuns).Namespace(releaseNS).Create(ctx, taskRun("restart-pod", id, runPrefix+"restart-pod."+id, nil), metav1.CreateOptions{})
			require.NoError(t, err)
			t.Cleanup(func() {
				_ = cluster.Dynamic.Resource(taskRuns).Namespace(releaseNS).Delete(context.Background(), tr.GetName(), metav1.DeleteOptions{})
			})
			if tc.status != nil {
				tr.Object["status"] = tc.status
				_, err = cluster.Dynamic.Resource(taskRuns).Namespace(releaseNS).UpdateStatus(ctx, tr, metav1.UpdateOptions{})
				require.NoError(t, err)
			}
			err = dyn.Resource(taskRuns).Namespace(releaseNS).Delete(ctx, tr.GetName(), metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
			if tc.finished {
				require.NoError(t, err)
			} else {
				refusedByPolicy(t, err, "the controller deletes only finished runs")
			}
		})
	}
}

// A run in flight is not the controller's to stop or reshape: no cancelling a TaskRun, no suspending a
// Job; its metadata (the run-RBAC finalizer) may change.
func TestControllerCannotStopRunsInFlight(t *testing.T) {
	installed(t)
	ctx := context.Background()
	controller := controllerClient(t)
	dyn := controllerDynamic(t)
	dry := metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}}

	tr, err := cluster.Dynamic.Resource(taskRuns).Namespace(releaseNS).Create(ctx, taskRun("restart-pod", "inflight", runPrefix+"restart-pod.inflight", nil), metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = cluster.Dynamic.Resource(taskRuns).Namespace(releaseNS).Delete(context.Background(), tr.GetName(), metav1.DeleteOptions{})
	})
	_, err = dyn.Resource(taskRuns).Namespace(releaseNS).Patch(ctx, tr.GetName(), types.MergePatchType, []byte(`{"spec":{"status":"TaskRunCancelled"}}`), dry)
	refusedByPolicy(t, err, "may not change a run's spec once created")
	_, err = dyn.Resource(taskRuns).Namespace(releaseNS).Patch(ctx, tr.GetName(), types.MergePatchType, []byte(`{"metadata":{"annotations":{"note":"seen"}}}`), dry)
	require.NoError(t, err, "the control: metadata may change")
	// A started TaskRun cannot be put back to pending either.
	_, err = dyn.Resource(taskRuns).Namespace(releaseNS).Patch(ctx, tr.GetName(), types.MergePatchType, []byte(`{"spec":{"status":"TaskRunPending"}}`), dry)
	refusedByPolicy(t, err, "may not change a run's spec once created")

	// A TaskRun created pending (as the controller creates one, until its ServiceAccount exists) may be
	// started, and only that: not cancelled, not started with other params.
	pending, err := cluster.Dynamic.Resource(taskRuns).Namespace(releaseNS).Create(ctx, taskRun("restart-pod", "pending", runPrefix+"restart-pod.pending", map[string]any{"status": "TaskRunPending"}), metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = cluster.Dynamic.Resource(taskRuns).Namespace(releaseNS).Delete(context.Background(), pending.GetName(), metav1.DeleteOptions{})
	})
	_, err = dyn.Resource(taskRuns).Namespace(releaseNS).Patch(ctx, pending.GetName(), types.MergePatchType, []byte(`{"spec":{"status":"TaskRunCancelled"}}`), dry)
	refusedByPolicy(t, err, "may not change a run's spec once created")
	_, err = dyn.Resource(taskRuns).Namespace(releaseNS).Patch(ctx, pending.GetName(), types.MergePatchType, []byte(`{"spec":{"status":null,"timeout":"99h"}}`), dry)
	refusedByPolicy(t, err, "may not change a run's spec once created")
	_, err = dyn.Resource(taskRuns).Namespace(releaseNS).Patch(ctx, pending.GetName(), types.MergePatchType, []byte(`{"spec":{"status":null}}`), dry)
	require.NoError(t, err, "the control: a pending TaskRun may be started")

	job := runJob(t, "restart-pod", "inflight-job", runPrefix+"restart-pod.inflight-job")
	created, err := cluster.Client.BatchV1().Jobs(releaseNS).Create(ctx, job, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = cluster.Client.BatchV1().Jobs(releaseNS).Delete(context.Background(), created.Name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
	})
	// The controller updates Jobs (it removes the run finalizer); it holds no patch on them.
	dryUpdate := metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}}
	suspended := created.DeepCopy()
	suspended.Spec.Suspend = ptr.To(true)
	_, err = controller.BatchV1().Jobs(releaseNS).Update(ctx, suspended, dryUpdate)
	refusedByPolicy(t, err, "may not change a run's spec once created")
	annotated := created.DeepCopy()
	annotated.Annotations = map[string]string{"note": "seen"}
	_, err = controller.BatchV1().Jobs(releaseNS).Update(ctx, annotated, dryUpdate)
	require.NoError(t, err, "the control: metadata may change")
}

// Nobody the chart creates can change what guards the runs: the policy ConfigMap, the admission
// policies and their bindings, the action ClusterRoles, the controller's RBAC. Asked of the authorizer
// for the controller and for a per-run ServiceAccount of every action, bound as a run is. Where RBAC
// lets the controller delete a binding or ServiceAccount, the admission policy refuses it (shown above).
func TestNobodyTheChartCreatesCanChangeTheGuards(t *testing.T) {
	installed(t)
	ctx := context.Background()
	target := namespace(t, "guards-target", nil)
	controller := controllerClient(t)
	subjects := []string{controllerSA}
	for _, a := range testenv.Catalogue(t).Actions {
		run, err := provision(ctx, controller, a, "guard-"+a.Name, target)
		require.NoError(t, err)
		t.Cleanup(func() { _ = run.remove(context.Background(), controller) })
		awaitAuthorized(t, releaseNS, run.ServiceAccount, a.PolicyRules(), run.bindingNamespace())
		subjects = append(subjects, run.ServiceAccount)
	}
	tb := &table{t: t}
	for _, sa := range subjects {
		requireCannotChangeGuards(t, tb, releaseNS, release+"-kubernaut-execution", sa, sa == controllerSA)
	}
	tb.print("SUBJECT", "REQUEST", "WANT", "AUTHORIZER")
}

// guard is an object that guards the runs of a release (fullname, in namespace ns).
type guard struct{ group, resource, namespace, name string }

func guardsOf(ns, fullname string) []guard {
	return []guard{
		{"", "configmaps", ns, fullname + "-policies"},
		{"admissionregistration.k8s.io", "validatingadmissionpolicies", "", fullname + "-controller-workloads"},
		{"admissionregistration.k8s.io", "validatingadmissionpolicybindings", "", fullname + "-controller-bindings"},
		{"rbac.authorization.k8s.io", "clusterroles", "", fullname + "-action-drain-node"},
		{"rbac.authorization.k8s.io", "clusterroles", "", fullname + "-controller"},
		{"rbac.authorization.k8s.io", "clusterrolebindings", "", fullname + "-controller"},
		{"rbac.authorization.k8s.io", "roles", ns, fullname + "-controller"},
		{"rbac.authorization.k8s.io", "rolebindings", ns, fullname + "-controller"},
	}
}

// requireCannotChangeGuards asks the authorizer whether ServiceAccount sa of namespace ns may change
// any guard of the release. Deleting bindings is RBAC-allowed to the controller by design (its runs'
// bindings); the bindings admission policy refuses every other one, its own included
// (TestStolenControllerTokenCannotEscalate), so those rows say so.
func requireCannotChangeGuards(t *testing.T, tb *table, ns, fullname, sa string, isController bool) {
	t.Helper()
	for _, g := range guardsOf(ns, fullname) {
		// bind is not here: the controller binds the action roles by design, which changes none of them.
		for _, verb := range []string{"update", "patch", "delete", "escalate"} {
			if verb == "escalate" && !strings.HasSuffix(g.resource, "roles") {
				continue
			}
			ok, err := testenv.ServiceAccountAllowed(context.Background(), cluster.Client, ns, sa, authorizationv1.ResourceAttributes{
				Namespace: g.namespace, Verb: verb, Group: g.group, Resource: g.resource, Name: g.name})
			require.NoError(t, err)
			want := isController && verb == "delete" && g.group == rbacv1.GroupName && strings.HasSuffix(g.resource, "bindings")
			row := fmt.Sprintf("%s %s %s", verb, g.resource, g.name)
			if ok {
				tb.add(sa, row, "admission refuses", "allowed by RBAC")
			} else {
				tb.add(sa, row, "denied", "denied")
			}
			require.Equal(t, want, ok, "%s may %s", sa, row)
		}
	}
}

// The workloads policy also covers Pods, which the chart's RBAC never lets the controller create. Should
// an operator grant it, the controller still runs only the chart's images through it. Shown with a
// temporary grant, removed afterwards; the pod of a legitimate Job passes the same policy.
func TestWorkloadsPolicyCoversPods(t *testing.T) {
	installed(t)
	ctx := context.Background()
	grant := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "e2e-controller-pods", Namespace: releaseNS},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create"}}}}
	_, err := cluster.Client.RbacV1().Roles(releaseNS).Create(ctx, grant, metav1.CreateOptions{})
	require.NoError(t, err)
	binding := &rbacv1.RoleBinding{ObjectMeta: grant.ObjectMeta,
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: grant.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: controllerSA, Namespace: releaseNS}}}
	_, err = cluster.Client.RbacV1().RoleBindings(releaseNS).Create(ctx, binding, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = cluster.Client.RbacV1().RoleBindings(releaseNS).Delete(context.Background(), grant.Name, metav1.DeleteOptions{})
		_ = cluster.Client.RbacV1().Roles(releaseNS).Delete(context.Background(), grant.Name, metav1.DeleteOptions{})
	})
	require.NoError(t, testenv.AwaitServiceAccountAllowed(ctx, cluster.Client, releaseNS, controllerSA,
		authorizationv1.ResourceAttributes{Namespace: releaseNS, Verb: "create", Resource: "pods"}))

	const action = "scale-deployment"
	controller := controllerClient(t)
	run, err := provision(ctx, controller, testenv.Action(t, action), "pods", namespace(t, "pods-target", nil))
	require.NoError(t, err)
	t.Cleanup(func() { _ = run.remove(context.Background(), controller) })
	job := runJob(t, action, "pods", run.ServiceAccount)
	podOf := func(image string) *corev1.Pod {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: runPrefix + "pods", Labels: job.Spec.Template.Labels}, Spec: *job.Spec.Template.Spec.DeepCopy()}
		if image != "" {
			pod.Spec.Containers[0].Image = image
		}
		return pod
	}
	_, err = controller.CoreV1().Pods(releaseNS).Create(ctx, podOf(""), dryRun)
	require.NoError(t, err, "the pod of a legitimate Job")
	_, err = controller.CoreV1().Pods(releaseNS).Create(ctx, podOf("docker.io/library/busybox:1.36"), dryRun)
	refusedByPolicy(t, err, "the workload may only run the chart images")
}
