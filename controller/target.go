package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/internal/policy"
)

// UnknownEnvironment is a target's environment when its namespace (or node) has no valid
// kubernaut.ai/environment label.
const UnknownEnvironment = "unknown"

// environments a target may be in: the gate's list.
var environments = policy.Environments

// TargetError is a run's target that cannot be read because it does not exist: the run is refused.
type TargetError struct{ msg string }

func (e *TargetError) Error() string { return e.msg }

// TargetContext reads the gate's target context of one run from the live objects, never from the
// request: the environment from the target namespace's label (a node's own for a cluster-scoped
// action), the target object's labels, and the catalogue's context fields. A caller cannot leave a
// node's control-plane role out, nor claim staging for production.
func TargetContext(ctx context.Context, kube kubernetes.Interface, c *execution.Contract, a catalogue.Action, namespace string, params map[string]string) (string, error) {
	target := map[string]any{"labels": map[string]string{}}
	envOf := func(labels map[string]string) string {
		if e := labels[c.Targets.EnvironmentLabel]; slices.Contains(environments, e) {
			return e
		}
		return UnknownEnvironment
	}
	if a.Scope == catalogue.Namespaced {
		ns, err := kube.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
		if err != nil {
			return "", notFound(err, "namespace %s", namespace)
		}
		target["environment"] = envOf(ns.Labels)
	}
	t, ok := a.Target()
	if !ok || !a.ReadsTarget() {
		if _, set := target["environment"]; !set {
			target["environment"] = UnknownEnvironment
		}
		return marshal(target)
	}
	name := params[t.Parameter]
	var meta metav1.ObjectMeta
	var obj any
	switch t.Group + "/" + t.Resource {
	case "/nodes":
		n, err := kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", notFound(err, "node %s", name)
		}
		meta, obj = n.ObjectMeta, n
		target["environment"] = envOf(n.Labels)
	case "/pods":
		p, err := kube.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", notFound(err, "pod %s/%s", namespace, name)
		}
		meta, obj = p.ObjectMeta, p
	case "apps/deployments":
		d, err := kube.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", notFound(err, "deployment %s/%s", namespace, name)
		}
		meta, obj = d.ObjectMeta, d
	default:
		return "", fmt.Errorf("action %s: the controller cannot read its target's kind %s", a.Name, t.Kind)
	}
	if meta.Labels != nil {
		target["labels"] = meta.Labels
	}
	for _, f := range a.Context {
		v, err := contextField(f.Name, obj)
		if err != nil {
			return "", fmt.Errorf("action %s: %w", a.Name, err)
		}
		target[f.Name] = v
	}
	return marshal(target)
}

// contextField reads one catalogue context field from the target object. A field the controller does
// not know fails the run closed, naming it: a new context field needs code here.
func contextField(name string, obj any) (any, error) {
	switch name {
	case "ownerKind":
		if m, ok := obj.(metav1.Object); ok {
			for _, o := range m.GetOwnerReferences() {
				if o.Controller != nil && *o.Controller {
					return o.Kind, nil
				}
			}
			return "", nil
		}
	case "currentReplicas":
		if d, ok := obj.(*appsv1.Deployment); ok {
			if d.Spec.Replicas == nil {
				return 1, nil // the API server's default
			}
			return *d.Spec.Replicas, nil
		}
	}
	return nil, fmt.Errorf("context field %s: the controller does not read it from a %T", name, obj)
}

func notFound(err error, format string, args ...any) error {
	if apierrors.IsNotFound(err) {
		return &TargetError{msg: fmt.Sprintf("target "+format+" not found", args...)}
	}
	return fmt.Errorf("read target "+format+": %w", append(args, err)...)
}

func marshal(v any) (string, error) {
	data, err := json.Marshal(v)
	return string(data), err
}
