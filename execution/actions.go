package execution

import (
	"fmt"
	"slices"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/execution/steps"
)

// Action is everything a controller looks up for one catalogue action under this release.
type Action struct {
	catalogue.Action
	// Task is the Tekton Task running it; ClusterRole the role a run's ServiceAccount is bound to.
	Task, ClusterRole string
	// PolicyKey is the key of its policy in the policy ConfigMap.
	PolicyKey string
	// Steps are its step names in run order (no dry-run step for a read-only action).
	Steps []string
}

// Lookup returns an action of cat under this contract, or an error naming the known actions.
func (c *Contract) Lookup(cat *catalogue.Catalogue, name string) (Action, error) {
	a, ok := cat.Action(name)
	if !ok {
		var names []string
		for _, a := range cat.Actions {
			names = append(names, a.Name)
		}
		slices.Sort(names)
		return Action{}, fmt.Errorf("unknown action %q (catalogue has %v)", name, names)
	}
	var names []string
	for _, s := range steps.Build(a, func(string) string { return "" }) {
		names = append(names, s.Name)
	}
	return Action{Action: a, Task: c.Task(a.Name), ClusterRole: c.ClusterRole(a.Name), PolicyKey: steps.PolicyKey(a.Name), Steps: names}, nil
}

// Cluster reports whether the action is bound cluster-wide (ClusterRoleBinding) rather than in its
// target namespace (RoleBinding).
func (a Action) Cluster() bool { return a.Scope == catalogue.Cluster }
