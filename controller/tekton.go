package controller

import (
	"context"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"

	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/execution/runrbac"
	"github.com/jordigilh/kubernaut-execution/execution/steps"
)

// Tekton's TaskRun, read and written as unstructured objects: the controller needs its name, params,
// status and steps, not the Tekton module's dependency tree.
var (
	taskRunGVK = schema.GroupVersionKind{Group: "tekton.dev", Version: "v1", Kind: "TaskRun"}
	taskRunGVR = schema.GroupVersionResource{Group: "tekton.dev", Version: "v1", Resource: "taskruns"}
)

// TektonInstalled reports whether the API server serves tekton.dev/v1 TaskRuns.
func TektonInstalled(d discovery.DiscoveryInterface) (bool, error) {
	list, err := d.ServerResourcesForGroupVersion(taskRunGVK.GroupVersion().String())
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == taskRunGVR.Resource }), nil
}

// TaskRun is the run's TaskRun of the action's chart Task: every parameter, the target context and
// where the approval-gate step finds the ActionRun and its ActionApproval as params, the run's ServiceAccount, the run's labels, and the ActionRun's annotation.
func TaskRun(c *execution.Contract, action, name, serviceAccount string, params map[string]string, target string, ref RunRef, timeout time.Duration, annotation string) *unstructured.Unstructured {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	list := []any{}
	for _, k := range keys {
		list = append(list, map[string]any{"name": k, "value": params[k]})
	}
	list = append(list, map[string]any{"name": steps.TargetParam, "value": target},
		map[string]any{"name": steps.RunParam, "value": ref.Run}, map[string]any{"name": steps.ApprovalParam, "value": ref.Approval})
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": taskRunGVK.GroupVersion().String(), "kind": taskRunGVK.Kind,
		"metadata": map[string]any{
			"name": name, "namespace": c.Namespace,
			"labels":      map[string]any{c.Labels.Run: name, c.Labels.Action: action},
			"annotations": map[string]any{RunAnnotation: annotation},
		},
		"spec": map[string]any{
			"taskRef":            map[string]any{"name": c.Task(action)},
			"serviceAccountName": serviceAccount,
			"params":             list,
			"timeout":            timeout.String(),
			// Pending until its ServiceAccount exists: Tekton fails a TaskRun whose pod it cannot create.
			"status": taskRunPending,
		},
	}}
}

// taskRunPending is Tekton's spec.status that keeps a TaskRun from starting.
const taskRunPending = "TaskRunPending"

// startTaskRun removes a pending TaskRun's spec.status, once its identity exists: the one change of a
// run's spec the workloads admission policy allows. A TaskRun already started is left alone.
func startTaskRun(ctx context.Context, dyn dynamic.Interface, namespace, name string) error {
	trs := dyn.Resource(taskRunGVR).Namespace(namespace)
	tr, err := trs.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if status, _, _ := unstructured.NestedString(tr.Object, "spec", "status"); status != taskRunPending {
		return nil
	}
	_, err = trs.Patch(ctx, name, types.MergePatchType, []byte(`{"spec":{"status":null}}`), metav1.PatchOptions{})
	return err
}

// taskRunOutcome reads a TaskRun: whether it finished, whether it succeeded, its steps' exit codes and
// its pod, and the reason when it failed.
type taskRunOutcome struct {
	done, succeeded bool
	pod, message    string
	steps           []stepExit
}

type stepExit struct {
	name string
	code *int32
}

func readTaskRun(tr *unstructured.Unstructured) taskRunOutcome {
	var o taskRunOutcome
	conds, _, _ := unstructured.NestedSlice(tr.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] != "Succeeded" {
			continue
		}
		switch m["status"] {
		case "True":
			o.done, o.succeeded = true, true
		case "False":
			o.done = true
			o.message = fmt.Sprint(m["reason"], ": ", m["message"])
		}
	}
	o.pod, _, _ = unstructured.NestedString(tr.Object, "status", "podName")
	list, _, _ := unstructured.NestedSlice(tr.Object, "status", "steps")
	for _, s := range list {
		m, _ := s.(map[string]any)
		st := stepExit{}
		st.name, _, _ = unstructured.NestedString(m, "name")
		if code, ok, _ := unstructured.NestedInt64(m, "terminated", "exitCode"); ok {
			c := int32(code)
			st.code = &c
		}
		o.steps = append(o.steps, st)
	}
	return o
}

// runExists tells Sweep whether a per-run identity's run (a Job or a TaskRun) still exists.
func runExists(m *runrbac.Manager, dyn dynamic.Interface) runrbac.RunExists {
	jobs := runrbac.JobExists(m)
	return func(ctx context.Context, r runrbac.Run) (bool, error) {
		if r.Kind != taskRunGVK.Kind || r.APIVersion != taskRunGVK.GroupVersion().String() {
			return jobs(ctx, r)
		}
		tr, err := dyn.Resource(taskRunGVR).Namespace(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return tr.GetUID() == r.UID, nil
	}
}

func runOfTaskRun(tr *unstructured.Unstructured) runrbac.Run {
	return runrbac.Run{APIVersion: taskRunGVK.GroupVersion().String(), Kind: taskRunGVK.Kind, Namespace: tr.GetNamespace(), Name: tr.GetName(), UID: tr.GetUID()}
}
